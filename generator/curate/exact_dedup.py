"""Exact dedup on normalised text (NFKC, case, whitespace, punctuation; ``normalize.py``).

Two keys, each optional: the instruction side (instruction plus input, or every user turn of
a conversation, or the prompt) and the whole example (a conversation: all of its turns).
The first record seen with a key is kept; each later one is dropped with ``duplicate_of``
naming the kept record. The input belongs to the instruction key because one instruction
("Summarise this text.") over different inputs is a different task, not a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from generator.curate.base import Step
from generator.curate.normalize import normalize
from generator.curate.registry import register_step
from generator.records import Record


class ExactDedupConfig(BaseModel):
    """``exact_dedup:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    on_instruction: bool = True
    on_example: bool = True


def _digest(text: str) -> bytes:
    return hashlib.blake2b(normalize(text).encode("utf-8"), digest_size=16).digest()


def instruction_key(record: Record) -> bytes:
    """Digest of the normalised instruction side (instruction + input / every user turn)."""
    return _digest(record.instruction_text() + "\n" + record.input_text())


def example_key(record: Record) -> bytes:
    """Digest of the normalised whole example."""
    return _digest(record.example_text())


@register_step("exact_dedup", ExactDedupConfig, order=40)
class ExactDedupStep(Step):
    """Keep the first record per normalised instruction and per normalised example."""

    name = "exact_dedup"

    def __init__(self, config: ExactDedupConfig | None = None) -> None:
        super().__init__()
        self.config = config or ExactDedupConfig()

    def on_cluster(self, cluster: Any, records: list[Record]) -> None:
        from generator.cluster.dedup import exact_keys

        texts = [(r.instruction_text() + "\n" + r.input_text(), r.example_text()) for r in records]
        cfg = self.config
        self._prepared = exact_keys(cluster.client, texts, cfg.on_instruction, cfg.on_example)

    def _keys(self, record: Record, known: Iterator[tuple[Any, Any]] | None) -> tuple[Any, Any]:
        if known is not None:
            return next(known)
        ex = example_key(record) if self.config.on_example else None
        ins = instruction_key(record) if self.config.on_instruction else None
        return ex, ins

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        by_instruction: dict[bytes, str] = {}
        by_example: dict[bytes, str] = {}
        prepared, self._prepared = getattr(self, "_prepared", None), None
        known = iter(prepared) if prepared is not None else None  # keys from the workers
        for record in records:
            self.seen += 1
            ex, ins = self._keys(record, known)
            if ex is not None and ex in by_example:
                self.exclude(record, "exact_duplicate_example", duplicate_of=by_example[ex])
                continue
            if ins is not None and ins in by_instruction:
                first = by_instruction[ins]
                self.exclude(record, "exact_duplicate_instruction", duplicate_of=first)
                continue
            # Only kept records are registered, so duplicate_of always names a kept one.
            if ex is not None:
                by_example[ex] = record.meta.id
            if ins is not None:
                by_instruction[ins] = record.meta.id
            self.kept += 1
            yield record
