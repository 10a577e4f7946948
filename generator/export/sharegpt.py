"""ShareGPT JSONL: ``{"conversations": [{"from": "system|human|gpt", "value": ...}]}``, the
layout FastChat/Vicuna introduced and axolotl and LLaMA-Factory read."""

from __future__ import annotations

from generator.export.base import Exporter, Row, register
from generator.export.convert import plain_messages

ROLE_TO_FROM = {"system": "system", "user": "human", "assistant": "gpt"}
FROM_TO_ROLE = {v: k for k, v in ROLE_TO_FROM.items()}


@register
class ShareGPTExporter(Exporter):
    name = "sharegpt"
    target = "chat"
    description = 'ShareGPT JSONL: {"conversations": [{"from": "human|gpt|system", "value"}]}'

    def row(self, data: Row) -> Row:
        return {
            "conversations": [
                {"from": ROLE_TO_FROM[m["role"]], "value": m["content"]}
                for m in plain_messages(data, "sharegpt")
            ]
        }
