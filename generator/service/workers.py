"""``serve --workers N``: N asyncio tasks in the server, each running one job at a time.

A worker claims a job (:mod:`generator.service.jobs`) and runs its stage as a child
``instructforge generate|curate|export`` process over the project's run folder. Why a child
process rather than calling the stage function in this one: the stages are CPU-bound and
run their own event loops; the CLI's error mapping gives one scrubbed line and the
documented exit code (0 done, 2 failed, 3 refused, 4 stopped, 130/143 interrupted and
resumable); SIGTERM stops a stage the resumable way (cancel); the run folder's lock is
released by the OS however the child ends; and a job runs exactly the code a CLI user runs,
so it gives the same records. The child gets SIGTERM when this server dies
(``PR_SET_PDEATHSIG``), so a killed server leaves no orphan paying for calls.

While it runs, the worker beats every ``heartbeat`` seconds with the run's counts and cost
(read from the run journal), and stops the child when a cancel was asked or when it lost
the job. Any worker puts back running jobs whose beat is older than ``3 x heartbeat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from generator.service import jobs, runfiles
from generator.service.db import Database
from generator.service.settings import ServiceSettings

log = logging.getLogger("instructforge.service")

STALE_BEATS = 3  # a running job is stale after this many missed heartbeats
LOCK_WAIT_S = 30.0  # how long a job waits for its run folder to be free
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_server() -> None:
    """In the child, before exec: SIGTERM when the server (this thread) dies."""
    _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class JobRunner:
    """The server's workers (asyncio tasks) and the children they run."""

    def __init__(self, settings: ServiceSettings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.heartbeat = settings.heartbeat_s
        self.tasks: list[asyncio.Task[None]] = []
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.stopping = False
        self.warming: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        for _ in range(self.settings.workers):
            self.tasks.append(asyncio.create_task(self._loop(jobs.worker_name())))

    async def stop(self) -> None:
        """Server shutdown: stop the children (resumable) and put their jobs back."""
        self.stopping = True
        for child in list(self.children.values()):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=30)
        for task in self.tasks:
            task.cancel()

    async def _loop(self, worker: str) -> None:
        idle = min(1.0, self.heartbeat)
        while not self.stopping:
            try:
                await asyncio.to_thread(
                    jobs.requeue_stale, self.db, STALE_BEATS * self.heartbeat, worker
                )
                job = await asyncio.to_thread(jobs.claim, self.db, worker)
            except Exception:  # the database went away for a moment: try again
                log.exception("job queue unavailable")
                job = None
            if job is None:
                await asyncio.sleep(idle)
                continue
            try:
                await self._run(job, worker)
            except Exception as exc:
                log.exception("job %s failed in the worker", job["id"])
                await asyncio.to_thread(
                    jobs.finish, self.db, job["id"], worker, "failed", counts=job["counts"],
                    cost=job["cost_usd"], error=f"internal error: {type(exc).__name__}",
                )  # fmt: skip

    async def _run(self, job: dict[str, Any], worker: str) -> None:
        paths = runfiles.JobPaths(self.settings.data, job)
        paths.folder.mkdir(parents=True, exist_ok=True)
        if not await asyncio.to_thread(wait_free, paths.run_dir, LOCK_WAIT_S):
            await asyncio.to_thread(
                jobs.finish, self.db, job["id"], worker, "failed", counts=job["counts"],
                cost=job["cost_usd"], error="the run folder is busy (another process holds it)",
            )  # fmt: skip
            return
        argv = runfiles.command(job, paths, self.settings.cluster)
        with paths.log.open("ab") as out:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "generator.cli", *argv, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=asyncio.subprocess.STDOUT, preexec_fn=_die_with_server,
                start_new_session=True, env={**_child_env(), **runfiles.child_env(job)},
            )  # fmt: skip
        self.children[job["id"]] = child
        try:
            outcome = await self._watch(job, worker, child, paths)
        finally:
            self.children.pop(job["id"], None)
        if outcome is None:
            return  # lost the job: its new owner reports it
        status, error = outcome
        counts, cost = await asyncio.to_thread(runfiles.progress, job, paths)
        await asyncio.to_thread(
            jobs.finish, self.db, job["id"], worker, status, counts=counts, cost=cost,
            error=error, exit_code=child.returncode,
        )  # fmt: skip
        if job["kind"] in ("generate", "curate"):
            self._warm(job)

    def _warm(self, job: dict[str, Any]) -> None:
        """Bring the run's record index up to date in the background, so the first page of
        a big run after a job does not wait for it."""
        from generator.service.records_index import run_index

        index = run_index(self.settings.data, job["project_id"], job["run_id"])

        async def refresh() -> None:
            try:
                await asyncio.to_thread(index.refresh)
            except Exception:  # the next page request refreshes it again
                log.exception("record index of run %s", job["run_id"])

        task = asyncio.create_task(refresh())
        self.warming.add(task)
        task.add_done_callback(self.warming.discard)

    async def _watch(
        self, job: dict[str, Any], worker: str, child: asyncio.subprocess.Process,
        paths: runfiles.JobPaths,
    ) -> tuple[str, str | None] | None:  # fmt: skip
        """Beat until the child ends; (status, error), or None if the job was lost."""
        cancelled = False
        while True:
            try:
                await asyncio.wait_for(child.wait(), timeout=self.heartbeat)
                break
            except TimeoutError:
                pass
            counts, cost = await asyncio.to_thread(runfiles.progress, job, paths)
            try:
                asked = await asyncio.to_thread(jobs.beat, self.db, job["id"], worker, counts, cost)
            except Exception:
                log.exception("heartbeat of job %s failed", job["id"])
                continue
            if asked is None or (asked and not cancelled):
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
                cancelled = True
                if asked is None:
                    await child.wait()
                    return None
        rc = child.returncode
        if cancelled:
            if rc != 0 and job["kind"] == "generate" and job["params"].get("batch"):
                failed = await asyncio.to_thread(_cancel_batches, paths)
                if failed:  # they still run (and are paid) at the provider: say so
                    return "cancelled", failed
            return ("done", None) if rc == 0 else ("cancelled", "cancelled by request")
        if rc != 0 and self.stopping:
            return "queued", None  # server shutdown: another worker resumes it
        status = {0: "done", 4: "stopped"}.get(rc, "failed")
        if rc in (130, 143):
            status = "cancelled"  # stopped from outside (a signal to the child)
        return status, None if rc == 0 else runfiles.last_error(paths.log, rc)


def _cancel_batches(paths: runfiles.JobPaths) -> str | None:
    """Cancel the run's provider batches after its generate job was cancelled (stopping the
    child leaves them running, and paid, at the provider); an error line when that failed."""
    from generator.generate.batch.cancel import cancel_batches
    from generator.providers.errors import scrub

    try:
        for line in cancel_batches(paths.run_dir):
            log.info("run %s: %s", paths.run_dir.name, line)
    except Exception as exc:  # the job still ends cancelled; the batches are named
        log.exception("cancelling the batches of %s", paths.run_dir)
        return scrub(
            f"cancelled by request, but its provider batches could not be cancelled ({exc}): "
            "run `instructforge runs cancel RUN` on the server"
        )
    return None


def _child_env() -> dict[str, str]:
    """The server's environment (provider keys live only there)."""
    return dict(os.environ)


def wait_free(run_dir: Path, timeout: float) -> bool:
    """Wait until no process holds the run folder's lock (a child of a killed server may
    still be winding down); True when it is free."""
    lock = run_dir / "run.lock"
    deadline = time.monotonic() + timeout
    while True:
        if not lock.exists():
            return True
        try:
            with lock.open("a") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
