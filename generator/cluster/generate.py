"""``generate --cluster``: provider calls run on Dask workers; everything that must be single
stays here, in the coordinator.

The engine is unchanged: it plans, renders, reserves the budget per unit (the cost guard),
keeps the novelty pool and commits in plan order, writing every journal row. This backend
only moves the calls. Each worker runs one long task (one asyncio loop for many units: an
async function per call would be capped at the worker's one thread) that connects back to a
channel served here and runs units as :mod:`generator.generate.workers` does.

One limiter, one budget: before every call a worker asks here (``("ask", hash, tokens)``)
and waits for ``("go", hash)``; the rpm and tpm buckets live here, so the caps hold for the
whole cluster however many workers there are. The budget is the engine's, per unit, here.

A worker that dies loses nothing and pays no call twice: each call's row reaches the
coordinator (and the journal) as soon as the reply does; when a worker's channel closes, its
units are sent to another worker with those replies attached (``UnitSpec.cached``), so a
call already answered is reused, not asked again. Dask starts the lost task again on a
restarted worker, which connects back. Only a call in flight at the moment of death (asked,
no reply yet) can be sent again: it is counted (``in_flight_lost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from generator.generate.channel import Channel
from generator.generate.executor import OnCall, UnitOutcome, UnitSpec
from generator.generate.journal import CallRow
from generator.generate.settings import GenerateSettings
from generator.generate.workers import WorkerFailed, run_unit, settle, spawn, until_stopped
from generator.providers.base import CompletionRequest, request_hash
from generator.providers.limits import TokenBucket

RECONNECT_S = 120.0  # how long units wait for a worker when none is connected


def _advertised_host(client: Any) -> str:
    """The address workers can reach this process at: loopback for a local cluster, else
    the interface this process uses to reach the scheduler."""
    addr = client.scheduler.address  # tcp://HOST:PORT
    host = addr.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host.startswith("127.") or host in ("localhost", "::1"):
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))  # no packet is sent: only the route is looked up
        return probe.getsockname()[0]


# --------------------------------------------------------------------------- worker side
def serve_on_worker(host: str, port: int, settings: dict[str, Any], token: str) -> str:
    """The long task on one Dask worker: connect back and run units until told to stop."""
    from generator.config import apply_offline_defaults

    apply_offline_defaults()
    try:
        sock = socket.create_connection((host, port), timeout=30)
    except OSError:  # the run ended before this (restarted) task started: nothing to do
        return token
    sock.settimeout(None)
    with contextlib.suppress(OSError):
        asyncio.run(_serve(sock, GenerateSettings(**settings), token))
    return token


class _AskingProvider:
    """Wraps the worker's provider: every call waits for the coordinator's go."""

    def __init__(self, inner: Any, ask: Callable[[str, int], asyncio.Future[None]]) -> None:
        self.inner, self.ask = inner, ask

    async def complete(self, request: CompletionRequest) -> Any:
        tokens = int(request.max_tokens or 0) + sum(len(str(m)) // 4 for m in request.messages)
        await self.ask(request_hash(request), tokens)
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def _serve(sock: socket.socket, settings: GenerateSettings, token: str) -> None:
    from generator.generate.backend import build_executor

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    waiting: dict[str, deque[asyncio.Future[None]]] = {}

    def ask(digest: str, tokens: int) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = loop.create_future()
        waiting.setdefault(digest, deque()).append(fut)
        out.send(("ask", digest, tokens))
        return fut

    async def run(spec: UnitSpec) -> None:
        await run_unit(executor, spec, out.send)  # the executor is built once the channel is

    def received(msg: Any) -> None:
        if msg is None or done.is_set():
            done.set()
        elif isinstance(msg, tuple) and msg[0] == "go":
            queue = waiting.get(msg[1])
            if queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)
        else:
            spawn(tasks, run(msg))

    out = await Channel.open(sock, received, lambda _exc: done.set())
    # The caps are the coordinator's: this worker's provider keeps its retries and backoff.
    local = settings.model_copy(update={"rpm": None, "tpm": None})
    executor, provider = build_executor(local, lambda row: out.send(("call", row)))
    executor.provider = _AskingProvider(executor.provider, ask)
    out.send(("ready", token))
    await until_stopped(done, tasks, provider, out)


# ---------------------------------------------------------------------- coordinator side
class _Conn:
    def __init__(self, chan: Channel) -> None:
        self.chan = chan
        self.units: set[str] = set()
        self.asked: set[str] = set()  # calls given a go and not answered yet
        self.ready = False


class DaskBackend:
    """Runs units on the workers of a Dask cluster (see the module docstring)."""

    def __init__(self, settings: GenerateSettings, on_call: OnCall, cluster: Any) -> None:
        self.settings, self.on_call, self.cluster = settings, on_call, cluster
        self.capacity = settings.concurrency
        self.rpm = TokenBucket(settings.rpm) if settings.rpm else None
        self.tpm = TokenBucket(settings.tpm) if settings.tpm else None
        self.conns: dict[int, _Conn] = {}
        self.specs: dict[str, UnitSpec] = {}
        self.futures: dict[str, asyncio.Future[UnitOutcome]] = {}
        self.where: dict[str, int] = {}
        self.queue: deque[str] = deque()  # units waiting for a worker
        self.replies: dict[str, dict[str, CallRow]] = {}  # unit -> hash -> answered call
        self.lost_workers = 0
        self.in_flight_lost = 0
        self.calls_allowed = 0
        self._server: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: list[Any] = []
        self._started: asyncio.Task[None] | None = None
        self._next_conn = 0
        self._no_worker_since: float | None = None
        self._closing = False  # channels closing from here are not lost workers

    # -- start and stop
    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        client = self.cluster.client
        host = _advertised_host(client)
        server = socket.create_server((host, 0))
        server.setblocking(False)
        self._server = server
        self._accepting = loop.create_task(self._accept(server))
        port = server.getsockname()[1]
        data = self.settings.model_dump(mode="json")
        for i in range(self.cluster.n_workers):
            token = f"generate-{uuid.uuid4().hex[:12]}-{i}"
            self._tasks.append(
                client.submit(serve_on_worker, host, port, data, token, key=token, pure=False)
            )

    def _ensure_started(self) -> asyncio.Task[None]:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())
        return self._started

    async def _accept(self, server: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sock, _ = await loop.sock_accept(server)
            cid = self._next_conn
            self._next_conn += 1
            chan = await Channel.open(
                sock, lambda msg, cid=cid: self._handle(cid, msg), lambda _e, c=cid: self._lost(c)
            )
            self.conns[cid] = _Conn(chan)

    async def aclose(self) -> None:
        self._closing = True
        for conn in self.conns.values():
            conn.chan.send(None)
            conn.chan.flush()
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._server is not None:
            self._server.close()
        if self._tasks:
            wait = asyncio.to_thread(self.cluster.client.gather, self._tasks, errors="skip")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(wait, 10.0)
            for fut in self._tasks:
                fut.cancel()
        for conn in list(self.conns.values()):
            await conn.chan.aclose()

    # -- messages from the workers
    def _handle(self, cid: int, msg: tuple[Any, ...]) -> None:
        conn = self.conns.get(cid)
        if conn is None:
            return
        kind = msg[0]
        if kind == "ready":
            conn.ready = True
            self._no_worker_since = None
            self._pump()
        elif kind == "ask":
            conn.asked.add(msg[1])
            asyncio.get_running_loop().create_task(self._allow(conn, msg[1], msg[2]))
        elif kind == "call":
            row: CallRow = msg[1]
            conn.asked.discard(row.request_hash)
            if row.status == "ok" and row.reply is not None:
                self.replies.setdefault(row.unit_id, {})[row.request_hash] = row
            self.on_call(row)
        else:
            self._finish(conn, msg)

    async def _allow(self, conn: _Conn, digest: str, tokens: int) -> None:
        if self.rpm is not None:
            await self.rpm.take(1)
        if self.tpm is not None:
            await self.tpm.take(tokens)
        self.calls_allowed += 1
        conn.chan.send(("go", digest))

    def _finish(self, conn: _Conn, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        unit_id = msg[1].unit_id if kind == "unit" else msg[1]
        conn.units.discard(unit_id)
        self.where.pop(unit_id, None)
        self.specs.pop(unit_id, None)
        self.replies.pop(unit_id, None)
        fut = self.futures.pop(unit_id, None)
        if fut is None or fut.done():
            return
        settle(fut, msg)
        self._pump()

    def _lost(self, cid: int) -> None:
        conn = self.conns.pop(cid, None)
        if conn is None or self._closing:
            return
        self.lost_workers += 1
        self.in_flight_lost += len(conn.asked)
        for unit_id in sorted(conn.units, key=lambda u: self.specs[u].pos):
            spec = self.specs[unit_id]
            answered = self.replies.get(unit_id, {})
            # answered calls travel with the unit: the next worker reuses them
            self.specs[unit_id] = _with_cached(spec, answered)
            self.where.pop(unit_id, None)
            self.queue.appendleft(unit_id)
        self._pump()
        if not any(c.ready for c in self.conns.values()):
            asyncio.get_running_loop().create_task(self._watch_reconnect())

    async def _watch_reconnect(self) -> None:
        """Fail the waiting units if no worker connects again in time."""
        loop = asyncio.get_running_loop()
        since = self._no_worker_since = loop.time()
        while loop.time() - since < RECONNECT_S:
            await asyncio.sleep(0.5)
            if self._no_worker_since != since:
                return  # a worker came back
        err = WorkerFailed(f"no Dask worker connected for {RECONNECT_S:.0f} s")
        while self.queue:
            fut = self.futures.pop(self.queue.popleft(), None)
            if fut is not None and not fut.done():
                fut.set_exception(err)

    # -- dispatch
    def _pump(self) -> None:
        ready = [(cid, c) for cid, c in self.conns.items() if c.ready]
        while self.queue and ready:
            unit_id = self.queue.popleft()
            if unit_id not in self.futures:
                continue
            cid, conn = min(ready, key=lambda rc: len(rc[1].units))
            conn.units.add(unit_id)
            self.where[unit_id] = cid
            conn.chan.send(self.specs[unit_id])

    async def run(self, spec: UnitSpec) -> UnitOutcome:
        await self._ensure_started()
        fut: asyncio.Future[UnitOutcome] = asyncio.get_running_loop().create_future()
        self.futures[spec.unit_id] = fut
        self.specs[spec.unit_id] = spec
        self.queue.append(spec.unit_id)
        self._pump()
        return await fut

    def summary(self) -> str:
        return (
            f"calls allowed by the coordinator {self.calls_allowed}; workers lost "
            f"{self.lost_workers}; calls in flight when a worker died {self.in_flight_lost}"
        )


def _with_cached(spec: UnitSpec, answered: dict[str, CallRow]) -> UnitSpec:
    if not answered:
        return spec
    cached = {**spec.cached, **answered}
    return UnitSpec(
        spec.unit_id,
        spec.pos,
        spec.chunk_id,
        spec.fmt,
        spec.request,
        cached=cached,
        keep_reasoning=spec.keep_reasoning,
        turns=spec.turns,
    )
