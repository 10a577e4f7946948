"""No silent pass: an LLM check that cannot run never keeps a record as if it had passed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.curate import judge
from generator.providers.resilience import RetryPolicy
from generator.store import Journal
from tests.curate.corpus import write_run

STEPS = ["heuristics", "length", "exact_dedup", "quality"]


def _run(tmp_path: Path, n: int = 40) -> Path:
    return write_run(tmp_path / "run", n)


def _config(tmp_path: Path, **sections: dict) -> Path:
    cfg = tmp_path / "curate.yaml"
    data = {"steps": STEPS, "report": {"plots": False}, **sections}
    cfg.write_text(json.dumps(data))
    return cfg


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(judge, "RETRY_POLICY", RetryPolicy(max_attempts=2, initial=0, jitter=0))


def _quality(model: str) -> dict:
    return {"quality": {"min_score": 0, "min_parts": {}, "judge_model": model}}


@pytest.mark.parametrize("fault", ["fail=1", "auth=1"], ids=["server-500", "auth-401"])
def test_unreachable_judge_stops_with_exit_4_and_keeps_nothing_as_passed(tmp_path, fault):
    run = _run(tmp_path)
    cfg = _config(tmp_path, **_quality(f"mock/judge?{fault}"))
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 4, res.output
    assert "re-run the same command to resume" in res.output
    assert not (run / "curation").exists()  # nothing written as curated, no half folder
    assert not list(run.glob(".curation-*"))
    with Journal(run) as journal:
        statuses = {r["status"] for r in journal.query("SELECT status FROM judge_calls")}
    assert statuses and "ok" not in statuses  # every failed call is journaled, none passed


def test_a_stop_leaves_the_previous_curation_untouched(tmp_path):
    run = _run(tmp_path)
    ok = CliRunner().invoke(app, ["curate", str(run), "--config", str(_config(tmp_path))])
    assert ok.exit_code == 0, ok.output
    before = (run / "curation" / "manifest.json").read_text()
    cfg = _config(tmp_path, **_quality("mock/judge?fail=1"))
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 4, res.output
    assert (run / "curation" / "manifest.json").read_text() == before


def test_unparsable_verdicts_go_to_review_and_are_counted(tmp_path):
    run = _run(tmp_path, n=12)
    cfg = _config(tmp_path, **_quality("mock/judge"))  # the mock answers prose, not a verdict
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    curated = (run / "curation" / "curated.jsonl").read_text()
    assert curated == ""  # not one record passed a check that did not run
    review = [json.loads(x) for x in (run / "curation" / "review.jsonl").read_text().splitlines()]
    assert len(review) == 12
    for row in review:
        assert row["meta"]["curation"]["excluded"]["reason"] == "check_failed:quality"
        assert row["meta"]["curation"]["quality"]["check_failed"]
    assert "quality: the check could not run on 12 record(s)" in res.output
    assert "12 reply(ies) unparsable" in res.output
    assert "(12 because a check could not run)" in res.output
    report = (run / "curation" / "report.md").read_text()
    assert "## Checks that could not run" in report
    assert "| quality | 12 | 0 | 12 | 12 |" in report
    stats = json.loads((run / "curation" / "stats.json").read_text())
    quality = next(s for s in stats["steps"] if s["step"] == "quality")
    assert quality["check_failed"] == {"records": 12, "checks": 12, "failed": 0, "unparsable": 12}


@pytest.mark.parametrize(
    ("section", "where"),
    [
        (_quality("openai/gpt-4o-mini"), "quality.judge_model"),
        ({"harmful": {"model": "anthropic/claude-3-5-haiku-latest"}}, "harmful.model"),
        ({"harmful": {"model": "openai/omni-moderation-latest"}}, "harmful.model"),
        ({"contradictions": {"judge_model": "openai/gpt-4o-mini"}}, "contradictions.judge_model"),
    ],
)
def test_every_model_in_the_settings_has_its_key_checked_first(
    tmp_path, monkeypatch, section, where
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    run = _run(tmp_path, n=5)
    steps = [*STEPS, "harmful", "contradictions"]
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(json.dumps({"steps": steps, **section}))
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 2, res.output
    var = "ANTHROPIC_API_KEY" if "anthropic" in json.dumps(section) else "OPENAI_API_KEY"
    assert var in res.output and where in res.output
    assert not (run / "run.sqlite").exists() and not (run / "curation").exists()


def test_a_contradiction_group_the_judge_could_not_decide_is_a_finding() -> None:
    from generator.curate.contradictions import ContradictionStep
    from tests.curate.test_contradictions import RECORDS

    step = ContradictionStep(judge=lambda groups: [None if "VPN" in q else True for q, _ in groups])
    kept = [r.meta.id for r in step.run(list(RECORDS))]
    assert kept == ["c1", "c2", "d1", "e1"]
    reasons = {e.record.meta.id: e.reason for e in step.excluded}
    assert reasons == {
        "a1": "contradiction:numbers",
        "a2": "contradiction:numbers",
        "b1": "check_failed:contradictions",
        "b2": "check_failed:contradictions",
    }
    assert step.stats()["check_failed"] == {"records": 2}


def test_harmful_llm_judge_that_cannot_answer_sends_records_to_review(tmp_path):
    run = _run(tmp_path, n=4)
    section = {"harmful": {"model": "mock/judge?fail=1"}}
    steps = {"steps": ["heuristics", "harmful"], "report": {"plots": False}, **section}
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(json.dumps(steps))
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 0, res.output  # 4 calls x 2 attempts: too few to open the breaker
    assert (run / "curation" / "curated.jsonl").read_text() == ""
    review = (run / "curation" / "review.jsonl").read_text().splitlines()
    assert [json.loads(x)["meta"]["curation"]["excluded"]["reason"] for x in review] == [
        "check_failed:harmful"
    ] * 4
    assert "4 call(s) failed, 0 reply(ies) unparsable" in res.output


def test_judge_answering_500_at_the_wire_stops_with_exit_4(tmp_path, monkeypatch):
    """The real LiteLLM path: OpenAI's chat endpoint answers 500 to every judge call."""
    import respx
    from httpx import Response

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge-0000000000000000000000000")
    run = _run(tmp_path, n=20)
    cfg = _config(tmp_path, **_quality("openai/gpt-4o-mini"))
    with respx.mock() as router:
        route = router.post("https://api.openai.com/v1/chat/completions").mock(
            return_value=Response(500, json={"error": {"message": "upstream down"}})
        )
        res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 4, res.output
    assert "curate stopped" in res.output and "previous curation/ is unchanged" in res.output
    assert 10 <= route.call_count <= 2 * 8 + 8  # the breaker stops the calls early
    assert not (run / "curation").exists()


