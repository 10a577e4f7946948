"""Requests through a provider's batch API, behind the one-call provider contract.

:class:`BatchingProvider` is a provider whose :meth:`~BatchingProvider.complete` does not
call the model: it puts the request in the next batch and waits for the batch's answer to
it. The unit executor above it is the synchronous path's own
(:class:`~generator.generate.executor.UnitExecutor`), so validation, the re-ask (which
then travels in a follow-up batch), novelty in plan order, provenance and policy tags are
the same code as without ``--batch``.

- **Grouping.** Requests queued within ``linger_s`` of each other (the engine dispatches
  every ready unit at once) form batches of at most the provider's limits (requests and
  bytes, :class:`~generator.providers.batch.base.BatchLimits`) or ``max_requests``.
- **Never twice.** A request whose hash is in a batch of the journal is not batched again:
  that batch is re-attached (:mod:`.lifecycle`). A request two units ask is sent and paid
  once (the second gets the answer at cost 0).
- **Budget.** Before a batch is submitted its worst case (every request's prompt plus its
  ``max_tokens`` of output, at batch prices) must fit what ``--max-cost`` leaves after
  what was spent and what submitted batches may still cost; the requests that do not fit
  are refused with :class:`~generator.errors.BudgetExceeded` (exit 4, resumable).
- **Retries.** A request re-planned after an expiry, a transient failure or an unreadable
  result line goes in the next batch, at most ``max_resubmits`` times
  (:class:`~generator.errors.RetriesExhausted` after that).

The life of a formed batch (journal, polling, outcomes) is :mod:`.lifecycle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from generator.errors import BudgetExceeded, ProviderError, RetriesExhausted
from generator.generate.batch.journal import BatchJournal
from generator.generate.batch.lifecycle import BatchLifecycle, BatchOptions, FormedBatch, Say
from generator.providers.base import Completion, CompletionRequest, CompletionUsage, Provider
from generator.providers.base import request_hash as digest_of
from generator.providers.batch.base import BatchClient
from generator.providers.resilience import Attempt, status_of

__all__ = ["BatchBudget", "BatchOptions", "BatchingProvider", "custom_id"]


class BatchBudget:
    """``--max-cost`` for batches: worst cases of submitted batches against what is left."""

    def __init__(
        self,
        max_cost: float | None,
        spent: Callable[[], float],
        worst: Callable[[CompletionRequest], float],
        outstanding: float = 0.0,
    ) -> None:
        self.max_cost, self.spent, self.worst = max_cost, spent, worst
        self.outstanding = outstanding  # worst cases of batches not yet collected

    def room(self) -> float | None:
        if self.max_cost is None:
            return None
        return self.max_cost - self.spent() - self.outstanding


def custom_id(digest: str) -> str:
    return f"r{digest[:48]}"  # [A-Za-z0-9_-]{1,64}: both providers accept it


class BatchingProvider(BatchLifecycle, Provider):
    """See the module docstring."""

    name = "batch"

    def __init__(
        self,
        client: BatchClient,
        bj: BatchJournal,
        options: BatchOptions,
        *,
        session: int | None = None,
        budget: BatchBudget | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        unit_of: Callable[[str], str] = lambda digest: "?",
        say: Say = lambda line: None,
    ) -> None:
        self.client, self.bj, self.opt = client, bj, options
        self.session, self.budget = session, budget
        self.on_attempt, self.unit_of, self.say = on_attempt, unit_of, say
        limits = client.limits
        self.max_requests = min(options.max_requests or limits.max_requests, limits.max_requests)
        self.max_bytes = limits.max_bytes
        self._waiting: dict[str, list[asyncio.Future[Completion]]] = {}
        self._requests: dict[str, CompletionRequest] = {}
        self._started: dict[str, float] = {}
        self._queue: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tries: Counter[str] = Counter()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._n = 0  # batches formed by this session (their keys)
        # created: batches created at the provider by this session; attached: batches of an
        # earlier session re-attached; resubmitted: requests asked again after an expiry or
        # a transient failure; malformed: unreadable result lines.
        self.stats: Counter[str] = Counter(created=0, attached=0, resubmitted=0, malformed=0)

    # ---------------------------------------------------------------- the contract
    async def complete(self, request: CompletionRequest) -> Completion:
        digest = digest_of(request)
        fut: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(digest, [])
        waiters.append(fut)
        if len(waiters) == 1:
            self._requests[digest] = request
            self._started[digest] = time.perf_counter()
            found = self.bj.batch_of(digest)
            if found is not None:
                self._attach(found[0])
            else:
                self._enqueue(digest)
        return await fut

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(BaseException):
                await task
        await self.client.aclose()

    # ---------------------------------------------------------------- answers
    def _resolve(self, digest: str, completion: Completion) -> None:
        waiters = self._waiting.pop(digest, [])
        started = self._started.pop(digest, time.perf_counter())
        self._requests.pop(digest, None)
        completion.latency_s = time.perf_counter() - started
        for i, fut in enumerate(waiters):
            if fut.done():
                continue
            # a request two units asked was sent and paid once
            free = CompletionUsage(cost_usd=0.0)
            fut.set_result(completion if i == 0 else completion.model_copy(update={"usage": free}))

    def _fail(self, digest: str, error: BaseException, status: str | None = None) -> None:
        if isinstance(error, ProviderError | RetriesExhausted):
            err = error.last_error if isinstance(error, RetriesExhausted) else error
            self._note(digest, status or status_of(err), err)
        waiters = self._waiting.pop(digest, [])
        self._requests.pop(digest, None)
        self._started.pop(digest, None)
        for fut in waiters:
            if not fut.done():
                fut.set_exception(error)

    def _note(self, digest: str, status: str, err: Any) -> None:
        """A failed request, journaled (through the executor) as an error call row."""
        if self.on_attempt is None:
            return
        request = self._requests.get(digest)
        self.on_attempt(
            Attempt(
                request_hash=digest,
                model=request.model if request is not None else "",
                attempt=self._tries[digest] + 1,
                status=status,
                latency_s=time.perf_counter() - self._started.get(digest, time.perf_counter()),
                error=err if isinstance(err, ProviderError) else None,
            )
        )

    def _retry(self, digest: str, error: ProviderError, status: str) -> None:
        """Ask again in the next batch, or give up after ``max_resubmits``."""
        if self._tries[digest] >= self.opt.max_resubmits:
            attempts = self._tries[digest] + 1
            self._fail(digest, RetriesExhausted(
                f"batch: no answer after {attempts} batches: {error}",
                attempts=attempts, last_error=error,
            ), status)  # fmt: skip
            return
        self._note(digest, status, error)
        self._tries[digest] += 1
        self.stats["resubmitted"] += 1
        self._enqueue(digest)

    # ---------------------------------------------------------------- new batches
    def _enqueue(self, digest: str) -> None:
        self._queue.append(digest)
        if len(self._queue) >= self.max_requests:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.opt.linger_s, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        queue, self._queue = [d for d in self._queue if d in self._waiting], []
        launched: set[str] = set()
        try:
            self._form(queue, launched)
        except Exception as exc:  # a loop callback: an error here must reach the units
            for digest in queue:
                if digest in self._waiting and digest not in launched:
                    self._fail(digest, exc)

    def _form(self, queue: list[str], launched: set[str]) -> None:
        """Split the queued requests into batches within the limits and launch them."""
        batch: FormedBatch | None = None
        size = 0
        for digest in dict.fromkeys(queue):
            cid = custom_id(digest)
            line = self.client.line(cid, self._requests[digest])
            if (
                batch is None
                or len(batch.lines) >= self.max_requests
                or (size + len(line) + 1 > self.max_bytes)
            ):
                if batch is not None:
                    self._launch(batch, launched)
                self._n += 1
                batch, size = FormedBatch(f"s{self.session or 0}-{self._n}", {}), 0
            batch.digests[cid] = digest
            batch.lines.append(line)
            size += len(line) + 1
        if batch is not None:
            self._launch(batch, launched)

    def _launch(self, batch: FormedBatch, launched: set[str] | None = None) -> None:
        if launched is not None:
            launched.update(batch.digests.values())
        if self.budget is not None and not self._afford(batch):
            return
        task = asyncio.get_running_loop().create_task(self._guard(batch, self._submit(batch)))
        self._tasks[batch.key] = task
        task.add_done_callback(lambda _t, k=batch.key: self._tasks.pop(k, None))

    def _afford(self, batch: FormedBatch) -> bool:
        """Keep the prefix of ``batch`` whose worst case fits the budget; refuse the rest."""
        assert self.budget is not None
        room = self.budget.room()
        if room is None:
            return True
        keep: dict[str, str] = {}
        lines: list[bytes] = []
        worst = 0.0
        refused = 0
        for (cid, digest), line in zip(batch.digests.items(), batch.lines, strict=True):
            w = self.budget.worst(self._requests[digest])
            if refused or worst + w > room:
                refused += 1
                self._fail(digest, BudgetExceeded(
                    f"stopped before submitting a batch whose worst case (prompts plus "
                    f"max_tokens of output, at batch prices) could pass the budget of "
                    f"${self.budget.max_cost:.4f} (spent ${self.budget.spent():.4f}, batches "
                    f"in flight up to ${self.budget.outstanding:.4f}); raise --max-cost and "
                    "re-run the same command to resume"
                ))  # fmt: skip
                continue
            worst += w
            keep[cid] = digest
            lines.append(line)
        if refused:
            self.say(f"batch: {refused} request(s) not submitted: --max-cost would not cover them")
        batch.digests, batch.lines, batch.worst = keep, lines, worst
        self.budget.outstanding += worst
        return bool(keep)
