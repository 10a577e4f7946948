"""Harmful-content provider check through LiteLLM's moderation call, pinned at the wire."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from httpx import Response

from generator.curate import judge
from generator.curate.harmful import HarmfulConfig
from generator.curate.registry import StepContext, build_step
from generator.errors import CircuitOpen
from generator.providers.resilience import RetryPolicy
from generator.records import AlpacaRecord, Meta
from generator.store import Journal

URL = "https://api.openai.com/v1/moderations"


def _result(flagged: bool, **cats: bool) -> dict:
    names = ["hate", "harassment", "violence", "sexual/minors", "self-harm", "illicit/violent"]
    categories = {n: cats.get(n.replace("/", "_").replace("-", "_"), False) for n in names}
    return {
        "flagged": flagged,
        "categories": categories,
        "category_scores": {n: 0.9 if v else 0.01 for n, v in categories.items()},
    }


def _body(result: dict) -> dict:
    return {"id": "modr-1", "model": "omni-moderation-latest", "results": [result]}


def _rec(rid: str, text: str) -> AlpacaRecord:
    return AlpacaRecord(
        instruction="Summarise the message.",
        input=text,
        output="Summary.",
        meta=Meta(id=rid, format="alpaca"),
    )


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(judge, "RETRY_POLICY", RetryPolicy(max_attempts=2, initial=0, jitter=0))


def test_moderation_flags_quarantine_and_results_are_journaled(
    tmp_path: Path, monkeypatch, fast_retries
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-moderation-000000000000000000000")
    journal = Journal(tmp_path / "run")
    ctx = StepContext(run_dir=tmp_path / "run", journal=journal)
    cfg = HarmfulConfig(model="openai/omni-moderation-latest")
    seen: list[str] = []

    def answer(request):
        text = request.content.decode()
        seen.append(text)
        if "veiled" in text:
            return Response(200, json=_body(_result(True, harassment=True)))
        if "broken" in text:
            return Response(500, json={"error": {"message": "upstream", "type": "server_error"}})
        return Response(200, json=_body(_result(False)))

    records = [
        _rec("a", "A veiled warning to the new hire to keep quiet."),
        _rec("b", "The quarterly targets are in the planning sheet."),
        _rec("c", "broken request"),
    ]
    with respx.mock() as router:
        router.post(URL).mock(side_effect=answer)
        step = build_step("harmful", cfg, ctx)
        kept = [r.meta.id for r in step.run(records)]
    assert kept == ["b"]  # c: the check failed (after a retry): review, never a pass
    why = {e.record.meta.id: (e.reason, e.destination) for e in step.excluded}
    assert why == {
        "a": ("harmful:harassment", "excluded"),
        "c": ("check_failed:harmful", "review"),
    }
    assert step.stats()["check_failed"] == {"records": 1, "checks": 3, "failed": 1, "unparsable": 0}
    assert sum("broken" in t for t in seen) == 2  # our retry policy, no hidden SDK retries
    statuses = dict(journal.query("SELECT record_id, status FROM judge_calls"))
    assert statuses == {"a": "ok", "b": "ok", "c": "RetriesExhausted"}
    assert "omni-moderation-latest" in seen[0]

    # a re-run reuses journaled results: only the failed call is made again
    with respx.mock() as router:
        route = router.post(URL).mock(return_value=Response(200, json=_body(_result(False))))
        step2 = build_step("harmful", cfg, ctx)
        assert [r.meta.id for r in step2.run(records)] == ["b", "c"]
    assert route.call_count == 1


def test_moderation_circuit_breaker_stops_instead_of_passing(tmp_path: Path, monkeypatch):
    """A moderation endpoint that keeps failing opens the judge's breaker: CircuitOpen."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-moderation-000000000000000000000")
    monkeypatch.setattr(judge, "RETRY_POLICY", RetryPolicy(max_attempts=1))
    journal = Journal(tmp_path / "run")
    step = build_step(
        "harmful",
        HarmfulConfig(model="openai/omni-moderation-latest"),
        StepContext(run_dir=tmp_path / "run", journal=journal),
    )
    records = [_rec(f"r{i}", f"message number {i}") for i in range(30)]
    with respx.mock() as router:
        router.post(URL).mock(return_value=Response(401, json={"error": {"message": "bad key"}}))
        with pytest.raises(CircuitOpen):
            list(step.run(records))
    assert step.kept == 0


def test_moderation_results_come_from_the_call_cache_in_another_run(
    tmp_path: Path, monkeypatch, fast_retries
):
    from generator.providers.cache import CallCache

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-moderation-000000000000000000000")
    cfg = HarmfulConfig(model="openai/omni-moderation-latest")
    records = [_rec("a", "A veiled warning to keep quiet."), _rec("b", "Targets are set.")]

    def answer(request):
        flagged = "veiled" in request.content.decode()
        return Response(200, json=_body(_result(flagged, harassment=flagged)))

    kept: list[list[str]] = []
    calls: list[int] = []
    for name in ("one", "two"):
        ctx = StepContext(run_dir=tmp_path / name, journal=Journal(tmp_path / name))
        with respx.mock(assert_all_called=False) as router:
            route = router.post(URL).mock(side_effect=answer)
            with judge.use_call_cache(CallCache(tmp_path / "calls", run=name)):
                step = build_step("harmful", cfg, ctx)
                kept.append([r.meta.id for r in step.run(records)])
        calls.append(route.call_count)
        hits = ctx.journal.query("SELECT sum(cache_hit) h FROM judge_calls")[0]["h"]
        assert hits == (0 if name == "one" else 2)
    assert calls == [2, 0] and kept == [["b"], ["b"]]  # same verdicts, nothing paid again
