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
- **Budget.** Before a batch is submitted its worst case (every request's prompt plus its
  ``max_tokens`` of output, at batch prices) must fit what ``--max-cost`` leaves after
  what was spent and what submitted batches may still cost; the requests that do not fit
  are refused with :class:`~generator.errors.BudgetExceeded` (exit 4, resumable).
- **Journal.** Each step is journaled before and after it (:mod:`.journal`). A request whose
  hash is in a batch of the journal is not batched again: that batch is re-attached
  (polled, or its results read again: reading is free), and a batch whose create call may
  or may not have happened (a crash between the call and its journal line) is looked for
  at the provider before anything is created again.
- **Polling** with backoff (``poll_s`` growing 1.5x to ``poll_max_s``); a provider error
  while polling is retried; after ``max_poll_failures`` in a row the run stops (exit 4;
  re-running re-attaches).
- **Outcomes.** An answer goes to the waiting unit(s) (a request asked by two units is
  paid once: the second gets it at cost 0). A request that was never run (the batch
  expired) or failed transiently (429, 5xx) is re-planned into the next batch, up to
  ``max_resubmits`` times; a bad request, a batch that failed validation, or a request
  whose result line is unreadable past the resubmits fails its unit, which stays pending
  (reported, retried by the next run). A batch this session submitted that was cancelled
  (``instructforge runs cancel``) stops the run (:class:`~generator.errors.BatchCancelled`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.errors import (
    BadRequestError,
    BatchCancelled,
    BudgetExceeded,
    CircuitOpen,
    GuardStop,
    InstructforgeError,
    ProviderError,
    RetriesExhausted,
    ServerError,
    TransientError,
)
from generator.generate.batch.journal import BatchJournal, BatchRow
from generator.providers.base import Completion, CompletionRequest, CompletionUsage, Provider
from generator.providers.base import request_hash as digest_of
from generator.providers.batch.base import BatchClient, BatchResult, BatchStatus
from generator.providers.resilience import Attempt, status_of

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


@dataclass
class _Batch:
    key: str
    digests: dict[str, str]  # custom id -> request hash
    lines: list[bytes] = field(default_factory=list)
    worst: float = 0.0
    own: bool = True  # submitted by this session (else re-attached)


def custom_id(digest: str) -> str:
    return f"r{digest[:48]}"  # [A-Za-z0-9_-]{1,64}: both providers accept it


class BatchingProvider(Provider):
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
        batch: _Batch | None = None
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
                batch, size = _Batch(f"s{self.session or 0}-{self._n}", {}), 0
            batch.digests[cid] = digest
            batch.lines.append(line)
            size += len(line) + 1
        if batch is not None:
            self._launch(batch, launched)

    def _launch(self, batch: _Batch, launched: set[str] | None = None) -> None:
        if launched is not None:
            launched.update(batch.digests.values())
        if self.budget is not None and not self._afford(batch):
            return
        task = asyncio.get_running_loop().create_task(self._guard(batch, self._submit(batch)))
        self._tasks[batch.key] = task
        task.add_done_callback(lambda _t, k=batch.key: self._tasks.pop(k, None))

    def _afford(self, batch: _Batch) -> bool:
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

    async def _guard(self, batch: _Batch, work: Any) -> None:
        """Run a batch's task; whatever breaks it (a full disk, a bug) reaches its units
        instead of leaving them waiting for ever."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
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

    async def _submit(self, batch: _Batch) -> None:
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

    async def _create(self, key: str, file_id: str | None, batch: _Batch, since: float) -> str:
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
        batch = _Batch(row.key, self.bj.requests_of(row.key), worst=row.worst_cost_usd or 0.0)
        batch.own = False
        task = asyncio.get_running_loop().create_task(self._guard(batch, self._resume(row, batch)))
        self._tasks[row.key] = task
        task.add_done_callback(lambda _t, k=row.key: self._tasks.pop(k, None))

    async def _resume(self, row: BatchRow, batch: _Batch) -> None:
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
    async def _watch(self, batch: _Batch, batch_id: str, known: BatchRow | None = None) -> None:
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

    async def _collect(self, batch: _Batch, status: BatchStatus) -> None:
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

    def _settle(self, batch: _Batch) -> None:
        """The batch's worst case leaves the budget once its costs are journaled: the
        executor journals each answer in the tasks woken by it, which run before this."""
        if self.budget is not None and batch.worst:
            loop = asyncio.get_running_loop()
            loop.call_soon(self._release, batch.worst)

    def _release(self, worst: float) -> None:
        assert self.budget is not None
        self.budget.outstanding = max(0.0, self.budget.outstanding - worst)

    def _deliver(self, batch: _Batch, status: BatchStatus, digest: str, r: BatchResult) -> None:
        if r.completion is not None:
            self._resolve(digest, r.completion)
        elif r.lost:
            self._unanswered(batch, status, digest)
        elif isinstance(r.error, TransientError):
            self._retry(digest, r.error, status_of(r.error))
        else:
            self._fail(digest, r.error or BadRequestError("batch: request failed"))

    def _unanswered(self, batch: _Batch, status: BatchStatus, digest: str) -> None:
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

    def _fail_batch(self, batch: _Batch, error: InstructforgeError) -> None:
        self._settle(batch)
        for digest in batch.digests.values():
            if digest in self._waiting:
                self._fail(digest, error)
