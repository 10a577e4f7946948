"""Provider moderation for the harmful-content step: LiteLLM's moderation call
(``litellm.amoderation``, OpenAI's moderation endpoint) where the provider has one.

Each result is journaled in ``judge_calls`` (kind ``moderation``) by the hash of model and
text before it is used, so a re-run never pays twice; a failed call is recorded and the
record keeps its baseline verdict, never a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from generator.curate.judge import CallLog
from generator.providers.errors import map_exception
from generator.providers.model_info import litellm
from generator.records import Record
from generator.store import Journal

# OpenAI moderation categories -> ours (precision first: only the clear counterparts).
CATEGORY_MAP = {
    "hate": "hate",
    "hate/threatening": "hate",
    "harassment": "harassment",
    "harassment/threatening": "harassment",
    "violence": "violence",
    "violence/graphic": "violence",
    "sexual/minors": "sexual_minors",
    "self-harm": "self_harm",
    "self-harm/intent": "self_harm",
    "self-harm/instructions": "self_harm",
    "illicit/violent": "dangerous",
}


def is_moderation_model(model: str) -> bool:
    return "moderation" in model.split("/")[-1]


def flags_of(result: dict[str, Any]) -> list[tuple[str, str]]:
    """[(our category, reason)] from one moderation result."""
    cats = result.get("categories") or {}
    out = {CATEGORY_MAP[k] for k, v in cats.items() if v and k in CATEGORY_MAP}
    return [(c, "moderation: flagged by the provider") for c in sorted(out)]


class ModerationClient:
    """Journaled moderation calls over batches of records."""

    def __init__(self, model: str, journal: Journal, *, concurrency: int = 8) -> None:
        self.model = model
        self.log = CallLog(journal)
        self.concurrency = concurrency
        self.failures = 0

    async def _one(self, record: Record, sem: asyncio.Semaphore) -> list[tuple[str, str]] | None:
        text = record.example_text()
        digest = hashlib.sha256(f"moderation\x1f{self.model}\x1f{text}".encode()).hexdigest()
        cached = self.log.cached(digest)
        if cached is not None:
            return flags_of(json.loads(cached))
        async with sem:
            try:
                resp = await litellm().amoderation(input=text, model=self.model)
                reply, error = json.dumps(resp.results[0].model_dump()), None
            except Exception as exc:  # mapped to one secret-free line, recorded, not raised
                reply, error = None, f"error: {str(map_exception(exc))[:300]}"
        self.log.store(digest, "moderation", self.model, record.meta.id, reply=reply, error=error)
        return flags_of(json.loads(reply)) if reply else None

    def harmful(self, records: Sequence[Record]) -> list[list[tuple[str, str]] | None]:
        async def go() -> list[list[tuple[str, str]] | None]:
            sem = asyncio.Semaphore(self.concurrency)
            return await asyncio.gather(*(self._one(r, sem) for r in records))

        out = asyncio.run(go())
        self.failures += sum(v is None for v in out)
        return out
