"""OpenAI chat fine-tuning format: one ``{"messages": [...]}`` object per line (never a JSON
array), roles system/user/assistant (and tool). A record's ``tools`` and its turns' ``name``,
``weight``, ``tool_calls`` and ``tool_call_id`` are written as they came in. Check a file
with ``openai_validate.py``."""

from __future__ import annotations

from generator.export.base import Exporter, Row, register


@register
class OpenAIChatExporter(Exporter):
    name = "openai-chat"
    target = "chat"
    description = 'OpenAI chat fine-tuning JSONL: {"messages": [{"role", "content"}, ...]}'
    reasoning = "none"  # the format has no reasoning field and rejects unknown keys

    def row(self, data: Row) -> Row:
        messages = []
        for m in data["messages"]:
            # content comes first and is present (null on a turn that only calls tools), as
            # OpenAI's format checker expects of every turn.
            turn = {"role": m["role"], "content": m.get("content") or None}
            turn.update((k, v) for k, v in m.items() if k not in turn)
            messages.append(turn)
        row: Row = {"messages": messages}
        if "tools" in data:
            row["tools"] = data["tools"]
        return row
