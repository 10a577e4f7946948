"""TRL's conversational format, tool calling included: ``{"messages": [...]}`` plus, for a
conversation with tools, ``"tools": [...]`` (TRL's dataset formats guide; ``SFTTrainer``
passes ``tools`` to the tokenizer's chat template).

Differences from OpenAI's fine-tuning format, as transformers chat templates expect them:
a call's ``function.arguments`` is a JSON object (OpenAI: a string of JSON), an assistant
turn that only calls tools has ``content: ""``, and a ``tool`` turn carries the ``name`` of
the function it answers beside its ``tool_call_id``. With ``--keep-reasoning`` the final
assistant turn gets ``reasoning_content``. Hugging Face ``datasets`` (4.8 and later) loads
mixed argument objects as its ``Json`` type, so each call keeps exactly its own arguments.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from generator.export.base import Exporter, Row, register
from generator.export.convert import LossyConversion


def _call(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    args = fn.get("arguments")
    if isinstance(args, str):
        with contextlib.suppress(ValueError):  # else kept as written
            args = json.loads(args)
    out: dict[str, Any] = {
        "type": "function",
        "function": {"name": fn.get("name"), "arguments": args},
    }
    if call.get("id"):
        out["id"] = call["id"]
    return out


@register
class TRLChatExporter(Exporter):
    name = "trl-chat"
    target = "chat"
    description = 'TRL conversational JSONL: {"messages": [...], "tools"?: [...]} (tool calls)'
    reasoning = "field"  # reasoning_content on the final assistant turn

    def row(self, data: Row) -> Row:
        names: dict[str, str] = {}  # call id -> function name, for the tool turns
        messages = []
        for m in data["messages"]:
            if m.get("weight") is not None:
                raise LossyConversion(
                    "chat -> trl-chat: the conversation has turn weights, which TRL's format "
                    "cannot hold (export it as openai-chat)"
                )
            turn: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
            if m.get("tool_calls"):
                turn["tool_calls"] = [_call(c) for c in m["tool_calls"]]
                names.update(
                    (c["id"], c["function"]["name"]) for c in turn["tool_calls"] if "id" in c
                )
            if m["role"] == "tool":
                cid = m.get("tool_call_id")
                if cid in names:
                    turn["name"] = names[cid]
                if cid:
                    turn["tool_call_id"] = cid
            elif m.get("name"):
                turn["name"] = m["name"]
            if m.get("reasoning_content"):
                turn["reasoning_content"] = m["reasoning_content"]
            messages.append(turn)
        row: Row = {"messages": messages}
        if "tools" in data:
            row["tools"] = data["tools"]
        return row
