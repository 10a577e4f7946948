"""The Self-Instruct / Alpaca instruction filters, configurable.

Defaults follow the original code (Self-Instruct ``bootstrap_instructions.py``, Alpaca
``generate_instruction.py``): drop instructions of 3 words or fewer or more than 150, with a
blacklisted word (whole word, any case), starting with "Write a program", starting with
punctuation or with a non-ASCII character. Each check returns ``(ok, reason)``; the reason
is a short stable code (``too_short``, ``blacklisted:image`` ...) for counting.
"""

from __future__ import annotations

import re
import string
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
    "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip


class InstructionFilterConfig(BaseModel):
    """Settings of :class:`InstructionFilter`. ``min_words`` is the fewest words kept (the
    paper drops ``len(split()) <= 3``, hence 4); set a field to its neutral value to disable."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_words: int = Field(4, ge=0)
    max_words: int = Field(150, ge=1)
    blacklist: list[str] = Field(default_factory=lambda: list(BLACKLIST))
    banned_prefixes: list[str] = Field(default_factory=lambda: ["Write a program"])
    reject_leading_punctuation: bool = True
    reject_non_ascii_start: bool = True
    reject_output_copies_instruction: bool = True


class InstructionFilter:
    """Applies :class:`InstructionFilterConfig` to an instruction (and optionally output)."""

    def __init__(self, config: InstructionFilterConfig | None = None) -> None:
        self.config = config or InstructionFilterConfig()

    @cached_property
    def _blacklist_re(self) -> re.Pattern[str] | None:
        words = [w.strip() for w in self.config.blacklist if w.strip()]
        if not words:
            return None
        # Longest first so "images" is reported rather than "image" where both could match.
        alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        return re.compile(rf"\b({alts})\b", re.IGNORECASE)

    def check(self, instruction: str, output: str | None = None) -> tuple[bool, str | None]:
        """(True, None) when the instruction passes every check, else (False, reason)."""
        cfg = self.config
        if not cfg.enabled:
            return True, None
        inst = instruction.strip()
        n_words = len(inst.split())
        if n_words < cfg.min_words:
            return False, "too_short"
        if n_words > cfg.max_words:
            return False, "too_long"
        pattern = self._blacklist_re
        if pattern is not None:
            found = pattern.search(inst)
            if found:
                return False, f"blacklisted:{found.group(1).lower()}"
        for prefix in cfg.banned_prefixes:
            if prefix and inst.startswith(prefix):
                return False, "banned_prefix"
        if inst and cfg.reject_leading_punctuation and inst[0] in string.punctuation:
            return False, "leading_punctuation"
        if inst and cfg.reject_non_ascii_start and not inst[0].isascii():
            return False, "non_english_start"
        if (
            output is not None
            and cfg.reject_output_copies_instruction
            and " ".join(output.split()).lower() == " ".join(inst.split()).lower()
        ):
            return False, "output_copies_instruction"
        return True, None

    def __call__(self, instruction: str, output: str | None = None) -> tuple[bool, str | None]:
        return self.check(instruction, output)
