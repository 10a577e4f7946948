"""Cross-run call cache for generation (``generate --cache DIR``): a second run making the
same requests is answered from the cache (0 provider calls), records keep the original
provenance, a corrupt entry costs a provider call and a counted warning."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from generator.export.usage import usage_totals
from generator.providers import mock
from tests.generate.engine_helpers import gen, query, read_jsonl


def _provider_calls() -> int:
    """Requests the mock provider actually received since the last reset."""
    return sum(mock._seen.values())


def _strip(records: list[dict]) -> list[tuple[str, str]]:
    return sorted((r["meta"]["id"], r["instruction"]) for r in records)


def test_second_run_is_answered_from_the_cache(docs: Path, tmp_path: Path) -> None:
    cache = tmp_path / "calls"
    first = gen(docs, tmp_path / "one", "--cache", str(cache))
    assert first.exit_code == 0, first.output
    paid = _provider_calls()
    assert paid > 0
    assert len(list(cache.glob("*/*.json"))) == paid  # one entry per distinct request
    entry = json.loads(next(cache.glob("*/*.json")).read_text())
    assert entry["run"] == "one" and entry["made_at"] and "messages" not in entry

    mock.reset()
    second = gen(docs, tmp_path / "two", "--cache", str(cache))
    assert second.exit_code == 0, second.output
    assert _provider_calls() == 0  # nothing sent
    run2 = tmp_path / "two"
    hits, cost, tokens = query(
        run2, "SELECT SUM(cache_hit), SUM(cost_usd), SUM(prompt_tokens) FROM gen_calls"
    )[0]
    assert hits == paid and cost == 0 and tokens == 0  # hits cost this run nothing
    assert "answered by the call cache" in second.output
    one = read_jsonl(tmp_path / "one" / "records.jsonl")
    two = read_jsonl(run2 / "records.jsonl")
    assert _strip(one) == _strip(two)
    by_id = {r["meta"]["id"]: r for r in one}
    for rec in two:
        meta = rec["meta"]
        assert meta["cache"]["hit"] is True and meta["cache"]["run"] == "one"
        assert meta["cache"]["made_at"] <= meta["created_at"]
        # the usage is what the original call cost, not the 0 this run paid
        assert meta["usage"] == by_id[meta["id"]]["meta"]["usage"]
        assert meta["usage"]["prompt_tokens"] > 0
    # the export manifest's usage totals (generator/export/usage.py) say the same
    totals = usage_totals(run2)
    assert totals is not None and totals["curate_checks"] is None  # no curation yet
    assert totals["generate"]["calls"] == 0 and totals["generate"]["cache_hits"] == paid
    assert totals["generate"]["cost_usd"] == 0
    first_totals = usage_totals(tmp_path / "one")
    assert first_totals is not None and first_totals["generate"]["calls"] == paid
    assert first_totals["generate"]["prompt_tokens"] > 0
    shown = CliRunner().invoke(app, ["runs", "show", str(run2)])
    assert shown.exit_code == 0, shown.output
    assert f"{paid} hits (0 corrupt" in shown.output


def test_without_cache_the_second_run_pays_again(docs: Path, tmp_path: Path) -> None:
    assert gen(docs, tmp_path / "one").exit_code == 0
    paid = _provider_calls()
    mock.reset()
    assert gen(docs, tmp_path / "two").exit_code == 0
    assert _provider_calls() == paid
    assert query(tmp_path / "two", "SELECT SUM(cache_hit) FROM gen_calls")[0][0] == 0


def test_corrupt_entry_means_a_provider_call_and_a_counted_warning(
    docs: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "calls"
    assert gen(docs, tmp_path / "one", "--cache", str(cache)).exit_code == 0
    entries = sorted(cache.glob("*/*.json"))
    entries[0].write_text('{"format": 1, "key": "not json at all', encoding="utf-8")
    entries[1].write_text(json.dumps({"format": 1, "key": "another key"}), encoding="utf-8")
    mock.reset()
    res = gen(docs, tmp_path / "two", "--cache", str(cache))
    assert res.exit_code == 0, res.output
    assert _provider_calls() == 2  # only the two corrupt entries were paid for again
    run2 = tmp_path / "two"
    assert query(run2, "SELECT SUM(cache_corrupt) FROM gen_calls")[0][0] == 2
    assert "2 corrupt call-cache entries" in res.output
    # and the fresh replies replaced them
    assert all(json.loads(p.read_text())["key"] == p.stem for p in entries)


def test_call_processes_use_the_cache_too(docs: Path, tmp_path: Path) -> None:
    cache = tmp_path / "calls"
    assert gen(docs, tmp_path / "one", "--cache", str(cache)).exit_code == 0
    paid = _provider_calls()
    res = gen(docs, tmp_path / "two", "--cache", str(cache), "--workers", "1")
    assert res.exit_code == 0, res.output
    calls, hits = query(tmp_path / "two", "SELECT COUNT(*), SUM(cache_hit) FROM gen_calls")[0]
    assert calls == hits == paid  # every call of the worker process was a hit


def test_usage_totals_of_a_journal_from_before_the_cache_columns(tmp_path: Path) -> None:
    import sqlite3

    run = tmp_path / "old"
    run.mkdir()
    conn = sqlite3.connect(run / "run.sqlite")
    conn.execute("CREATE TABLE gen_calls (prompt_tokens INT, completion_tokens INT, cost_usd REAL)")
    conn.execute("INSERT INTO gen_calls VALUES (100, 20, 0.5)")
    conn.commit()
    conn.close()
    totals = usage_totals(run)
    assert totals is not None and totals["curate_checks"] is None
    assert totals["generate"] == {
        "calls": 1, "cache_hits": 0, "prompt_tokens": 100, "completion_tokens": 20,
        "cached_tokens": 0, "cost_usd": 0.5,
    }  # fmt: skip
