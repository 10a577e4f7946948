"""``--workers N``: run units in N processes, each with its own asyncio loop and provider.

LiteLLM costs a few milliseconds of CPU per call, so one process saturates one core well
below what a fast provider can serve. Workers take the calls (ask, parse, re-ask); the parent
keeps everything that must be single and ordered: planning, rendering, the novelty pool, the
commit in plan order and every journal write. So there is one SQLite writer, and the
journal and the records are the same as with one process.

Messages over one duplex pipe per worker, pickled, in lists (everything one side queues in
one event-loop turn travels together): parent -> worker ``UnitSpec`` or None (stop); worker
-> parent ``("call", CallRow)`` as each call returns, ``("unit", outcome)``,
``("stop", unit_id, kind, message)`` when the circuit opened or something failed, and
``("ready",)`` once at start. A worker
whose parent died (even by SIGKILL) sees the pipe close and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import threading
from multiprocessing.connection import Connection
from typing import Any

from generator.errors import CircuitOpen, InstructforgeError
from generator.generate.executor import OnCall, UnitOutcome, UnitSpec
from generator.generate.settings import GenerateSettings


class WorkerFailed(InstructforgeError):
    """A worker process failed in an unexpected way (its message says how)."""


class _Sender:
    """Sends on a pipe from a thread, so an event loop never blocks on a full pipe (both
    ends writing while neither reads would deadlock a duplex pipe).

    Messages put in one event-loop iteration travel as one list (one pickle, one write, one
    wake-up of the other side): a call's row and its unit's outcome usually go together.
    """

    _CLOSE = object()

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self._batch: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        while (batch := self.queue.get()) is not self._CLOSE:
            try:
                self.conn.send(batch)
            except (OSError, ValueError):
                return  # the other end is gone

    def send(self, obj: Any) -> None:
        """Queue ``obj``; the batch leaves at the end of this loop iteration."""
        if not self._batch:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.flush)
        self._batch.append(obj)

    def flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self.queue.put(batch)

    def close(self) -> None:
        self.flush()
        self.queue.put(self._CLOSE)
        self.thread.join(5)


def _worker_main(conn: Connection, settings: dict[str, Any], share: int) -> None:
    from generator.config import apply_offline_defaults

    apply_offline_defaults()
    # EOF/OSError: the parent went away; Ctrl-C reaches the workers too: nothing to report.
    with contextlib.suppress(EOFError, OSError, KeyboardInterrupt):
        asyncio.run(_serve(conn, GenerateSettings(**settings), share))


async def _serve(conn: Connection, settings: GenerateSettings, share: int) -> None:
    from generator.generate.backend import build_executor, settle_heap

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    out = _Sender(conn)
    executor, provider = build_executor(settings, lambda row: out.send(("call", row)), share=share)
    settle_heap()  # see runner._drive; this process ends with the run: nothing to restore
    out.send(("ready",))

    async def run(spec: UnitSpec) -> None:
        try:
            out.send(("unit", await executor.run(spec)))
        except CircuitOpen as exc:
            out.send(("stop", spec.unit_id, "circuit", str(exc)))
        except Exception as exc:  # report, never die silently
            out.send(("stop", spec.unit_id, "error", f"{type(exc).__name__}: {exc}"))

    def readable() -> None:
        try:
            while conn.poll():
                for spec in conn.recv():
                    if spec is None:
                        done.set()
                        return
                    task = loop.create_task(run(spec))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        except (EOFError, OSError):
            done.set()

    loop.add_reader(conn.fileno(), readable)
    try:
        await done.wait()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        loop.remove_reader(conn.fileno())
        await provider.aclose()
        out.close()


class ProcessBackend:
    """Runs units in ``n`` worker processes; results come back to this loop."""

    def __init__(self, settings: GenerateSettings, on_call: OnCall, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork after threads and sqlite
        self.on_call = on_call
        self.capacity = settings.concurrency
        self.conns: list[Connection] = []
        self.senders: list[_Sender] = []
        self.procs: list[Any] = []
        self.load: list[int] = []
        self._futures: dict[str, tuple[int, asyncio.Future[UnitOutcome]]] = {}
        data = settings.model_dump(mode="json")
        for _ in range(n):
            mine, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=_worker_main, args=(theirs, data, n), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.senders.append(_Sender(mine))
            self.procs.append(proc)
            self.load.append(0)
        self._started = False
        self._ready = 0
        self._all_ready: asyncio.Event | None = None

    async def ready(self) -> None:
        """Wait until every worker has imported LiteLLM and built its provider (benchmarks
        use it to time calls, not start-up)."""
        if not self._started:
            self._start()
        assert self._all_ready is not None
        await self._all_ready.wait()

    def _start(self) -> None:
        self._all_ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        for i, conn in enumerate(self.conns):
            loop.add_reader(conn.fileno(), self._readable, i)
        self._started = True

    def _readable(self, i: int) -> None:
        conn = self.conns[i]
        try:
            while conn.poll():
                for msg in conn.recv():
                    self._handle(msg)
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())
            err = WorkerFailed(f"worker process {i} exited unexpectedly")
            for w, fut in list(self._futures.values()):
                if w == i and not fut.done():
                    fut.set_exception(err)

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            self._ready += 1
            if self._ready == len(self.conns) and self._all_ready is not None:
                self._all_ready.set()
            return
        if kind == "call":
            self.on_call(msg[1])
            return
        unit_id = msg[1].unit_id if kind == "unit" else msg[1]
        worker, fut = self._futures.pop(unit_id)
        self.load[worker] -= 1
        if fut.done():
            return
        if kind == "unit":
            fut.set_result(msg[1])
        elif msg[2] == "circuit":
            fut.set_exception(CircuitOpen(msg[3]))
        else:
            fut.set_exception(WorkerFailed(f"worker failed: {msg[3]}"))

    async def run(self, spec: UnitSpec) -> UnitOutcome:
        if not self._started:
            self._start()
        worker = min(range(len(self.conns)), key=self.load.__getitem__)
        fut: asyncio.Future[UnitOutcome] = asyncio.get_running_loop().create_future()
        self._futures[spec.unit_id] = (worker, fut)
        self.load[worker] += 1
        self.senders[worker].send(spec)
        return await fut

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        for conn, sender in zip(self.conns, self.senders, strict=True):
            if self._started:
                loop.remove_reader(conn.fileno())
            sender.send(None)
            sender.close()
        wait = 1.0 if self._futures else 10.0  # interrupted with units in flight: be quick
        for proc in self.procs:
            await asyncio.to_thread(proc.join, wait)
            if proc.is_alive():
                proc.terminate()
        for conn in self.conns:
            conn.close()
