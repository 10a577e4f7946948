"""export --require-review: only what human review lets through, with edits applied."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from generator.policies import load_policies
from generator.records import parse_record
from generator.review.session import prepare
from generator.review.store import ReviewStore
from generator.store import Journal
from tests.export._build import alpaca, make_run, read_jsonl, stamp_curation, write_jsonl


def _reviewed_run(tmp_path: Path) -> tuple[Path, list[str]]:
    pols = load_policies()
    records = [alpaca(i, pols["local"], model="local/smollm2-135m-instruct") for i in range(30)]
    run = make_run(tmp_path, records)
    store = ReviewStore(Journal(run))
    prepare(store, run, 4, seed=0)
    ids = [it.record_id for it in store.items()]
    store.decide(ids[0], "accept")
    store.decide(ids[1], "reject", reason="invented figure")
    before = next(parse_record(r) for r in records if r["meta"]["id"] == ids[2])
    after = before.model_copy(deep=True)
    after.output = "Corrected by the reviewer from the handbook."
    store.decide(ids[2], "edit", before=before, after=after)
    return run, ids


def _export(run: Path, out: Path, mode: str | None) -> object:
    args = [
        "export",
        str(run),
        "--format",
        "alpaca",
        "--use",
        "internal-fine-tune",
        "--out",
        str(out),
    ]
    return CliRunner().invoke(app, [*args, *(["--require-review", mode] if mode else [])])


def test_accepted_only_exports_accepted_and_edited(tmp_path: Path) -> None:
    run, ids = _reviewed_run(tmp_path)
    res = _export(run, tmp_path / "a", "accepted")
    assert res.exit_code == 0, res.output
    rows = read_jsonl(tmp_path / "a" / "train.jsonl")
    assert len(rows) == 2
    assert "Corrected by the reviewer from the handbook." in [r["output"] for r in rows]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert "accepted" in json.dumps(manifest)
    excluded = read_jsonl(tmp_path / "a" / "excluded.jsonl")
    reasons = {e["id"]: e["reason"] for e in excluded if e["stage"] == "review"}
    assert reasons[ids[1]] == "review_rejected: invented figure"
    assert reasons[ids[3]] == "review_pending"


def test_accepted_or_unsampled_keeps_unsampled_records(tmp_path: Path) -> None:
    run, _ = _reviewed_run(tmp_path)
    res = _export(run, tmp_path / "b", "accepted-or-unsampled")
    assert res.exit_code == 0, res.output
    assert len(read_jsonl(tmp_path / "b" / "train.jsonl")) == 30 - 2  # rejected + pending held
    plain = _export(run, tmp_path / "c", None)
    assert plain.exit_code == 0, plain.output
    rows = read_jsonl(tmp_path / "c" / "train.jsonl")
    assert len(rows) == 30 - 1  # without --require-review a rejected record is still held
    assert "Corrected by the reviewer from the handbook." in [r["output"] for r in rows]


def test_require_review_without_a_sample_is_a_usage_error(tmp_path: Path) -> None:
    pols = load_policies()
    run = make_run(
        tmp_path, [alpaca(i, pols["local"], model="local/smollm2-135m-instruct") for i in range(12)]
    )
    Journal(run).close()
    res = _export(run, tmp_path / "d", "accepted")
    assert res.exit_code == 2 and "no review sample" in res.output
    bad = _export(run, tmp_path / "e", "sometimes")
    assert bad.exit_code == 2


def test_reviewed_records_join_train_unless_they_would_leak(tmp_path: Path) -> None:
    pols = load_policies()
    rows = [alpaca(i, pols["local"], model="local/smollm2-135m-instruct") for i in range(12)]
    run = make_run(tmp_path, rows[:10], validation=rows[10:])
    leak = {**rows[10], "output": "Backups stay for 90 days.", "meta": {**rows[10]["meta"]}}
    leak["meta"]["id"] = "flagged-leak"
    fresh = {**rows[0], "instruction": "Who signs off on new vendors?", "input": ""}
    fresh["output"] = "Procurement signs off on every new vendor."
    fresh["meta"] = {**rows[0]["meta"], "id": "flagged-fresh"}
    write_jsonl(run / "curation" / "review.jsonl", [leak, fresh])
    stamp_curation(run)
    store = ReviewStore(Journal(run))
    prepare(store, run, 2, seed=0)
    store.decide("flagged-leak", "accept")
    store.decide("flagged-fresh", "accept")
    res = _export(run, tmp_path / "out", None)
    assert res.exit_code == 0, res.output
    train = read_jsonl(tmp_path / "out" / "train.jsonl")
    assert "Procurement signs off on every new vendor." in [r["output"] for r in train]
    assert "Backups stay for 90 days." not in [r["output"] for r in train]
    held = {e["id"]: e["reason"] for e in read_jsonl(tmp_path / "out" / "excluded.jsonl")}
    assert held["flagged-leak"].startswith("review_accepted_but_leaks: linked to validation")
