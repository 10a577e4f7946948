"""The batch engine (:mod:`generator.generate.batch.queue`) against OpenAI's batch API at
the wire: expiry and partial failures re-planned, unreadable lines, 5xx while polling,
re-attaching after a crash, the budget's worst case, cancellation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import respx

from generator.errors import (
    BadRequestError,
    BatchCancelled,
    BudgetExceeded,
    CircuitOpen,
    RetriesExhausted,
)
from generator.generate.batch.backend import worst_cost
from generator.generate.batch.journal import BatchJournal
from generator.generate.batch.queue import BatchBudget, BatchingProvider, BatchOptions, custom_id
from generator.providers.base import Completion, CompletionRequest, request_hash
from generator.providers.batch import client_for
from generator.providers.resilience import Attempt
from generator.store import Journal
from tests.generate.batch.wire import FakeOpenAIBatches, Plan
from tests.providers.conftest import OPENAI_KEY
from tests.providers.test_wire import SCHEMA

MODEL = "openai/gpt-4o-mini"
FAST = BatchOptions(poll_s=0.01, poll_max_s=0.02, linger_s=0.01, max_step_retries=2)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)


def req(i: int, max_tokens: int = 512) -> CompletionRequest:
    return CompletionRequest(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Write records about the document."},
            {"role": "user", "content": f"<document>Fact number {i} about leave.</document>"},
        ],
        json_schema=SCHEMA,
        max_tokens=max_tokens,
    )


def provider(tmp: Path, *, budget: BatchBudget | None = None, session: int = 1,
             options: BatchOptions = FAST) -> tuple[BatchingProvider, list[Attempt]]:  # fmt: skip
    attempts: list[Attempt] = []
    journal = Journal(tmp, create=True)
    bp = BatchingProvider(
        client_for(MODEL), BatchJournal(journal), options, session=session, budget=budget,
        on_attempt=attempts.append, unit_of=lambda d: f"unit-{d[:6]}",
    )  # fmt: skip
    return bp, attempts


def ask(bp: BatchingProvider, requests: list[CompletionRequest]) -> list[Any]:
    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(bp.complete(r) for r in requests), return_exceptions=True)
        finally:
            await bp.aclose()

    return asyncio.run(go())


def states(tmp: Path) -> list[tuple[str, str | None]]:
    with Journal(tmp) as j:
        return [(r["state"], r["batch_id"]) for r in BatchJournal(j).rows()]


def test_one_batch_answers_every_request_and_journals_each_step(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches()
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i) for i in range(3)])
    assert all(isinstance(c, Completion) for c in out)
    assert [json.loads(c.text)["records"][0]["instruction"][-12:] for c in out] == [
        f"({custom_id(request_hash(req(i)))[:10]})" for i in range(3)
    ]  # each request got its own answer
    assert (wire.uploads, wire.creates) == (1, 1)
    assert states(tmp_path) == [("collected", "batch_1")]
    assert bp.stats["created"] == 1
    # priced at the batch rate with the cached tokens at the cached batch rate
    c = out[0].usage
    assert (c.prompt_tokens, c.cached_tokens) == (100, 64)
    assert c.cost_usd == pytest.approx((36 * 0.075 + 64 * 0.0375 + 20 * 0.3) / 1e6)


def test_expired_batch_is_reported_and_its_unanswered_requests_replanned(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(end="expired", outcome={1: "lost"}), Plan()])
    bp, attempts = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i) for i in range(3)])
    assert all(isinstance(c, Completion) for c in out)
    assert wire.creates == 2
    assert len(wire.batches["batch_2"]["lines"]) == 1  # only the unanswered one again
    assert states(tmp_path) == [("expired", "batch_1"), ("collected", "batch_2")]
    assert [a.status for a in attempts] == ["batch_expired"]
    assert len(wire.billed) == 3  # nothing paid twice
    assert bp.stats["resubmitted"] == 1


def test_partial_failures_retry_transient_and_fail_bad_requests(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(outcome={1: "500", 2: "400"}), Plan()])
    bp, attempts = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i) for i in range(4)])
    assert isinstance(out[0], Completion) and isinstance(out[3], Completion)
    assert isinstance(out[1], Completion)  # the 500 was asked again in a second batch
    assert isinstance(out[2], BadRequestError)  # a 400 would fail again: its unit stays pending
    assert wire.creates == 2 and len(wire.batches["batch_2"]["lines"]) == 1
    assert sorted(a.status for a in attempts) == ["bad_request", "server_error"]


def test_malformed_output_lines_are_counted_and_their_requests_asked_again(
    tmp_path: Path,
) -> None:
    wire = FakeOpenAIBatches([Plan(outcome={0: "garbled"}), Plan()])
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i) for i in range(2)])
    assert all(isinstance(c, Completion) for c in out)
    assert bp.stats["malformed"] == 1 and wire.creates == 2
    with Journal(tmp_path) as j:
        assert BatchJournal(j).rows()[0]["malformed"] == 1


def test_provider_5xx_while_polling_is_retried(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(fail_polls=3)])
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(0)])
    assert isinstance(out[0], Completion) and wire.creates == 1


def test_polling_that_keeps_failing_stops_the_run_resumably(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(fail_polls=100)])
    opts = BatchOptions(poll_s=0.01, poll_max_s=0.01, linger_s=0.01, max_poll_failures=3)
    bp, _ = provider(tmp_path, options=opts)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(0)])
    assert isinstance(out[0], CircuitOpen) and "re-attach" in str(out[0])
    assert states(tmp_path) == [("validating", "batch_1")]  # still there to re-attach to


def test_a_failed_batch_fails_its_requests_without_asking_again(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(end="failed")])
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(0), req(1)])
    assert all(isinstance(e, BadRequestError) and "bad file" in str(e) for e in out)
    assert wire.creates == 1 and states(tmp_path) == [("failed", "batch_1")]


def test_expiring_again_and_again_gives_up(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(end="expired", outcome={0: "lost"})])
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(0)])
    assert isinstance(out[0], RetriesExhausted)
    assert wire.creates == FAST.max_resubmits + 1


def test_cancelled_batch_stops_the_run(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches([Plan(end="cancelled", outcome={1: "lost"})])
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(0), req(1)])
    assert isinstance(out[0], Completion)  # answered before the cancel: kept
    assert isinstance(out[1], BatchCancelled)
    assert wire.creates == 1


def test_restart_reattaches_instead_of_creating_a_batch(tmp_path: Path) -> None:
    """A crash while a batch was in flight: the next session asks the same requests and
    gets them from that batch; nothing is uploaded or created, nothing paid twice."""
    wire = FakeOpenAIBatches([Plan(polls_before_end=1000)])
    first, _ = provider(tmp_path, session=1)
    requests = [req(i) for i in range(3)]

    async def crash() -> None:  # the first session dies while its batch runs
        tasks = [asyncio.ensure_future(first.complete(r)) for r in requests]
        for _ in range(200):
            await asyncio.sleep(0.01)
            if states(tmp_path) and states(tmp_path)[0][1] is not None:
                break
        for t in tasks:
            t.cancel()
        await first.aclose()

    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        asyncio.run(crash())
        assert states(tmp_path)[0][0] in ("validating", "in_progress")
        wire.batches["batch_1"]["plan"].polls_before_end = 0  # it finishes meanwhile
        second, _ = provider(tmp_path, session=2)
        out = ask(second, requests)
    assert all(isinstance(c, Completion) for c in out)
    assert (wire.uploads, wire.creates) == (1, 1)
    assert second.stats["attached"] == 1 and second.stats["created"] == 0
    assert len(wire.billed) == 3


@pytest.mark.parametrize("found", [True, False])
def test_restart_after_a_crash_around_the_create_call(tmp_path: Path, found: bool) -> None:
    """Journaled "submitting" (the create call may or may not have happened): the batch is
    looked for at the provider (by our input file) before anything is created again."""
    wire = FakeOpenAIBatches()
    requests = [req(0), req(1)]
    client = client_for(MODEL)
    cids = {custom_id(request_hash(r)): request_hash(r) for r in requests}
    lines = [client.line(c, r) for c, r in zip(cids, requests, strict=True)]
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)

        async def half_done() -> None:
            file_id = await client.upload(lines)
            if found:
                await client.create(file_id, lines, "s1-1")
            await client.aclose()
            with Journal(tmp_path, create=True) as j:
                bj = BatchJournal(j)
                rows = [(c, d, "u") for c, d in cids.items()]
                bj.start("s1-1", "openai", rows, 10, None, 1)
                bj.update("s1-1", state="uploaded", file_id=file_id)
                bj.update("s1-1", state="submitting")

        asyncio.run(half_done())
        bp, _ = provider(tmp_path, session=2)
        out = ask(bp, requests)
    assert all(isinstance(c, Completion) for c in out)
    assert wire.creates == 1  # found: re-attached; not found: created once, now
    got = states(tmp_path)
    assert got[0][0] == ("collected" if found else "abandoned")


def test_max_cost_refuses_a_batch_whose_worst_case_could_pass_it(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches()
    one = worst_cost(req(0, max_tokens=4000))
    assert one > 0
    budget = BatchBudget(one * 0.5, lambda: 0.0, worst_cost)
    bp, _ = provider(tmp_path, budget=budget)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i, max_tokens=4000) for i in range(3)])
    assert all(isinstance(e, BudgetExceeded) for e in out)
    assert (wire.uploads, wire.creates) == (0, 0)  # nothing sent, nothing journaled
    assert states(tmp_path) == []


def test_max_cost_submits_the_part_that_fits(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches()
    one = worst_cost(req(0, max_tokens=4000))
    spent = 0.0
    budget = BatchBudget(one * 2.5, lambda: spent, worst_cost)
    bp, _ = provider(tmp_path, budget=budget)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i, max_tokens=4000) for i in range(4)])
    assert [type(x).__name__ for x in out] == [
        "Completion", "Completion", "BudgetExceeded", "BudgetExceeded"
    ]  # fmt: skip
    assert len(wire.batches["batch_1"]["lines"]) == 2
    with Journal(tmp_path) as j:
        assert BatchJournal(j).rows()[0]["worst_cost_usd"] == pytest.approx(2 * one)


def test_a_request_two_units_ask_is_sent_and_paid_once(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches()
    bp, _ = provider(tmp_path)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(0), req(0)])
    assert len(wire.batches["batch_1"]["lines"]) == 1
    assert out[0].text == out[1].text
    assert out[0].usage.cost_usd > 0 and out[1].usage.cost_usd == 0.0


def test_batches_split_within_request_and_byte_limits(tmp_path: Path) -> None:
    wire = FakeOpenAIBatches()
    opts = BatchOptions(poll_s=0.01, poll_max_s=0.02, linger_s=0.01, max_requests=2)
    bp, _ = provider(tmp_path, options=opts)
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i) for i in range(5)])
    assert all(isinstance(c, Completion) for c in out)
    assert sorted(len(b["lines"]) for b in wire.batches.values()) == [1, 2, 2]
    # bytes: a limit that holds two lines at most
    wire = FakeOpenAIBatches()
    bp, _ = provider(tmp_path / "bytes")
    size = len(bp.client.line("r" * 49, req(0)))
    bp.max_bytes = 2 * size + 5
    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        out = ask(bp, [req(i) for i in range(5)])
    assert all(isinstance(c, Completion) for c in out)
    assert sorted(len(b["lines"]) for b in wire.batches.values()) == [1, 2, 2]


def test_an_error_while_forming_a_batch_reaches_the_callers(tmp_path: Path) -> None:
    bp, _ = provider(tmp_path)

    def broken(cid: str, request: CompletionRequest) -> bytes:
        raise ValueError("cannot build the line")

    bp.client.line = broken  # type: ignore[method-assign]
    out = ask(bp, [req(0), req(1)])  # would wait for ever if the error were lost
    assert all(isinstance(e, ValueError) for e in out)


def test_a_crash_before_the_create_call_leaves_nothing_to_attach(tmp_path: Path) -> None:
    with Journal(tmp_path, create=True) as j:
        bj = BatchJournal(j)
        bj.start("s1-1", "openai", [(custom_id(request_hash(req(0))), request_hash(req(0)), "u")],
                 10, 1.0, 1)  # fmt: skip
        assert bj.in_flight_worst() == 1.0
        assert bj.abandon_uploads() == 1
        assert bj.batch_of(request_hash(req(0))) is None and bj.in_flight_worst() == 0.0


def test_a_reask_travels_in_a_follow_up_batch(tmp_path: Path) -> None:
    """The synchronous path's executor on top: an answer that fails validation is asked
    again (with the error appended) in the next batch, and its unit gets valid records."""
    from generator.generate.executor import UnitExecutor, UnitSpec

    wire = FakeOpenAIBatches([Plan(outcome={0: "prose"}), Plan()])
    bp, _ = provider(tmp_path)
    rows: list[Any] = []
    executor = UnitExecutor(bp, rows.append)
    specs = [UnitSpec(f"u{i}", i, f"c{i}", "alpaca", req(i)) for i in range(2)]

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(executor.run(s) for s in specs))
        finally:
            await bp.aclose()

    with respx.mock(assert_all_called=False) as mock:
        wire.install(mock)
        outcomes = asyncio.run(go())
    assert all(o.valid and o.error is None for o in outcomes)
    assert [r["reasked"] for r in outcomes[0].rejections] == [True]  # the prose, re-asked
    assert wire.creates == 2
    (line,) = wire.batches["batch_2"]["lines"]
    messages = line["body"]["messages"]
    assert len(messages) == 4 and messages[2]["content"] == "Sure! Here are some ideas."
    assert [r.kind for r in rows] == ["ask", "ask", "reask"]
    assert sum(r.cost_usd for r in rows) > 0
