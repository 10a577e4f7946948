"""The generation engine: one asyncio loop that dispatches work units, collects outcomes and
commits them in plan order.

Flow per unit: render the template (with in-context examples for seeded templates) ->
request with the reply's JSON schema -> backend (the unit executor in this process, or a
``--workers`` process) -> outcome -> :class:`~generator.generate.commit.Committer` in plan
order -> one journal transaction (calls, records, rejections, pool, unit done) -> then
``records.jsonl`` / ``rejected.jsonl``.

Bounds: at most ``concurrency`` units in flight (the resilient provider's adaptive limiter
may allow fewer), and dispatch never runs more than ``reorder`` units ahead of the commit
frontier, which bounds the reorder buffer. For seeded templates unit ``pos`` is dispatched
only once every unit before ``pos - pool_lag`` is decided, so the pool examples it shows do
not depend on timing (see :class:`~generator.generate.plan.PoolView`).

Stops: ``--records`` reached (exit 0), the budget guard (exit 4), an open circuit or a
rejected key (exit 4), a failed write such as a full disk (exit 4) and Ctrl-C (130) all
stop dispatch; calls in flight are awaited (their replies are journaled) except on Ctrl-C
and a failed write; what is committed stays committed, and re-running resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Protocol

from generator.errors import GuardStop
from generator.generate.budget import CostModel
from generator.generate.commit import Committer, Tally
from generator.generate.executor import UnitOutcome, UnitSpec
from generator.generate.journal import CallRow, GenJournal, UnitCommit
from generator.generate.outputs import JsonlSink
from generator.generate.plan import WorkUnit, prompt_tokens
from generator.generate.prompts import render
from generator.generate.seeding import rng_for
from generator.generate.setup import Prepared
from generator.providers.base import CompletionRequest, request_hash
from generator.redact import redact_text

EARLY_WARNING_REPLIES = 20
EARLY_WARNING_RATE = 0.10


class Backend(Protocol):
    """Runs units somewhere (this process or worker processes)."""

    capacity: int

    def run(self, spec: UnitSpec) -> Awaitable[UnitOutcome]: ...


class Observer(Protocol):
    """Progress display: told after every journal write."""

    def update(self, engine: Engine) -> None: ...

    def warn(self, message: str) -> None: ...


class Engine:
    """Runs the pending units of a prepared generation (module docstring)."""

    def __init__(
        self,
        p: Prepared,
        gj: GenJournal,
        cost: CostModel,
        records_sink: JsonlSink,
        rejected_sink: JsonlSink,
        observer: Observer | None = None,
    ) -> None:
        self.p, self.gj, self.cost = p, gj, cost
        self.records_sink, self.rejected_sink = records_sink, rejected_sink
        self.observer = observer
        self.tally = Tally()
        self.committer = Committer(
            p.provenance,
            p.novelty,
            p.settings.novelty_threshold,
            p.instruction_filter,
            p.pool,
            self.tally,
        )
        self.pending = p.pending
        self._outcomes: dict[int, UnitOutcome] = {}
        self._calls: list[CallRow] = []
        self._frontier = 0  # index into pending of the next unit to decide
        self._next = 0  # index into pending of the next unit to dispatch
        self._inflight: set[asyncio.Task[None]] = set()
        self._stop: BaseException | None = None
        self._stopping = False
        self._closing = False  # interrupted (Ctrl-C) or failed: commit only what is sure
        self._broken = False  # a write failed (a full disk): stop, keep what is committed
        self.limit_reached = p.settings.records is not None and (
            p.accepted_before >= p.settings.records
        )
        self._wake: asyncio.Event | None = None
        self._flush_scheduled = False
        self._warned = False
        self.left_pending = 0  # units whose provider call failed: retried by the next run
        left = Counter(u.chunk.id for u in p.pending)
        self._chunk_left = left
        self.chunks_total = len({u.chunk.id for u in p.units})
        self.chunks_done = self.chunks_total - len(left)
        self.units_done_before = len(p.units) - len(p.pending)

    # ---------------------------------------------------------------- calls
    def on_call(self, row: CallRow) -> None:
        """Journal a provider call as soon as possible (coalesced per loop iteration)."""
        t = self.tally
        t.calls += 1
        t.failed_calls += row.status != "ok"
        t.prompt_tokens += row.prompt_tokens
        t.completion_tokens += row.completion_tokens
        t.cached_tokens += row.cached_tokens
        t.cache_hits += row.cache_hit
        t.cache_corrupt += row.cache_corrupt
        t.cost_usd += row.cost_usd or 0.0
        self.cost.spent += row.cost_usd or 0.0
        self._calls.append(row)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        """:meth:`flush` as a loop callback. A failure there (a full disk) would only be
        logged by asyncio while :meth:`run` waits for ever: it stops the run instead."""
        if self._broken:
            return  # stopping: run() makes the last try
        try:
            self.flush()
        except Exception as exc:
            self._stop, self._stopping, self._closing, self._broken = exc, True, True, True
            if self._wake is not None:
                self._wake.set()

    # ---------------------------------------------------------------- commit
    def flush(self) -> None:
        """Write journaled calls and every unit decidable in plan order, in one transaction;
        then append their lines to the JSONL files."""
        self._flush_scheduled = False
        rows, self._calls = self._calls, []
        commits: list[UnitCommit] = []
        pending_fails: list[UnitCommit] = []
        limit = self.p.settings.records
        while (
            not self.limit_reached
            and self._frontier < len(self.pending)
            and self._frontier in self._outcomes
        ):
            if self._closing and not self._outcomes[self._frontier].final:
                break  # interrupted: never decide past a unit that a later run will retry
            unit = self.pending[self._frontier]
            out = self._outcomes.pop(self._frontier)
            self._frontier += 1
            if out.final:
                commits.append(self.committer.decide(unit, out))
                self._chunk_left[unit.chunk.id] -= 1
                if self._chunk_left[unit.chunk.id] == 0:
                    self.chunks_done += 1
            else:
                pending_fails.append(self.committer.decide(unit, out, f"s{self.gj.session}"))
                self.left_pending += 1
            if limit is not None and self.p.accepted_before + self.tally.accepted >= limit:
                self.limit_reached = True
        if rows or commits or pending_fails:
            try:
                self.gj.write_batch(rows, commits, pending_fails)
            except BaseException:
                self._calls[:0] = rows  # not journaled (rolled back): kept for one more try
                raise
            self.records_sink.write(line for c in commits for _, line in c.records)
            self.rejected_sink.write(
                line for c in commits + pending_fails for line in c.rejection_lines()
            )
        self._check_acceptance()
        if self.observer is not None:
            self.observer.update(self)
        if self._wake is not None:
            self._wake.set()

    def _check_acceptance(self) -> None:
        t = self.tally
        seen = t.accepted + t.rejected
        if self._warned or t.replies < EARLY_WARNING_REPLIES or not seen:
            return
        if t.accepted / seen >= EARLY_WARNING_RATE:
            return
        self._warned = True
        top = ", ".join(f"{r} ({n})" for r, n in t.reasons.most_common(3))
        examples = "; ".join(f"{r}: {t.examples.get(r, '')}" for r, _ in t.reasons.most_common(2))
        if self.observer is not None:
            self.observer.warn(
                f"only {t.accepted} of {seen} candidate records accepted after {t.replies} "
                f"replies: the model or template may not fit. Top reasons: {top}. "
                f"Examples: {examples}. See rejected.jsonl."
            )

    # ---------------------------------------------------------------- dispatch
    def _frontier_pos(self) -> float:
        if self._frontier < len(self.pending):
            return self.pending[self._frontier].pos
        return float("inf")

    def _can_dispatch(self, capacity: int, reorder: int) -> bool:
        if self._stopping or self.limit_reached or self._next >= len(self.pending):
            return False
        if len(self._inflight) >= capacity or self._next - self._frontier >= reorder:
            return False
        unit = self.pending[self._next]
        return not (self.p.uses_pool and unit.pos - self.p.settings.pool_lag > self._frontier_pos())

    def build_spec(self, unit: WorkUnit) -> UnitSpec | UnitOutcome:
        """The request of a unit, or an outcome right away when it cannot fit the window."""
        p, s = self.p, self.p.settings
        examples: list[dict[str, str]] = []
        seeds = p.template.seeds
        if seeds is not None:
            rng = rng_for(str(s.sample_seed), unit.id)
            examples = p.pool.sample(unit.pos, s.pool_lag, p.seeds, rng, seeds.k, seeds.n_from_pool)
        chunk = unit.chunk
        if s.redact_before_send:  # the provider never sees personal data or secrets
            chunk = chunk.model_copy(update={"text": redact_text(chunk.text)[0]})
        messages = render(p.template, chunk, examples, unit.n, p.tools)
        if unit.calls > 1:
            # Several calls about one excerpt: make each request (and its hash) distinct and
            # steer the model away from repeating the other calls' records.
            messages[-1]["content"] += (
                f"\n\nThis is request {unit.idx + 1} of {unit.calls} about this excerpt: "
                "cover different points than the other requests would."
            )
        sampling = p.template.sampling
        if seeds is not None and p.window is not None:
            # Pool examples can be longer than the seeds the plan was sized with.
            need = prompt_tokens(messages, s.model) + sampling.max_tokens
            if need > p.window:
                detail = f"{need} tokens needed, context window {p.window}"
                rej = {"reason": "context_window", "detail": detail, "raw": None}
                return UnitOutcome(unit.id, unit.pos, rejections=[rej], error="context_window")
        request = CompletionRequest(
            model=s.model,
            messages=messages,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            json_schema=p.schema_by_n[unit.n],
            timeout=s.timeout_s,
            api_base=s.api_base,
        )
        # Hashed here, once: the digest travels with the request (also to a call process,
        # whose CPU is the scarcer one) and the executor and retry layer reuse it.
        request_hash(request)
        return UnitSpec(
            unit.id,
            unit.pos,
            unit.chunk.id,
            p.template.format,
            request,
            cached=p.cached.get(unit.id, {}),
            turns=p.template.turns.limits if p.template.turns else None,
            tools=(p.tools, p.template.tool_use) if p.template.tool_use else None,
        )

    async def _run_unit(
        self, index: int, unit: WorkUnit, run: Callable[[UnitSpec], Awaitable[UnitOutcome]]
    ) -> None:
        reserved = 0.0
        try:
            spec = self.build_spec(unit)
            if isinstance(spec, UnitOutcome):
                self._outcomes[index] = spec
                return
            reserved = self.cost.reserve(unit, free=bool(spec.cached))
            out = await run(spec)
            self.cost.observe(out.usage.completion_tokens, unit.n)
            if self._closing and not out.final:
                return  # failed while the run was being interrupted: retry it next run
            self._outcomes[index] = out
        except Exception as exc:  # a guard (exit 4), or a bug: stop cleanly either way
            if not self._broken and not isinstance(self._stop, GuardStop):
                self._stop = exc
            self._stopping = True
        finally:
            self.cost.settle(reserved, None)
            self._schedule_flush()

    async def run(self, backend: Backend) -> Tally:
        """Dispatch every pending unit; return the tally, or raise the guard that stopped."""
        self._wake = asyncio.Event()
        capacity = backend.capacity
        reorder = max(64, 4 * capacity)
        try:
            while True:
                while self._can_dispatch(capacity, reorder):
                    index, unit = self._next, self.pending[self._next]
                    self._next += 1
                    task = asyncio.create_task(self._run_unit(index, unit, backend.run))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if self._broken or (
                    not self._inflight
                    and (self._stopping or self.limit_reached or self._next >= len(self.pending))
                ):
                    break
                self._wake.clear()
                await self._wake.wait()
        except BaseException:
            self._closing = True
            raise
        finally:
            for task in self._inflight:  # only on Ctrl-C / an error: normal ends drain first
                task.cancel()
            if self._broken:  # one more try for the calls already paid; the first error wins
                with contextlib.suppress(Exception):
                    self.flush()
            else:
                self.flush()
        if self._stop is not None:
            raise self._stop
        return self.tally
