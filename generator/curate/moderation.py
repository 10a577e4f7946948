"""Provider moderation for the harmful-content step: LiteLLM's moderation call
(``litellm.amoderation``, OpenAI's moderation endpoint) where the provider has one.

:class:`ModerationProvider` makes one moderation call look like one completion (the reply
text is the result as JSON), so moderation goes through exactly what the LLM judge goes
through (``curate/judge.py``): generation's retries, adaptive limiter and circuit breaker,
and the ``judge_calls`` journal (kind ``moderation``) keyed by the hash of model and text
before the result is used, so a re-run never pays twice. A call that fails or a result that
cannot be read is a finding: the step sends the record to review, never lets it pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from generator.curate.judge import JudgeClient, client_for, journal_for, resilient
from generator.providers.base import Completion, CompletionRequest, Provider
from generator.providers.errors import map_exception
from generator.providers.keys import key_var
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


def parse_moderation(text: str | None) -> list[tuple[str, str]] | None:
    """Flags from a journaled moderation result, or None when it cannot be read."""
    try:
        result = json.loads(text or "")
    except json.JSONDecodeError:
        return None
    if not isinstance(result, dict) or not isinstance(result.get("categories"), dict):
        return None
    return flags_of(result)


class ModerationProvider(Provider):
    """One ``litellm.amoderation`` call per request: the input is the last message."""

    name = "moderation"

    async def complete(self, request: CompletionRequest) -> Completion:
        text = request.messages[-1]["content"]
        t0 = time.perf_counter()
        try:
            async with self._client(request) as client:
                resp = await litellm().amoderation(input=text, model=request.model, client=client)
            result = resp.results[0].model_dump()
        except Exception as exc:  # mapped to our tree (secret-free) for the retry layer
            raise map_exception(exc) from exc
        return Completion(
            text=json.dumps(result), finish_reason="stop", latency_s=time.perf_counter() - t0
        )

    @staticmethod
    def _client(request: CompletionRequest) -> Any:
        """OpenAI's client without its own retries (ours retry), its key from the environment."""
        from openai import AsyncOpenAI

        var = key_var(request.model, request.api_base) or "OPENAI_API_KEY"
        return AsyncOpenAI(
            api_key=os.environ.get(var) or "no-key-required",
            base_url=request.api_base,
            max_retries=0,
            timeout=request.timeout,
        )


class ModerationClient(JudgeClient):
    """Journaled moderation calls over batches of records, with the judge's resilience."""

    def __init__(self, model: str, journal: Journal, *, provider: Provider | None = None) -> None:
        super().__init__(provider or resilient(ModerationProvider()), model, journal)

    def digest(self, request: CompletionRequest) -> str:
        # the key journals have used for moderation results since the first release
        text = request.messages[-1]["content"]
        return hashlib.sha256(f"moderation\x1f{self.model}\x1f{text}".encode()).hexdigest()

    def harmful(self, records: Sequence[Record]) -> list[list[tuple[str, str]] | None]:
        batch = [(r.meta.id, [{"role": "user", "content": r.example_text()}]) for r in records]
        return self._parsed(self._run("moderation", batch), parse_moderation)


def checker_for(model: str, journal: Journal | None, run_dir: Any = None) -> JudgeClient:
    """The harmful step's provider check: the moderation endpoint of a moderation model,
    else an LLM judge with a fixed rubric."""
    if is_moderation_model(model):
        return ModerationClient(model, journal_for(journal, run_dir))
    return client_for(model, journal, run_dir)
