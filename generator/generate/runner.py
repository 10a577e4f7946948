"""``generate`` end to end: checks, ingest, plan, then the engine; or, with ``dry_run``, the
estimate only.

Order matters for the guarantees: the model string and the API key are checked before any
work (exit 2); ingest runs next (re-running skips unchanged files); then the plan and the
settings check; then the JSONL files are healed against the journal (a crash may have left
them short; a lost WAL may have left the journal short: see :mod:`generator.generate.heal`);
only then does the engine start. The run folder is opened (checked, locked for the whole
command, integrity-checked) by :func:`generator.runfolder.open_run_folder`. The session row
in the journal says how the run ended (done; stopped by a guard or a full disk; interrupted
by Ctrl-C or SIGTERM; failed).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from generator.errors import CircuitOpen, ConfigError, GuardStop, from_os_error
from generator.generate.backend import LocalBackend, call_processes, calls_heap, price_of
from generator.generate.budget import CostModel, Estimate, shared_prefix_tokens
from generator.generate.commit import Tally
from generator.generate.engine import Engine
from generator.generate.heal import heal_plan
from generator.generate.journal import GenJournal
from generator.generate.outputs import RECORDS_FILE, REJECTED_FILE, JsonlSink
from generator.generate.progress import LiveProgress
from generator.generate.settings import GenerateSettings
from generator.generate.setup import Prepared, prepare, record_start
from generator.providers.keys import check_credentials, provider_prefix
from generator.providers.model_info import register_price
from generator.providers.registry import validate_model
from generator.runfolder import open_run_folder
from generator.store import Journal


@dataclass
class RunResult:
    """What the command prints at the end."""

    tally: Tally
    elapsed: float
    chunks_done: int
    chunks_total: int
    total_accepted: int
    units_total: int = 0
    left_pending: int = 0
    estimate: Estimate | None = None
    ingest_note: str = ""
    batches: dict[str, int] | None = None  # --batch: created, attached, resubmitted, ...


def _ingest(settings: GenerateSettings, journal: Journal, err: Console) -> str:
    """Ingest DOCS into the run (unchanged files are skipped); one line per bad file."""
    from generator.ingest.pipeline import ingest_kept

    # the settings of an earlier `ingest` of this run: nothing it accepted is dropped or
    # chunked again (ids and done work stay valid)
    results = ingest_kept(settings.docs, journal, settings.model)
    new = sum(r.status == "ingested" for r in results)
    same = sum(r.status == "unchanged" for r in results)
    for r in results:
        if r.status == "error":
            err.print(f"ingest: {r.line()}", highlight=False, markup=False)
    return f"ingest: {new} new or changed, {same} unchanged, {len(results) - new - same} other"


def run_generate(
    settings: GenerateSettings, console: Console, err: Console, cluster: Any = None
) -> RunResult:
    """Run (or estimate) a generation; raises ConfigError (2), GuardStop (4), or
    KeyboardInterrupt (130) with everything committed so far kept. With a
    :class:`generator.cluster.Cluster` the calls run on its workers (same records)."""
    if not Path(settings.docs).is_dir():
        raise ConfigError(f"document folder not found: {settings.docs}")
    if cluster is not None and settings.batch:
        raise ConfigError("--cluster and --batch: choose one (a batch has no calls to spread)")
    validate_model(settings.model)
    if settings.batch:
        from generator.providers.batch import check_batch_model

        check_batch_model(settings.model)
    if not settings.dry_run:
        check_credentials(settings.model, settings.api_base, settings.api_key_env)
    if settings.workers != "auto" and settings.concurrency < int(settings.workers):
        raise ConfigError("--concurrency must be at least --workers")
    if settings.workers not in ("auto", 0) and provider_prefix(settings.model) == "local":
        raise ConfigError(
            "--workers with a local/ model: each worker would start its own llama.cpp server; "
            "use --workers 0 (the default for local models)"
        )
    price = price_of(settings)
    if price is not None:
        register_price(settings.model, *price)
    started = time.monotonic()
    with open_run_folder(settings.run_dir, "generate", create=True) as run:
        journal = run.journal
        gj = GenJournal(journal)
        note = _ingest(settings, journal, err)
        p = prepare(settings, journal, gj)
        if run.heal(plan=heal_plan(p)).units_completed:  # records taken back: plan again
            p = prepare(settings, journal, gj)
        for line in p.notes:
            err.print(line, highlight=False)
        for warning in p.warnings:
            err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        cost = CostModel(
            settings.model,
            p.fitter,
            None if settings.dry_run else settings.max_cost,
            spent=gj.total_cost(),
            max_tokens=p.template.sampling.max_tokens,
            batch=settings.batch,
        )
        if settings.dry_run:
            prefix = shared_prefix_tokens(p.template, p.pending, p.seeds, settings.model)
            est = cost.estimate(p.pending, len(p.units) - len(p.pending), prefix)
            return _result(p, Tally(), started, 0, 0, estimate=est, note=note)
        record_start(p, journal)
        run_dir = Path(settings.run_dir)
        records = JsonlSink(run_dir / RECORDS_FILE)
        rejected = JsonlSink(run_dir / REJECTED_FILE)
        gj.start_session(p.fingerprint)
        live = LiveProgress(console, err, len({u.chunk.id for u in p.units}), 0)
        engine = Engine(p, gj, cost, records, rejected, live)
        live.progress.update(live.task, completed=engine.chunks_done)
        status, message, failed = "failed", "", True
        batches: dict[str, int] = {}
        try:
            plain = not settings.batch and cluster is None
            n = call_processes(settings, len(engine.pending)) if plain else 0
            if n:
                why = (
                    " (--workers auto: many calls in flight)" if settings.workers == "auto" else ""
                )
                err.print(f"calls run in {n} worker process{'es' * (n > 1)}{why}", highlight=False)
            with live:
                batches = asyncio.run(
                    _drive(engine, settings, n, (journal, cost, gj.session, _say(err)), cluster)
                )
            stop = provider_gave_up(engine.tally, engine.left_pending)
            if stop is not None:
                raise stop
            status, failed = "done", False
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI routes it to the same path)
            status, message = "interrupted", "interrupted (Ctrl-C or SIGTERM)"
            if settings.batch:
                _batches_left(journal, settings.run_dir, err)
            raise
        except Exception as exc:
            ours = from_os_error(exc)  # a full disk: a resumable stop, not a crash
            status = "stopped" if isinstance(ours, GuardStop) else "failed"
            message = str(ours) if ours is not None else f"{type(exc).__name__}: {exc}"
            message = message[:300]
            if ours is not None and ours is not exc:
                raise ours from exc
            raise
        finally:
            _end(gj, (records, rejected), status, message, quiet=failed)
        result = _result(
            p, engine.tally, started, engine.chunks_done, engine.chunks_total, note=note,
            total=gj.accepted(p.fingerprint),
        )  # fmt: skip
        result.left_pending = engine.left_pending
        result.batches = batches
        return result


def provider_gave_up(tally: Tally, left_pending: int) -> CircuitOpen | None:
    """The stop for a session in which every provider call failed and units stay pending
    (retries ran out on 429s or 5xx for every one): a small run never fills the breaker's
    window, and "done" with a warning would hide that nothing got through."""
    if not left_pending or not tally.calls or tally.failed_calls < tally.calls:
        return None
    provider = {r: n for r, n in tally.reasons.items() if r.startswith("provider:")}
    top = max(provider, key=lambda r: provider[r], default="provider:error")
    why = (
        "the provider rate limited every call (429) until retries ran out; wait, or lower "
        "--concurrency / set --rpm, then"
        if top == "provider:rate_limited" and len(provider) == 1
        else "the provider is failing (every call failed until retries ran out); fix the "
        "cause, then"
    )
    last = " ".join(tally.examples.get(top, "").split())[:160]
    return CircuitOpen(
        f"stopped: all {tally.calls} provider calls failed, {left_pending} units still "
        f"pending: {why} re-run the same command to resume (last error: {last})"
    )


def _end(
    gj: GenJournal, sinks: tuple[JsonlSink, ...], status: str, message: str, *, quiet: bool
) -> None:
    """Close the JSONL files and record how the session ended. ``quiet`` (the run is already
    ending with an error): a failure here (the same full disk) must not hide that error;
    the session row then stays "running" (``runs show`` checks the lock holder and says
    "not running: stopped (disk full?) or killed")."""
    for action in (*(sink.close for sink in sinks), lambda: gj.end_session(status, message)):
        try:
            action()
        except (OSError, sqlite3.Error):
            if not quiet:
                raise


async def _drive(
    engine: Engine,
    settings: GenerateSettings,
    n: int,
    batch: tuple[Any, ...] = (),
    cluster: Any = None,
) -> dict[str, int]:
    """Run the engine with calls in this process (n = 0), in n worker processes, on the
    workers of a Dask cluster, or through the provider's batch API (``--batch``;
    ``batch``: journal, cost model, session, how to say what the batches do)."""
    backend: Any
    stats: dict[str, int] = {}
    if cluster is not None:
        from generator.cluster.generate import DaskBackend

        backend = DaskBackend(settings, engine.on_call, cluster)
    elif settings.batch:
        from generator.generate.batch.backend import BatchBackend

        backend = BatchBackend(settings, engine.on_call, *batch)
        stats = backend.batching.stats
        if settings.records is not None:
            # --records: batches sized to what is still needed (plus a quarter for
            # rejections), not the whole plan: a batch is paid once submitted.
            left = max(1, settings.records - engine.p.accepted_before)
            per_unit = engine.p.template.records_per_call
            backend.capacity = max(1, math.ceil(left * 1.25 / per_unit))
    elif n > 0:
        from generator.generate.workers import ProcessBackend

        backend = ProcessBackend(settings, engine.on_call, n)
    else:
        backend = LocalBackend(settings, engine.on_call)
    # LiteLLM's import leaves a large, static heap (its model map); freezing it keeps every
    # later garbage collection from walking it again (roughly halves CPU per call here).
    with calls_heap():
        try:
            if cluster is not None:
                with cluster.stage("generate", items=len(engine.pending)):
                    await engine.run(backend)
            else:
                await engine.run(backend)
        finally:
            await backend.aclose()
            if cluster is not None:
                cluster.notes.append(backend.summary())
    return stats


def _result(
    p: Prepared,
    tally: Tally,
    started: float,
    done: int,
    total_chunks: int,
    *,
    estimate: Estimate | None = None,
    note: str = "",
    total: int = 0,
) -> RunResult:
    return RunResult(
        tally=tally,
        elapsed=time.monotonic() - started,
        chunks_done=done,
        chunks_total=total_chunks or len({u.chunk.id for u in p.units}),
        total_accepted=total,
        units_total=len(p.units),
        estimate=estimate,
        ingest_note=note,
    )


def _say(err: Console) -> Any:
    """How ``--batch`` reports what its batches do: one plain line each, on stderr."""
    return lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True)


def _batches_left(journal: Journal, run_dir: str, err: Console) -> None:
    """After Ctrl-C with --batch: the batches in flight go on at the provider (and are
    paid): say how to collect or cancel them."""
    from generator.generate.batch.journal import IN_FLIGHT, BatchJournal

    try:
        n = len(BatchJournal(journal).rows(IN_FLIGHT))
    except sqlite3.Error:
        return
    if n:
        err.print(
            f"{n} batch(es) still run at the provider and are paid when they finish: re-run "
            f"the same command to collect them, or cancel them with "
            f"`instructforge runs cancel {run_dir}`",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
