"""``generate --batch``: the engine's backend that sends units' requests through the
provider's batch API (:mod:`.queue`), with the synchronous path's unit executor on top.

Everything above the provider is unchanged: the engine builds the same requests, the same
:class:`~generator.generate.executor.UnitExecutor` validates and re-asks (a re-ask goes in
a follow-up batch), and the committer decides in plan order. Only the capacity differs:
every ready unit is dispatched at once, so a batch holds as many requests as the plan (and
the provider's limits) allow. Seeded templates that show pool examples still dispatch at
most ``--pool-lag`` units ahead of the commit frontier (that is what keeps their prompts
independent of timing), so their batches hold at most that many requests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.generate.batch.journal import BatchJournal
from generator.generate.batch.queue import BatchBudget, BatchingProvider, BatchOptions
from generator.generate.budget import CostModel
from generator.generate.executor import OnCall, UnitExecutor, UnitOutcome, UnitSpec
from generator.generate.plan import prompt_tokens
from generator.generate.settings import GenerateSettings
from generator.providers.base import CompletionRequest, Provider
from generator.providers.batch import client_for
from generator.providers.model_info import batch_price
from generator.store import Journal

# Units in flight at once: a provider batch's worth (the queue splits by its limits).
CAPACITY = 50_000


def worst_cost(request: CompletionRequest) -> float:
    """A request's worst case at batch prices: its prompt plus ``max_tokens`` of output."""
    p = batch_price(request.model)
    if p is None:
        return 0.0
    return p.cost(prompt_tokens(request.messages, request.model), request.max_tokens or 0)


def batch_options(settings: GenerateSettings) -> BatchOptions:
    return BatchOptions(
        poll_s=settings.batch_poll_s,
        poll_max_s=max(settings.batch_poll_s, settings.batch_poll_max_s),
        linger_s=min(0.5, settings.batch_poll_s),
        max_requests=settings.batch_max_requests,
        max_resubmits=min(settings.max_retries, 2),
        max_step_retries=settings.max_retries,
    )


class BatchBackend:
    """Runs units through provider batches (module docstring)."""

    def __init__(
        self,
        settings: GenerateSettings,
        on_call: OnCall,
        journal: Journal,
        cost: CostModel,
        session: int | None,
        say: Callable[[str], None],
    ) -> None:
        client = client_for(settings.model, settings.api_base, settings.api_key_env)
        bj = BatchJournal(journal)
        bj.abandon_uploads()  # this process holds the run: no upload of another is running
        self.executor = UnitExecutor(None, on_call)
        budget = None
        if settings.max_cost is not None:
            budget = BatchBudget(
                settings.max_cost, lambda: cost.spent, worst_cost, bj.in_flight_worst()
            )
        self.batching = BatchingProvider(
            client,
            bj,
            batch_options(settings),
            session=session,
            budget=budget,
            on_attempt=self.executor.on_attempt,
            unit_of=self.executor.unit_of,
            say=say,
        )
        provider: Provider = self.batching
        if settings.cache_dir:
            from generator.providers.cache import CachingProvider, CallCache

            cache = CallCache(Path(settings.cache_dir), run=Path(settings.run_dir).name)
            json_mode = getattr(getattr(client, "sync", None), "json_mode", None)
            provider = CachingProvider(
                self.batching, cache, api_base=settings.api_base, json_mode=json_mode
            )
        self.executor.provider = provider
        self.capacity = CAPACITY

    async def run(self, spec: UnitSpec) -> UnitOutcome:
        return await self.executor.run(spec)

    async def aclose(self) -> None:
        await self.batching.aclose()
