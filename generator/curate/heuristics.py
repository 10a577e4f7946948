"""Instruction and output heuristics.

Instruction checks follow Self-Instruct's filters (Wang et al. 2022, ``generate_instances``):
too short (<= 3 words) or too long (> 150 words), keywords a text model cannot act on
(images, audio...), starting with "Write a program", starting with punctuation or a
non-ASCII character. Each is configurable. Self-Instruct's list also has "file", "map" and
"go to"; they are left out by default because in company documents "file a claim" or
"go to the portal" are ordinary tasks, not requests for another modality.

The keyword and "Write a program" checks guard tasks a model invented on its own from a few
examples (Self-Instruct), which drift towards things a text model cannot do. They apply to
records generated with a template in ``self_instruct_templates`` (``meta.prompt.id``) only:
a question about a document ("How should I shoot product photos for the catalogue?") or a
record imported from elsewhere is fair. ``self_instruct_checks: all`` applies them to every
record.

Output checks: empty (no letter or digit), equal to the input, merely repeating the
instruction, and refusals/boilerplate ("As an AI language model", "I cannot help with").
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Filter
from generator.curate.normalize import normalize
from generator.curate.registry import register_step
from generator.records import ChatRecord, Record

_KEYWORDS = [
    "image",
    "images",
    "picture",
    "pictures",
    "photo",
    "photos",
    "graph",
    "graphs",
    "draw",
    "drawing",
    "plot",
    "video",
    "videos",
    "audio",
    "music",
    "flowchart",
    "diagram",
]
_REFUSALS = [
    r"\bas an ai(?: language)? model\b",
    r"\bas a language model\b",
    r"\bi(?: am|'m) (?:sorry|afraid),? but i (?:can(?:no|')t|am unable to)\b",
    r"\bi (?:cannot|can't|can not|am unable to|won't) (?:help|assist) with\b",
    r"\bi (?:cannot|can't|am unable to) (?:provide|fulfil+|comply)\b",
    r"\bi do not have (?:access to|the ability to)\b",
    r"\bmy knowledge cutoff\b",
]


def _default_refusals() -> list[str]:
    return list(_REFUSALS)


class HeuristicsConfig(BaseModel):
    """``heuristics:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_instruction_words: int = Field(4, ge=0)  # Self-Instruct drops <= 3 words
    max_instruction_words: int = Field(150, ge=1)
    keywords: list[str] = Field(default_factory=lambda: list(_KEYWORDS))
    banned_prefixes: list[str] = Field(default_factory=lambda: ["Write a program"])
    # which records the keyword and prefix checks apply to (see the module docstring)
    self_instruct_checks: Literal["self-instruct", "all"] = "self-instruct"
    self_instruct_templates: list[str] = Field(default_factory=lambda: ["self-instruct"])
    check_leading_punctuation: bool = True
    check_leading_non_ascii: bool = True
    refusal_patterns: list[str] = Field(default_factory=_default_refusals)
    # Output "merely repeats the instruction": its words are this share of the
    # instruction's words and add fewer than ``repeat_min_new_words`` new ones.
    repeat_overlap: float = Field(0.8, ge=0, le=1)
    repeat_min_new_words: int = Field(3, ge=0)


@register_step("heuristics", HeuristicsConfig, order=10)
class HeuristicsFilter(Filter):
    """Drop records the Self-Instruct instruction filters or the output checks reject."""

    name = "heuristics"

    def __init__(self, config: HeuristicsConfig | None = None) -> None:
        super().__init__()
        self.config = config or HeuristicsConfig()
        words = "|".join(re.escape(k) for k in self.config.keywords)
        self._keywords = re.compile(rf"\b(?:{words})\b", re.I) if words else None
        self._refusal = (
            re.compile("|".join(self.config.refusal_patterns), re.I)
            if self.config.refusal_patterns
            else None
        )

    def model_invented(self, record: Record) -> bool:
        """Whether the Self-Instruct keyword and prefix checks apply to ``record``."""
        if self.config.self_instruct_checks == "all":
            return True
        prompt = record.meta.prompt
        return prompt is not None and prompt.id in self.config.self_instruct_templates

    def instruction_reason(self, text: str, invented: bool = True) -> str | None:
        """Why an instruction fails the Self-Instruct filters, or None. The keyword and
        prefix checks run only for ``invented`` (model-invented) instructions."""
        cfg = self.config
        stripped = text.strip()
        n = len(stripped.split())
        if n < cfg.min_instruction_words:
            return "instruction_too_short"
        if n > cfg.max_instruction_words:
            return "instruction_too_long"
        if invented and self._keywords and self._keywords.search(stripped):
            return "instruction_unsuitable_keyword"
        if invented and any(stripped.startswith(p) for p in cfg.banned_prefixes):
            return "instruction_banned_prefix"
        if cfg.check_leading_punctuation and stripped[:1] in set(string.punctuation):
            return "instruction_starts_with_punctuation"
        if cfg.check_leading_non_ascii and not stripped[:1].isascii():
            return "instruction_starts_non_ascii"
        return None

    def output_reason(self, record: Record) -> str | None:
        """Why an output is unusable (empty, echo, refusal), or None."""
        out = normalize(record.output_text())
        if not out:
            return "empty_output"
        inp = normalize(record.input_text())
        if inp and out == inp:
            return "output_equals_input"
        if self._repeats(out, normalize(record.instruction_text())):
            return "output_repeats_instruction"
        if self._refusal and self._refusal.search(record.output_text()):
            return "refusal"
        return None

    def _repeats(self, out: str, instruction: str) -> bool:
        if not instruction:
            return False
        if out == instruction or out in instruction:
            return True
        out_words, ins_words = out.split(), set(instruction.split())
        new = [w for w in out_words if w not in ins_words]
        covered = len(ins_words & set(out_words)) / len(ins_words)
        return covered >= self.config.repeat_overlap and len(new) < self.config.repeat_min_new_words

    def keep(self, record: Record) -> bool | tuple[bool, str]:
        invented = self.model_invented(record)
        # A conversation's opening question is its task; follow-ups lean on earlier answers
        # and may rightly be short ("Why is that?"), so the instruction checks skip them.
        opening = (
            record.first_exchange()[0]
            if isinstance(record, ChatRecord)
            else record.instruction_text()
        )
        reason = self.instruction_reason(opening, invented) or self.output_reason(record)
        return (False, reason) if reason else True
