"""Resume guarantees: deterministic novelty and pool across interruptions,
workers, and that a key never lands in the run folder or the output."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from httpx import Response

from generator.generate.plan import PoolView
from generator.generate.seeding import Example, rng_for
from generator.providers import mock
from tests.generate.engine_helpers import gen, ok_calls, query, read_jsonl, record_set

SECRET = "sk-test-SECRET0123456789abcdefghijklmnop"


def test_pool_view_shows_only_units_before_the_lag():
    pool = PoolView([(5, {"instruction": "a", "input": "", "output": "x"})])
    pool.add(1, {"instruction": "b", "input": "", "output": "y"})
    pool.add(9, {"instruction": "c", "input": "", "output": "z"})
    assert pool.visible(pos=8, lag=2) == 2  # units 1 and 5 are before 8 - 2
    assert pool.visible(pos=7, lag=2) == 1
    seeds = [Example(instruction=f"seed {i}", output="o") for i in range(6)]
    got = pool.sample(8, 2, seeds, rng_for("0", "u"), k=4, n_pool=2)
    assert {e["instruction"] for e in got} >= {"a", "b"} and len(got) == 4
    assert got == pool.sample(8, 2, seeds, rng_for("0", "u"), k=4, n_pool=2)


def test_self_instruct_interrupted_then_resumed_equals_uninterrupted(docs, tmp_path):
    args = ["--template", "self-instruct", "--pool-lag", "2", "--concurrency", "3"]
    full = tmp_path / "full"
    assert gen(docs, full, *args).exit_code == 0
    part = tmp_path / "part"
    first = gen(docs, part, *args, "--records", "6")
    assert first.exit_code == 0, first.output
    assert len(read_jsonl(part / "records.jsonl")) < len(read_jsonl(full / "records.jsonl"))
    mock.reset()
    assert gen(docs, part, *args).exit_code == 0
    assert record_set(part) == record_set(full)
    pool = query(part, "SELECT COUNT(*) FROM gen_pool")[0][0]
    assert pool == len(read_jsonl(part / "records.jsonl"))
    hashes = [h for h, _ in ok_calls(part)]
    assert len(hashes) == len(set(hashes))  # replies that arrived after the stop were reused


@pytest.mark.slow
def test_workers_give_the_same_records_as_one_process(docs, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert gen(docs, one, "--per-chunk", "10").exit_code == 0
    res = gen(docs, two, "--per-chunk", "10", "--workers", "2")
    assert res.exit_code == 0, res.output
    assert record_set(two) == record_set(one)
    assert len(ok_calls(two)) == len(ok_calls(one))


def _assert_secret_absent(run: Path, output: str) -> None:
    assert SECRET not in output
    for path in run.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_api_key_never_reaches_run_folder_or_output(docs, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    body = {
        "error": {
            "message": f"Incorrect API key provided: {SECRET}. Check your key.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    run = tmp_path / "run"
    with respx.mock(assert_all_called=True) as router:
        route = router.post("https://api.openai.com/v1/chat/completions").mock(
            return_value=Response(401, json=body)
        )
        res = gen(docs, run, "--per-chunk", "15", model="openai/gpt-4o-mini")
    assert route.called
    assert res.exit_code == 4, res.output  # the first 401 stops the run: the key is dead
    assert "OPENAI_API_KEY" in res.output
    _assert_secret_absent(run, res.output)
    calls = query(run, "SELECT error_code, error FROM gen_calls")
    assert calls and all(code == "auth_error" for code, _ in calls)  # journaled, scrubbed
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == 0  # all still pending


def test_api_key_absent_when_server_errors_echo_it(docs, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    run = tmp_path / "run"
    with respx.mock() as router:
        router.post("https://api.openai.com/v1/chat/completions").mock(
            return_value=Response(500, text=f"upstream failed for key {SECRET}")
        )
        res = gen(docs, run, "--max-retries", "0", model="openai/gpt-4o-mini")
    assert res.exit_code == 4, res.output  # every call failed: stopped, resumable
    _assert_secret_absent(run, res.output)
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == 0
