"""``--workers N``: run units in N processes, each with its own asyncio loop and provider.

LiteLLM costs a few milliseconds of CPU per call, so one process saturates one core well
below what a fast provider can serve. Workers take the calls (ask, parse, re-ask); the parent
keeps everything that must be single and ordered: planning, rendering, the novelty pool, the
commit in plan order and every journal write. So there is one SQLite writer, and the
journal and the records are the same as with one process.

Messages over one socket pair per worker (:class:`~generator.generate.channel.Channel`,
pickled in per-loop-iteration batches, on both event loops): parent -> worker ``UnitSpec``
or None (stop); worker -> parent ``("call", CallRow)`` as each call returns,
``("unit", outcome)``, ``("stop", unit_id, kind, message)`` when the circuit opened (kind
``circuit``, or ``key`` for a refused key) or something failed, and ``("ready",)`` once at
start. A worker whose parent died (even by SIGKILL) sees the socket close and exits; on
"stop" with units still running (the parent was interrupted) it cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from generator.errors import CircuitOpen, InstructforgeError, KeyRejected
from generator.generate.channel import Channel
from generator.generate.executor import OnCall, UnitOutcome, UnitSpec
from generator.generate.settings import GenerateSettings


class WorkerFailed(InstructforgeError):
    """A worker process failed in an unexpected way (its message says how)."""


# The unit protocol, shared with ``--cluster`` (:mod:`generator.cluster.generate`).
async def run_unit(executor: Any, spec: UnitSpec, send: Callable[[Any], None]) -> None:
    """Worker side: run one unit and send its outcome, or why it stopped (a circuit that
    opened, a refused key, anything else that failed: reported, never a silent death)."""
    try:
        send(("unit", await executor.run(spec)))
    except CircuitOpen as exc:
        kind = "key" if isinstance(exc, KeyRejected) else "circuit"
        send(("stop", spec.unit_id, kind, str(exc)))
    except Exception as exc:
        send(("stop", spec.unit_id, "error", f"{type(exc).__name__}: {exc}"))


def spawn(tasks: set[asyncio.Task[None]], unit: Coroutine[Any, Any, None]) -> None:
    """Worker side: run ``unit`` as a task kept in ``tasks`` until it ends."""
    task = asyncio.get_running_loop().create_task(unit)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def until_stopped(
    done: asyncio.Event, tasks: set[asyncio.Task[None]], provider: Any, out: Channel
) -> None:
    """Worker side, once ready: wait to be told to stop (``done``), then cancel the units
    still running, not wait for them, and close the provider and the channel. The parent
    sends "stop" with units still out only when it was interrupted (or failed): it waits
    for nobody, so neither do we. A unit in a Retry-After pause would otherwise hold the
    worker (and the parent's join) for the whole pause."""
    try:
        await done.wait()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await provider.aclose()
        await out.aclose()


def settle(fut: asyncio.Future[UnitOutcome], msg: tuple[Any, ...]) -> None:
    """Parent side: a unit's future from the worker's ``("unit", outcome)`` or ``("stop",
    unit_id, kind, message)``; a circuit or key stop raises as it did on the worker."""
    if msg[0] == "unit":
        fut.set_result(msg[1])
    elif msg[2] in ("circuit", "key"):
        fut.set_exception((KeyRejected if msg[2] == "key" else CircuitOpen)(msg[3]))
    else:
        fut.set_exception(WorkerFailed(f"worker failed: {msg[3]}"))


def _worker_main(sock: socket.socket, settings: dict[str, Any], share: int) -> None:
    from generator.config import apply_offline_defaults

    apply_offline_defaults()
    # OSError: the parent went away mid-write; Ctrl-C reaches the workers too: nothing to report.
    with contextlib.suppress(OSError, KeyboardInterrupt):
        asyncio.run(_serve(sock, GenerateSettings(**settings), share))


async def _serve(sock: socket.socket, settings: GenerateSettings, share: int) -> None:
    from generator.generate.backend import build_executor, settle_heap

    done = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def run(spec: UnitSpec) -> None:
        await run_unit(executor, spec, out.send)  # the executor is built once the channel is

    def received(spec: UnitSpec | None) -> None:
        if spec is None or done.is_set():
            done.set()
            return
        spawn(tasks, run(spec))

    out = await Channel.open(sock, received, lambda _exc: done.set())
    executor, provider = build_executor(settings, lambda row: out.send(("call", row)), share=share)
    settle_heap()  # see runner._drive; this process ends with the run: nothing to restore
    out.send(("ready",))
    await until_stopped(done, tasks, provider, out)


class ProcessBackend:
    """Runs units in ``n`` worker processes; results come back to this loop."""

    def __init__(self, settings: GenerateSettings, on_call: OnCall, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork after threads and sqlite
        self.on_call = on_call
        self.capacity = settings.concurrency
        self.socks: list[socket.socket] = []
        self.chans: list[Channel] = []
        self.procs: list[Any] = []
        self.load: list[int] = []
        self._futures: dict[str, tuple[int, asyncio.Future[UnitOutcome]]] = {}
        data = settings.model_dump(mode="json")
        for _ in range(n):
            mine, theirs = socket.socketpair()
            proc = ctx.Process(target=_worker_main, args=(theirs, data, n), daemon=True)
            proc.start()
            theirs.close()
            self.socks.append(mine)
            self.procs.append(proc)
            self.load.append(0)
        self._opening: asyncio.Task[None] | None = None
        self.dead: set[int] = set()  # workers whose channel closed
        self._ready = 0
        self._all_ready: asyncio.Event | None = None

    async def ready(self) -> None:
        """Wait until every worker has imported LiteLLM and built its provider (benchmarks
        use it to time calls, not start-up). A worker that dies first fails the wait."""
        await self._open()
        assert self._all_ready is not None
        await self._all_ready.wait()
        if self.dead:
            raise WorkerFailed(f"worker process {min(self.dead)} exited unexpectedly")

    def _open(self) -> asyncio.Task[None]:
        """The channels to the workers, opened once (awaited by every caller)."""
        if self._opening is None:
            self._all_ready = asyncio.Event()
            self._opening = asyncio.get_running_loop().create_task(self._open_channels())
        return self._opening

    async def _open_channels(self) -> None:
        for i, sock in enumerate(self.socks):
            chan = await Channel.open(sock, self._handle, lambda exc, i=i: self._lost(i))
            self.chans.append(chan)

    def _lost(self, i: int) -> None:
        self.dead.add(i)
        if self._all_ready is not None:
            self._all_ready.set()  # nobody waits for ever on a worker that is gone
        err = WorkerFailed(f"worker process {i} exited unexpectedly")
        for w, fut in list(self._futures.values()):
            if w == i and not fut.done():
                fut.set_exception(err)

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "ready":
            self._ready += 1
            if self._ready == len(self.socks) and self._all_ready is not None:
                self._all_ready.set()
            return
        if kind == "call":
            self.on_call(msg[1])
            return
        unit_id = msg[1].unit_id if kind == "unit" else msg[1]
        worker, fut = self._futures.pop(unit_id)
        self.load[worker] -= 1
        if not fut.done():
            settle(fut, msg)

    async def run(self, spec: UnitSpec) -> UnitOutcome:
        await self._open()  # done after the first call: no wait
        worker = min(range(len(self.chans)), key=self.load.__getitem__)
        if worker in self.dead:  # nobody would ever answer
            raise WorkerFailed(f"worker process {worker} exited unexpectedly")
        fut: asyncio.Future[UnitOutcome] = asyncio.get_running_loop().create_future()
        self._futures[spec.unit_id] = (worker, fut)
        self.load[worker] += 1
        self.chans[worker].send(spec)
        return await fut

    async def aclose(self) -> None:
        for chan in self.chans:
            chan.send(None)
            chan.flush()
        # Interrupted with units in flight: be quick. One deadline for all the workers, not
        # one each: eight slow workers must not add up to a long wait after a Ctrl-C.
        deadline = time.monotonic() + (1.0 if self._futures else 10.0)
        for proc in self.procs:
            await asyncio.to_thread(proc.join, max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 2.0)
            if proc.is_alive():  # it ignored SIGTERM: the parent still ends now
                proc.kill()
        for chan in self.chans:
            await chan.aclose()
        if not self.chans:  # never opened: the sockets are still ours to close
            for sock in self.socks:
                sock.close()
