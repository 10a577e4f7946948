"""``pairs --api-base / --judge-api-base / --max-cost``: honoured at the wire (respx), the
API base journaled per answer and per judge and judged by the gate, the budget a resumable
stop (exit 4) that pays no call twice; refused where the method makes no such call."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from httpx import Request, Response

from generator.curate import judge as judge_mod
from generator.errors import ExportRefused
from generator.export.job import ExportOptions, run_export
from generator.providers.resilience import RetryPolicy
from tests.curate.test_fail_closed import _chat as chat_body
from tests.derive.conftest import cli
from tests.generate.engine_helpers import read_jsonl

BASE = "http://127.0.0.1:8931/v1"
JUDGE_BASE = "http://127.0.0.1:8932/v1"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-pairs-0000000000000000000000000")
    monkeypatch.setattr(judge_mod, "RETRY_POLICY", RetryPolicy(max_attempts=1, initial=0, jitter=0))


def _chat(content: dict) -> Response:
    return Response(200, json=chat_body(json.dumps(content)))


def _flawed(request: Request) -> Response:
    user = json.loads(request.content)["messages"][-1]["content"]
    n = len(re.findall(r"\w", user))  # a different invented claim per question
    return _chat({"answer": f"It was approved by the board in meeting {n}.", "flaw": "ungrounded"})


def _rank(request: Request) -> Response:
    user = json.loads(request.content)["messages"][-1]["content"]
    first = user.split("<answer n=1>", 1)[1].split("</answer>", 1)[0]
    return _chat({"better": "2" if "It depends" in first else "1", "reason": "grounded"})


def _kind_metas(run: Path) -> list[dict]:
    conn = sqlite3.connect(run / "run.sqlite")
    try:
        return [json.loads(r[0])["meta"] for r in conn.execute("SELECT data FROM kind_records")]
    finally:
        conn.close()


def test_api_base_reaches_the_wire_and_is_journaled_and_judged(
    generated: Path, tmp_path: Path, respx_mock
) -> None:
    route = respx_mock.post(f"{BASE}/chat/completions").mock(side_effect=_flawed)
    r = cli("pairs", generated, "--method", "flawed", "--model", MODEL, "--api-base", BASE,
            "--limit", "3")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert route.call_count == 3
    assert {m["api_base"] for m in _kind_metas(generated)} == {BASE}
    assert json.loads((generated / "pairs" / "report.json").read_text())["api_base"] == BASE
    out = tmp_path / "out"
    with pytest.raises(ExportRefused, match=r"served by 127\.0\.0\.1.*--accept-review local"):
        run_export(ExportOptions(generated, "trl-preference", "evaluation", out))
    res = run_export(ExportOptions(generated, "trl-preference", "evaluation", out,
                                   accept_review=("local", "mock")))  # fmt: skip
    assert res.n_exported == 3 and res.gate.stats.accepted["local"] == 3
    for row in read_jsonl(out / "meta.jsonl"):  # the gate judged the server it ran on
        assert row["provenance"]["pair"]["rejected"]["api_bases"] == [BASE]


def test_judge_api_base_is_the_judges_server(generated: Path, respx_mock) -> None:
    route = respx_mock.post(f"{JUDGE_BASE}/chat/completions").mock(side_effect=_rank)
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
            "--judge", MODEL, "--judge-api-base", JUDGE_BASE)  # fmt: skip
    assert r.exit_code == 0, r.output
    pairs = read_jsonl(generated / "pairs" / "records.jsonl")
    assert pairs and route.call_count == 2 * len(pairs)  # each pair ranked in both orders
    assert all(p["rejected"].startswith("It depends") for p in pairs)
    conn = sqlite3.connect(generated / "run.sqlite")
    judges = [json.loads(r[0]) for r in conn.execute("SELECT data FROM pair_judges")]
    conn.close()
    assert judges and {j["api_base"] for j in judges} == {JUDGE_BASE}
    assert {m["api_base"] for m in _kind_metas(generated)} == {None}  # the answers: mock


def test_max_cost_stops_resumably_and_pays_nothing_twice(generated: Path, respx_mock) -> None:
    route = respx_mock.post(f"{BASE}/chat/completions").mock(side_effect=_flawed)
    n = len(read_jsonl(generated / "records.jsonl"))
    args = ["pairs", generated, "--method", "flawed", "--model", MODEL, "--api-base", BASE]
    # each call is estimated at about $0.0007 (its prompt and 1,024 tokens of output)
    r = cli(*args, "--max-cost", "0.0015")
    assert r.exit_code == 4, r.output
    assert "budget of $0.0015" in r.output and "Traceback" not in r.output
    assert route.call_count == 2
    assert not (generated / "pairs" / "records.jsonl").exists()
    r = cli(*args, "--max-cost", "1")
    assert r.exit_code == 0, r.output
    assert route.call_count == n  # the two paid calls came from the journal
    report = json.loads((generated / "pairs" / "report.json").read_text())
    assert report["max_cost"] == 1.0 and 0 < report["spent"]["cost_usd"] < 1


def test_free_mock_models_run_under_a_budget(generated: Path) -> None:
    r = cli("pairs", generated, "--method", "flawed", "--model", "mock/flaw", "--limit", "2",
            "--max-cost", "0")  # fmt: skip
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--method", "review-edit", "--max-cost", "1"), "makes no model call"),
        (("--method", "review-edit", "--api-base", BASE), "--api-base"),
        (("--method", "review-edit", "--model", "mock/a"), "--model"),
        (("--method", "flawed", "--model", "mock/a", "--judge-api-base", BASE), "does not use"),
        (("--method", "flawed", "--model", "mock/a", "--judge", "mock/j"), "--judge"),
        (("--method", "flawed", "--model", "openai/my-own", "--api-base", BASE, "--max-cost",
          "1"), "needs the price of 'openai/my-own'"),
    ],
)  # fmt: skip
def test_options_that_make_no_sense_are_refused(generated: Path, args, says: str) -> None:
    r = cli("pairs", generated, *args)
    assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output
    assert not (generated / "pairs").exists()
