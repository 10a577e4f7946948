"""Preference-pair formats (records made by ``instructforge pairs``):

* ``trl-preference``: TRL's standard preference format with an explicit prompt,
  ``{"prompt": str, "chosen": str, "rejected": str}`` (DPOTrainer, RewardTrainer...); only a
  prompt of one user turn fits it (a system turn or earlier turns: use the conversational
  form, or the pair is excluded as lossy);
* ``trl-preference-chat``: TRL's conversational preference format,
  ``{"prompt": [{"role", "content"}...], "chosen": [{"role": "assistant", ...}],
  "rejected": [{"role": "assistant", ...}]}``; the trainer applies the chat template;
* ``openai-preference``: OpenAI's preference fine-tuning (DPO) format,
  ``{"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", ...}],
  "non_preferred_output": [{"role": "assistant", ...}]}``.

Both sides' provenance goes to the ``meta.jsonl`` sidecar with the gate's decision
(``export/pair_gate.py``), never into the data file.
"""

from __future__ import annotations

from typing import Any

from generator.export.base import Exporter, Row, register
from generator.export.convert import LossyConversion
from generator.record_kinds import PreferenceRecord


class _PairExporter(Exporter):
    target = "preference"
    reads = "pairs"

    def admit(self, record: Any) -> str | None:
        if not isinstance(record, PreferenceRecord):
            return f"{record.FORMAT} record: {self.name} exports preference pairs only"
        return None

    def _prompt(self, data: Row) -> list[Row]:
        turns = [{"role": m["role"], "content": m["content"]} for m in data["prompt"]]
        if self.system_prompt and turns[0]["role"] != "system":
            turns.insert(0, {"role": "system", "content": self.system_prompt})
        return turns


@register
class TRLPreferenceExporter(_PairExporter):
    name = "trl-preference"
    description = 'TRL preference (standard): {"prompt", "chosen", "rejected"} strings'

    def row(self, data: Row) -> Row:
        turns = self._prompt(data)
        if len(turns) != 1:
            raise LossyConversion(
                "preference -> trl-preference: the prompt has a system turn or earlier turns, "
                "which a plain-text prompt cannot hold (export it as trl-preference-chat)"
            )
        return {
            "prompt": turns[0]["content"],
            "chosen": data["chosen"],
            "rejected": data["rejected"],
        }


@register
class TRLPreferenceChatExporter(_PairExporter):
    name = "trl-preference-chat"
    description = (
        'TRL preference (conversational): {"prompt": [turns], "chosen": [..], "rejected": [..]}'
    )

    def row(self, data: Row) -> Row:
        return {
            "prompt": self._prompt(data),
            "chosen": [{"role": "assistant", "content": data["chosen"]}],
            "rejected": [{"role": "assistant", "content": data["rejected"]}],
        }


@register
class OpenAIPreferenceExporter(_PairExporter):
    name = "openai-preference"
    description = 'OpenAI preference fine-tuning: {"input": {"messages"}, "preferred_output", ...}'

    def row(self, data: Row) -> Row:
        return {
            "input": {"messages": self._prompt(data)},
            "preferred_output": [{"role": "assistant", "content": data["chosen"]}],
            "non_preferred_output": [{"role": "assistant", "content": data["rejected"]}],
        }