def _chat(content: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def test_a_stopped_curate_resumes_without_paying_a_call_twice(tmp_path, monkeypatch):
    import respx
    from httpx import Response

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge-0000000000000000000000000")
    verdict = '{"accuracy": 9, "relevance": 9, "clarity": 8, "usefulness": 8, "rationale": "ok"}'
    run = _run(tmp_path, n=40)
    cfg = _config(tmp_path, **_quality("openai/gpt-4o-mini"))
    url = "https://api.openai.com/v1/chat/completions"
    answered = []

    def flaky(request):  # the provider goes down after 12 answers
        if len(answered) < 12:
            answered.append(1)
            return Response(200, json=_chat(verdict))
        return Response(500, json={"error": {"message": "down"}})

    with respx.mock() as router:
        router.post(url).mock(side_effect=flaky)
        first = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert first.exit_code == 4, first.output
    with Journal(run) as journal:
        paid = journal.query("SELECT count(*) n FROM judge_calls WHERE status='ok'")[0]["n"]
    assert paid == 12
    with respx.mock() as router:
        route = router.post(url).mock(return_value=Response(200, json=_chat(verdict)))
        second = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert second.exit_code == 0, second.output
    assert route.call_count == 40 - paid  # the 12 answered checks come from the journal
    assert "curated 40 of 40 records" in second.output
