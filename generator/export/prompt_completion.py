"""Prompt/completion JSONL: ``{"prompt", "completion"}`` (base-model and TRL style)."""

from __future__ import annotations

from generator.export.base import Exporter, Row, register


@register
class PromptCompletionExporter(Exporter):
    name = "prompt-completion"
    target = "completion"
    description = 'prompt/completion JSONL: {"prompt", "completion"}'

    def row(self, data: Row) -> Row:
        return {"prompt": data["prompt"], "completion": data["completion"]}
