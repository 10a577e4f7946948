"""The worker channel: framed, batched messages over a socket pair, and what the parent sees
when a call process dies."""

from __future__ import annotations

import asyncio
import socket

import pytest

from generator.generate.channel import Channel
from generator.generate.executor import UnitSpec
from generator.generate.settings import GenerateSettings
from generator.generate.workers import ProcessBackend, WorkerFailed
from generator.providers.base import CompletionRequest


def test_messages_arrive_in_order_whole_and_batched_across_partial_reads() -> None:
    async def go() -> tuple[list, list, list]:
        a_sock, b_sock = socket.socketpair()
        got_a: list = []
        got_b: list = []
        closed: list = []
        a = await Channel.open(a_sock, got_a.append, closed.append)
        b = await Channel.open(b_sock, got_b.append, closed.append)
        big = "x" * 3_000_000  # far beyond a socket buffer: many partial reads
        for i in range(50):
            a.send(("n", i))
        a.send(("big", big))
        b.send("from b")
        while len(got_b) < 51 or not got_a:
            await asyncio.sleep(0.01)
        await a.aclose()
        while not closed or len(closed) < 2:
            await asyncio.sleep(0.01)
        return got_a, got_b, closed

    got_a, got_b, closed = asyncio.run(asyncio.wait_for(go(), 30))
    assert got_b[:50] == [("n", i) for i in range(50)]
    assert got_b[50] == ("big", "x" * 3_000_000)
    assert got_a == ["from b"]
    assert len(closed) == 2  # both ends learn that the channel closed


def _settings(tmp_path) -> GenerateSettings:
    return GenerateSettings(
        docs=str(tmp_path), run_dir=str(tmp_path / "run"), model="mock/echo", concurrency=4
    )


def test_a_dead_call_process_fails_its_units_with_one_clear_error(tmp_path) -> None:
    settings = _settings(tmp_path)
    spec = UnitSpec(
        unit_id="u1",
        pos=0,
        chunk_id="c1",
        fmt="alpaca",
        request=CompletionRequest(
            model="mock/echo", messages=[{"role": "user", "content": "3 records"}]
        ),
    )

    async def go(noticed_first: bool) -> str:
        backend = ProcessBackend(settings, lambda row: None, 1)
        try:
            await asyncio.wait_for(backend.ready(), 120)
            backend.procs[0].kill()
            while noticed_first and not backend.dead:
                await asyncio.sleep(0.01)
            with pytest.raises(WorkerFailed) as err:
                await asyncio.wait_for(backend.run(spec), 30)
            return str(err.value)
        finally:
            await backend.aclose()

    # The death noticed before the unit is sent, or while it is in flight: never a hang.
    for noticed_first in (True, False):
        assert asyncio.run(go(noticed_first)) == "worker process 0 exited unexpectedly"


def test_a_call_process_dying_before_it_is_ready_fails_the_wait(tmp_path) -> None:
    settings = _settings(tmp_path)

    async def go() -> str:
        backend = ProcessBackend(settings, lambda row: None, 2)
        try:
            backend.procs[1].kill()  # long before it has imported LiteLLM
            with pytest.raises(WorkerFailed) as err:
                await asyncio.wait_for(backend.ready(), 120)
            return str(err.value)
        finally:
            await backend.aclose()

    assert asyncio.run(go()) == "worker process 1 exited unexpectedly"
