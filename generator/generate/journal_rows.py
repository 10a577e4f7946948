"""The rows :class:`~generator.generate.journal.GenJournal` writes and reads back: a provider
attempt (:class:`CallRow`), a unit committed by the engine (:class:`UnitCommit`) or taken back
from the JSONL files (:class:`UnitDone`), and journal lines without their unit
(:class:`Orphans`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from generator.records import utcnow


@dataclass
class CallRow:
    """One provider attempt, as journaled (no secrets: the error is already scrubbed)."""

    request_hash: str
    unit_id: str
    chunk_id: str
    kind: str
    attempt: int
    status: str
    latency_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    error_code: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    reply: str | None = None
    reasoning: str | None = None
    created_at: str = field(default_factory=utcnow)
    cached_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    cache_hit: int = 0  # 1: answered by the cross-run call cache, nothing sent
    cache_corrupt: int = 0  # 1: its cache entry was corrupt (ignored; the call was sent)


@dataclass
class UnitCommit:
    """Everything that becomes durable when a unit is done (one transaction)."""

    unit_id: str
    unit_pos: int
    chunk_id: str
    template: str
    idx: int
    fingerprint: str
    status: str  # done | failed
    records: list[tuple[str, str]]  # (record id, JSON line)
    rejections: list[dict[str, Any]]  # rejected.jsonl lines (with id, reason, detail, raw)
    pool: list[dict[str, str]]  # accepted examples {instruction, input, output}
    _lines: list[str] | None = field(default=None, repr=False, compare=False)

    def rejection_lines(self) -> list[str]:
        """The rejections as JSON lines, encoded once for the journal and rejected.jsonl."""
        if self._lines is None:
            self._lines = [json.dumps(r, ensure_ascii=False) for r in self.rejections]
        return self._lines


@dataclass
class UnitDone:
    """A unit marked done from records and rejections taken back from the JSONL files
    (:mod:`generator.generate.heal`), with the usage its records report."""

    unit_id: str
    unit_pos: int
    chunk_id: str
    template: str
    idx: int
    fingerprint: str
    records: list[str] = field(default_factory=list)  # ids, in commit order
    pool: list[dict[str, str]] = field(default_factory=list)
    rejections: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


@dataclass
class Orphans:
    """Journal lines whose unit has no ``gen_units`` row."""

    records: list[tuple[str, str, str]]  # (id, unit id, data), commit order
    rejections: list[tuple[str, str]]  # (id, unit id)
