"""The life of one provider batch: submit, re-attach, watch, collect.

:class:`BatchLifecycle` is the half of :class:`~generator.generate.batch.queue.BatchingProvider`
that talks to the provider about batches already formed:

- **Journal.** Each step is journaled before and after it (:mod:`.journal`): the batch and
  its requests before the upload, the file id after it, ``submitting`` before the create
  call, the batch id after it, every state change seen while polling, ``collected`` once
  the results were handed over. A batch of an earlier session is re-attached (polled, or
  its results read again: reading is free); one whose create call may or may not have
  happened (a crash between the call and its journal line) is looked for at the provider
  before anything is created again.
- **Polling** with backoff (``poll_s`` growing 1.5x to ``poll_max_s``); a provider error
  while polling is retried; after ``max_poll_failures`` in a row the run stops (exit 4;
  re-running re-attaches).
- **Outcomes.** An answer goes to the waiting unit(s). A request that was never run (the
  batch expired), failed transiently (429, 5xx) or whose result line is unreadable is
  re-planned into the next batch, up to ``max_resubmits`` times; a bad request or a batch
  that failed validation fails its unit, which stays pending (reported, retried by the
  next run). A batch this session submitted that was cancelled (``instructforge runs
  cancel``) stops the run (:class:`~generator.errors.BatchCancelled`).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from generator.errors import (
    BadRequestError,
    BatchCancelled,
    CircuitOpen,
    GuardStop,
    InstructforgeError,
    ProviderError,
    ServerError,
    TransientError,
)
from generator.generate.batch.journal import BatchJournal, BatchRow
from generator.providers.base import Completion, CompletionRequest
from generator.providers.batch.base import BatchClient, BatchResult, BatchStatus
from generator.providers.resilience import status_of

if TYPE_CHECKING:
    from generator.generate.batch.queue import BatchBudget

Say = Callable[[str], None]


@dataclass
class BatchOptions:
    """How batches are formed and watched (``generate --batch-*`` options)."""

    poll_s: float = 30.0
    poll_max_s: float = 600.0
    linger_s: float = 0.5
    max_requests: int | None = None  # below the provider's own limit
    max_resubmits: int = 2
    max_poll_failures: int = 8
    max_step_retries: int = 5


@dataclass
class FormedBatch:
    """A batch of ours: its key, its requests (custom id -> hash) and their lines."""

    key: str
    digests: dict[str, str]  # custom id -> request hash
    lines: list[bytes] = field(default_factory=list)
    worst: float = 0.0
    own: bool = True  # submitted by this session (else re-attached)


class BatchLifecycle:
    """Submitting, re-attaching, watching and collecting batches (module docstring); the
    requests' side (queueing, answers, retries) is :class:`BatchingProvider`'s."""

    client: BatchClient
    bj: BatchJournal
    opt: BatchOptions
    session: int | None
    budget: BatchBudget | None
    say: Say
    stats: Counter[str]
    unit_of: Callable[[str], str]
    _tasks: dict[str, asyncio.Task[None]]
    _waiting: dict[str, list[asyncio.Future[Completion]]]
    _requests: dict[str, CompletionRequest]

    # The requests' side, implemented by BatchingProvider:
    def _resolve(self, digest: str, completion: Completion) -> None:
        raise NotImplementedError

    def _fail(self, digest: str, error: BaseException, status: str | None = None) -> None:
        raise NotImplementedError

    def _retry(self, digest: str, error: ProviderError, status: str) -> None:
        raise NotImplementedError

    def _enqueue(self, digest: str) -> None:
        raise NotImplementedError

    async def _guard(self, batch: FormedBatch, work: Any) -> None:
        """Run a batch's task; whatever breaks it (a full disk, a bug) reaches its units
        instead of leaving them waiting for ever."""
        try:
            await work
        except Exception as exc:
            for digest in batch.digests.values():
                if digest in self._waiting:
                    self._fail(digest, exc)

    async def _step(self, what: str, call: Callable[[], Any]) -> Any:
        """One provider call of a batch step, retried on transient errors with backoff."""
        delay = self.opt.poll_s
        for attempt in range(self.opt.max_step_retries + 1):
            try:
                return await call()
            except TransientError as exc:
                if attempt == self.opt.max_step_retries:
                    raise
                self.say(f"batch: {what} failed ({exc}); retrying in {delay:g}s")
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, self.opt.poll_max_s)
        raise AssertionError("unreachable")

    async def _submit(self, batch: FormedBatch) -> None:
        key = batch.key
        unit_rows = [(cid, d, self.unit_of(d)) for cid, d in batch.digests.items()]
        size = sum(len(x) + 1 for x in batch.lines)
        worst = (
            batch.worst if self.budget is not None and self.budget.max_cost is not None else None
        )
        self.bj.start(key, self.client.provider, unit_rows, size, worst, self.session)
        try:
            file_id = await self._step("upload", lambda: self.client.upload(batch.lines))
            self.bj.update(key, state="uploaded", file_id=file_id)
            self.bj.update(key, state="submitting")
            since = time.time()
            batch_id = await self._create(key, file_id, batch, since)
        except GuardStop as exc:  # the run stops; the journal keeps the step for next time
            self._fail_batch(batch, exc)
            return
        except InstructforgeError as exc:
            self.bj.update(key, state="failed", error=str(exc)[:300])
            self._settle(batch)
            for digest in batch.digests.values():
                self._fail(digest, exc if isinstance(exc, ProviderError) else ServerError(str(exc)))
            return
        self.bj.update(key, state="validating", batch_id=batch_id)
        self.stats["created"] += 1
        self.say(f"batch {key}: {len(batch.lines)} requests submitted ({batch_id})")
        await self._watch(batch, batch_id)

    async def _create(self, key: str, file_id: str | None, batch: FormedBatch, since: float) -> str:
        """Create the batch; after a failed call, look for it first (it may exist)."""
        n = len(batch.lines)
        for attempt in range(self.opt.max_step_retries + 1):
            try:
                return await self.client.create(file_id, batch.lines, key)
            except TransientError as exc:
                if attempt == self.opt.max_step_retries:
                    raise
                await asyncio.sleep(self.opt.poll_s)
                found = await self._step("find", lambda: self.client.find(file_id, key, n, since))
                if found is not None:
                    return str(found)
                self.say(f"batch {key}: create failed ({exc}); retrying")
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- re-attaching
    def _attach(self, row: BatchRow) -> None:
        if row.key in self._tasks:
            return  # already watched: its results will include this request
        batch = FormedBatch(row.key, self.bj.requests_of(row.key), worst=row.worst_cost_usd or 0.0)
        batch.own = False
        task = asyncio.get_running_loop().create_task(self._guard(batch, self._resume(row, batch)))
        self._tasks[row.key] = task
        task.add_done_callback(lambda _t, k=row.key: self._tasks.pop(k, None))

    async def _resume(self, row: BatchRow, batch: FormedBatch) -> None:
        await asyncio.sleep(0)  # let every request of this batch be asked first
        batch_id = row.batch_id
        if batch_id is None:  # a crash came after the upload, maybe after the create call
            since = row.submitted_at or 0.0
            try:
                batch_id = await self._step(
                    "find",
                    lambda: self.client.find(row.file_id, row.key, row.n_requests, since),
                )
            except InstructforgeError as exc:
                self._fail_batch(batch, exc)
                return
            if batch_id is None:
                self.bj.update(row.key, state="abandoned")
                self.say(f"batch {row.key}: never created at the provider; asking again")
                for digest in batch.digests.values():
                    if digest in self._waiting:
                        self._enqueue(digest)
                return
            self.bj.update(row.key, state="validating", batch_id=batch_id)
        self.stats["attached"] += 1
        self.say(f"batch {row.key}: re-attached ({batch_id}, {row.state})")
        await self._watch(batch, batch_id, known=row)

    # ---------------------------------------------------------------- watching
    async def _watch(
        self, batch: FormedBatch, batch_id: str, known: BatchRow | None = None
    ) -> None:
        delay, failures = self.opt.poll_s, 0
        state = known.state if known is not None else "validating"
        status: BatchStatus | None = None
        while True:
            if known is not None and known.state in ("completed", "expired", "cancelled",
                                                     "collected", "failed"):  # fmt: skip
                status = BatchStatus(batch_id, "completed" if known.state == "collected"
                                     else known.state, known.output_file_id,
                                     known.error_file_id)  # fmt: skip
                break
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.opt.poll_max_s)
            try:
                status = await self.client.retrieve(batch_id)
                failures = 0
            except TransientError as exc:
                failures += 1
                self.say(f"batch {batch.key}: polling failed ({exc}); retrying")
                if failures >= self.opt.max_poll_failures:
                    self._fail_batch(batch, CircuitOpen(
                        f"stopped: polling batch {batch.key} ({batch_id}) failed {failures} "
                        f"times in a row (last: {exc}); re-run the same command to re-attach"
                    ))  # fmt: skip
                    return
                continue
            except InstructforgeError as exc:
                self._fail_batch(batch, CircuitOpen(f"stopped: batch {batch.key}: {exc}"))
                return
            if status.state != state:
                state = status.state
                self.bj.update(batch.key, state=state, succeeded=status.succeeded,
                               failed=status.failed, output_file_id=status.output_file_id,
                               error_file_id=status.error_file_id)  # fmt: skip
            if status.terminal:
                break
        await self._collect(batch, status)

    async def _collect(self, batch: FormedBatch, status: BatchStatus) -> None:
        requests = {c: self._requests[d] for c, d in batch.digests.items() if d in self._requests}
        try:
            results = await self._step(
                "results", lambda: self.client.results(status, requests)
            ) if status.state != "failed" else None  # fmt: skip
        except InstructforgeError as exc:
            self._fail_batch(batch, CircuitOpen(
                f"stopped: reading the results of batch {batch.key} failed: {exc}; re-run "
                "the same command to read them again (they are paid)"
            ))  # fmt: skip
            return
        answered: set[str] = set()
        for r in results.results if results is not None else []:
            digest = batch.digests.get(r.custom_id)
            if digest is None or digest not in self._waiting or digest in answered:
                continue
            answered.add(digest)
            self._deliver(batch, status, digest, r)
        malformed = results.malformed if results is not None else 0
        self.stats["malformed"] += malformed
        for digest in batch.digests.values():
            if digest in self._waiting and digest not in answered:
                self._unanswered(batch, status, digest)
        state = "collected" if status.state == "completed" else status.state
        self.bj.update(batch.key, state=state, malformed=malformed, error=status.error)
        ok = sum(1 for r in (results.results if results else []) if r.completion is not None)
        self.say(
            f"batch {batch.key}: {status.state}, {ok} answered, "
            f"{len(batch.digests) - ok} not"
            + (f", {malformed} unreadable lines" if malformed else "")
        )
        self._settle(batch)

    def _settle(self, batch: FormedBatch) -> None:
        """The batch's worst case leaves the budget once its costs are journaled: the
        executor journals each answer in the tasks woken by it, which run before this."""
        if self.budget is not None and batch.worst:
            loop = asyncio.get_running_loop()
            loop.call_soon(self._release, batch.worst)

    def _release(self, worst: float) -> None:
        assert self.budget is not None
        self.budget.outstanding = max(0.0, self.budget.outstanding - worst)

    def _deliver(
        self, batch: FormedBatch, status: BatchStatus, digest: str, r: BatchResult
    ) -> None:
        if r.completion is not None:
            self._resolve(digest, r.completion)
        elif r.lost:
            self._unanswered(batch, status, digest)
        elif isinstance(r.error, TransientError):
            self._retry(digest, r.error, status_of(r.error))
        else:
            self._fail(digest, r.error or BadRequestError("batch: request failed"))

    def _unanswered(self, batch: FormedBatch, status: BatchStatus, digest: str) -> None:
        if status.state == "failed":
            self._fail(digest, BadRequestError(
                f"batch {batch.key} failed at the provider: {status.error or 'no reason given'}"
            ), "batch_failed")  # fmt: skip
        elif status.state in ("cancelled", "cancelling") and batch.own:
            self._fail(digest, BatchCancelled(
                f"stopped: batch {batch.key} was cancelled; re-run the same command to ask its "
                "unanswered requests again"
            ), "batch_cancelled")  # fmt: skip
        else:  # expired, cancelled in an earlier session, or its line was unreadable
            why = "batch_expired" if status.state == "expired" else "batch_unanswered"
            self._retry(digest, ServerError(f"batch {batch.key}: {why}"), why)

    def _fail_batch(self, batch: FormedBatch, error: InstructforgeError) -> None:
        self._settle(batch)
        for digest in batch.digests.values():
            if digest in self._waiting:
                self._fail(digest, error)
