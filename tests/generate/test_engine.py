"""The generation engine end to end through the CLI runner, with the mock provider."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.records import parse_record
from tests.generate.engine_helpers import gen, ok_calls, query, read_jsonl, record_set

runner = CliRunner()


def test_end_to_end_records_carry_provenance_and_resume_costs_nothing(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run)
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    chunks = query(run, "SELECT COUNT(*) FROM chunks")[0][0]
    assert chunks >= 6 and len(records) > chunks  # several records per chunk
    ids = [r["meta"]["id"] for r in records]
    assert len(ids) == len(set(ids))
    docs_sha = dict(query(run, "SELECT path, sha256 FROM documents"))
    for rec in records:
        parsed = parse_record(rec)  # valid record, valid meta
        meta = parsed.meta
        assert (meta.provider, meta.model, meta.format) == ("mock", "mock/echo", "alpaca")
        assert meta.policy is not None and meta.policy.id == "mock"
        assert meta.prompt is not None and meta.prompt.id == "qa" and len(meta.prompt.sha256) == 64
        assert meta.source is not None and docs_sha[meta.source.path] == meta.source.doc_sha256
        assert meta.usage is not None and meta.usage.prompt_tokens > 0
        assert meta.created_at and rec["meta"]["source_info"]["date_origin"]
    # The journal and the files agree.
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] == len(records)
    rejected = read_jsonl(run / "rejected.jsonl")
    assert query(run, "SELECT COUNT(*) FROM gen_rejections")[0][0] == len(rejected)
    assert all(r["reason"] and "raw" in r for r in rejected)
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "mock/echo" and config["prompt_ref"]["id"] == "qa"
    calls = len(ok_calls(run))
    assert calls == query(run, "SELECT COUNT(*) FROM gen_units")[0][0]
    assert "summary" in res.output and "records:" in res.output

    before = record_set(run)
    again = gen(docs, run)
    assert again.exit_code == 0, again.output
    assert len(ok_calls(run)) == calls  # nothing paid twice
    assert record_set(run) == before
    assert len(read_jsonl(run / "rejected.jsonl")) == len(rejected)

    shown = runner.invoke(app, ["runs", "show", str(run)])
    assert shown.exit_code == 0, shown.output
    assert f"{calls} / {calls}" in shown.output and str(len(records)) in shown.output
    assert "done" in shown.output


def test_changed_settings_are_refused_unless_forced(docs, tmp_path):
    run = tmp_path / "run"
    assert gen(docs, run, "--records", "3").exit_code == 0
    refused = gen(docs, run, "--template", "completion")
    assert refused.exit_code == 2
    assert "different settings" in refused.output and "--force-new-settings" in refused.output
    forced = gen(docs, run, "--template", "completion", "--records", "3", "--force-new-settings")
    assert forced.exit_code == 0, forced.output
    formats = {r["meta"]["format"] for r in read_jsonl(run / "records.jsonl")}
    assert formats == {"alpaca", "completion"}  # the old generation's records are kept


def test_records_limit_and_per_chunk(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, "--records", "7", "--per-chunk", "2", "--concurrency", "2")
    assert res.exit_code == 0, res.output
    n = len(read_jsonl(run / "records.jsonl"))
    assert 7 <= n < 7 + 2  # stops once 7 are accepted (a unit's records are kept together)
    sizes = {len(json.loads(r[0])) for r in query(run, "SELECT data FROM gen_records")}
    assert sizes
    per_unit = query(run, "SELECT n_accepted + n_rejected FROM gen_units")
    assert all(total <= 2 for (total,) in per_unit)  # asked for 2 records per chunk
    # Continuing without the limit finishes the rest; nothing duplicated.
    assert gen(docs, run, "--per-chunk", "2").exit_code == 0
    ids = [r["meta"]["id"] for r in read_jsonl(run / "records.jsonl")]
    assert len(ids) == len(set(ids)) > n
    hashes = [h for h, _ in ok_calls(run)]
    assert len(hashes) == len(set(hashes))


def test_max_cost_stops_with_exit_4_and_resumes(docs, tmp_path):
    run = tmp_path / "run"
    price = ["--price", "1000,1000"]  # USD per 1M tokens: a call costs about $1
    res = gen(docs, run, "--max-cost", "4", "--concurrency", "1", *price)
    assert res.exit_code == 4, res.output
    assert "budget" in res.output and "re-run" in res.output
    spent = query(run, "SELECT SUM(cost_usd) FROM gen_calls")[0][0]
    assert 0 < spent <= 4.0
    done = query(run, "SELECT COUNT(*) FROM gen_units")[0][0]
    chunks = query(run, "SELECT COUNT(*) FROM chunks")[0][0]
    assert 0 < done < chunks
    more = gen(docs, run, "--max-cost", "100", *price)
    assert more.exit_code == 0, more.output
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == chunks


def test_dry_run_estimates_without_calls_or_key(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, "--dry-run", model="openai/gpt-4o-mini")
    assert res.exit_code == 0, res.output
    chunks = query(run, "SELECT COUNT(*) FROM chunks")[0][0]
    assert (
        f"{chunks} calls" in res.output and "$" in res.output and "Nothing was sent" in res.output
    )
    assert query(run, "SELECT COUNT(*) FROM gen_calls")[0][0] == 0
    assert not (run / "records.jsonl").exists()


def test_missing_key_is_exit_2_before_any_work(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, model="openai/gpt-4o-mini")
    assert res.exit_code == 2
    assert "OPENAI_API_KEY" in res.output
    assert not (run / "run.sqlite").exists()


def test_circuit_breaker_stops_with_exit_4(docs, tmp_path):
    run = tmp_path / "run"
    args = ["--max-retries", "0", "--concurrency", "2", "--per-chunk", "15"]  # 18 units
    res = gen(docs, run, *args, model="mock/down?fail=1")
    assert res.exit_code == 4, res.output
    assert "provider calls failed" in res.output and "resume" in res.output
    fails = query(run, "SELECT COUNT(*) FROM gen_calls WHERE status='error'")[0][0]
    assert 10 <= fails <= 12  # stopped soon after the window filled, not after every unit
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == 0  # all still pending
    assert query(run, "SELECT status FROM gen_sessions")[-1][0] == "stopped"
    reasons = {r["reason"] for r in read_jsonl(run / "rejected.jsonl")}
    assert reasons == {"provider:server_error"}


@pytest.mark.parametrize(
    ("model", "why"),
    [("mock/busy?rate_limit=1", "rate limited"), ("mock/down?fail=1", "provider is failing")],
)
def test_a_small_run_whose_every_call_gives_up_stops_with_exit_4(docs, tmp_path, model, why):
    """Seen: every call 429 with --max-retries 0 (6 units, below the breaker's window)
    ended with exit 0 and a warning while every unit stayed pending."""
    run = tmp_path / "run"
    res = gen(docs, run, "--max-retries", "0", "--concurrency", "2", model=model)
    assert res.exit_code == 4, res.output
    lines = [line for line in res.output.splitlines() if why in line]
    assert len(lines) == 1 and "resume" in lines[0], res.output
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == 0  # all still pending
    assert query(run, "SELECT status FROM gen_sessions")[-1][0] == "stopped"


def test_a_run_where_some_calls_get_through_ends_with_exit_0(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, "--max-retries", "0", model="mock/flaky?fail=0.5&seed=1")
    assert res.exit_code == 0, res.output
    assert "still pending" in res.output  # the failed calls' units: the next run retries them


def test_every_rejection_is_written_with_reason_and_raw_output(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, model="mock/flaky?malformed=0.5&seed=3")
    assert res.exit_code == 0, res.output
    rejected = read_jsonl(run / "rejected.jsonl")
    reasons = [r["reason"] for r in rejected]
    assert "invalid_json" in reasons
    for r in rejected:
        assert r["id"] and r["detail"] is not None and r["source"]["chunk_id"]
        if r["reason"] == "invalid_json":
            assert r["raw"] and not r["raw"].lstrip().startswith("{")
    # A re-asked unit appears in the calls as ask + reask.
    kinds = {k for (k,) in query(run, "SELECT kind FROM gen_calls")}
    assert kinds == {"ask", "reask"}
    assert query(run, "SELECT COUNT(*) FROM gen_rejections")[0][0] == len(rejected)


def test_early_warning_when_almost_nothing_is_accepted(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, "--per-chunk", "15", model="mock/bad?malformed=1")  # 18 units
    assert res.exit_code == 0
    assert "warning:" in res.output and "invalid_json" in res.output
    assert not read_jsonl(run / "records.jsonl")


def test_chunk_too_big_for_the_window_is_split_not_sent_to_fail(docs, tmp_path):
    run = tmp_path / "run"
    # qa: ~300 prompt tokens + up to 2048 for the reply; 2550 leaves ~200 of the ~320-token
    # chunks, so each is sent in two parts.
    res = gen(docs, run, "--context-window", "2550")
    assert res.exit_code == 0, res.output
    chunks = dict(query(run, "SELECT id, data FROM chunks"))
    units = query(run, "SELECT chunk_id, idx FROM gen_units")
    assert len(units) > len(chunks)  # chunks were split into parts
    for rec in read_jsonl(run / "records.jsonl"):
        src = rec["meta"]["source"]
        start, end = json.loads(chunks[src["chunk_id"]])["span"]
        assert start <= src["span"][0] < src["span"][1] <= end
        assert (src["span"][0], src["span"][1]) != (start, end)
    assert not query(run, "SELECT 1 FROM gen_calls WHERE error_code='context_window'")


def test_template_that_cannot_fit_the_window_is_refused_before_any_call(docs, tmp_path):
    run = tmp_path / "run"
    res = gen(docs, run, "--context-window", "2100")
    assert res.exit_code == 2
    assert "context window" in res.output and "qa" in res.output
    assert query(run, "SELECT COUNT(*) FROM gen_calls")[0][0] == 0
