"""OpenAI chat fine-tuning format: one ``{"messages": [...]}`` object per line (never a JSON
array), roles system/user/assistant. Check a file with ``openai_validate.py``."""

from __future__ import annotations

from generator.export.base import Exporter, Row, register


@register
class OpenAIChatExporter(Exporter):
    name = "openai-chat"
    target = "chat"
    description = 'OpenAI chat fine-tuning JSONL: {"messages": [{"role", "content"}, ...]}'

    def row(self, data: Row) -> Row:
        return {
            "messages": [{"role": m["role"], "content": m["content"]} for m in data["messages"]]
        }
