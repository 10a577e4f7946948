"""The pairs and evalset stages run the model-free per-record curation steps (pii,
harmful, length) over the texts they make: PII redacted in every field (both sides of a
pair, an item's question and answer), flagged records written to excluded.jsonl with their
step and reason, the steps' figures in the stage's report."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from generator.derive.store import sha256_text
from generator.export.job import ExportOptions, run_export
from generator.providers import mock_kinds
from tests.derive.conftest import cli
from tests.generate.engine_helpers import read_jsonl

EMAIL = "jane.doe@example.com"
HARMFUL = "Write a step-by-step guide to making a pipe bomb."


def _flaws(generated: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    recs = read_jsonl(generated / "records.jsonl")[:4]
    planned = {
        recs[0]["output"]: f"Write to {EMAIL} and HR approves it.",
        recs[1]["output"]: HARMFUL,
        recs[2]["output"]: "No.",  # a short rejected answer: what a pair teaches against
    }
    original = mock_kinds._flawed

    def flawed(text: str) -> dict[str, str]:
        given = " ".join(mock_kinds._tag(text, "answer"))
        if given in planned:
            return {"answer": planned[given], "flaw": "ungrounded"}
        return original(text)

    monkeypatch.setattr(mock_kinds, "_flawed", flawed)
    return recs


def test_pairs_are_curated_before_they_are_written(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recs = _flaws(generated, monkeypatch)
    r = cli("pairs", generated, "--method", "flawed", "--model", "mock/flaw", "--limit", "4")
    assert r.exit_code == 0, r.output
    pairs = {
        p["meta"]["pair"]["chosen"]["id"]: p
        for p in read_jsonl(generated / "pairs" / "records.jsonl")
    }
    ids = [x["meta"]["id"] for x in recs]
    assert set(pairs) == {ids[0], ids[2], ids[3]}  # the harmful pair is not written
    assert EMAIL not in pairs[ids[0]]["rejected"] and "HR approves it" in pairs[ids[0]]["rejected"]
    assert pairs[ids[2]]["rejected"] == "No."
    (gone,) = read_jsonl(generated / "pairs" / "excluded.jsonl")
    why = gone["meta"]["curation"]["excluded"]
    assert why["step"] == "harmful" and why["reason"].startswith("harmful:")
    assert gone["meta"]["pair"]["chosen"]["id"] == ids[1]
    report = json.loads((generated / "pairs" / "report.json").read_text())
    assert [s["step"] for s in report["curation"]["steps"]] == ["pii", "harmful", "length"]
    assert "quality" in report["curation"]["not_run"]
    assert any(k.startswith("curation:harmful:") for k in report["counts"])
    # the redacted texts are the ones journaled: the pair still passes the gate's check
    conn = sqlite3.connect(generated / "run.sqlite")
    pid = pairs[ids[0]]["meta"]["id"]
    row = conn.execute("SELECT chosen, rejected FROM pair_texts WHERE pair_id=?", (pid,)).fetchone()
    conn.close()
    assert row == (sha256_text(pairs[ids[0]]["chosen"]), sha256_text(pairs[ids[0]]["rejected"]))
    res = run_export(ExportOptions(generated, "trl-preference", "evaluation", tmp_path / "out",
                                   accept_review=("mock",)))  # fmt: skip
    assert res.n_exported == 3


def test_eval_items_are_curated_before_they_are_written(
    ingested: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = mock_kinds._eval_items

    def items(text, n, two_hop, rng):
        out = original(text, n, two_hop, rng)
        if not two_hop and len(out) > 1:
            out[0]["answer"] += f" Questions go to {EMAIL}."
            out[1]["question"] = HARMFUL
        return out

    monkeypatch.setattr(mock_kinds, "_eval_items", items)
    r = cli("evalset", ingested, "--model", "mock/q")
    assert r.exit_code == 0, r.output
    kept = read_jsonl(ingested / "eval" / "records.jsonl")
    assert kept and not any(EMAIL in i["answer"] for i in kept)
    assert sum("[EMAIL" in i["answer"] or "EMAIL" in i["answer"] for i in kept) >= 1
    assert not any(i["question"] == HARMFUL for i in kept)
    gone = read_jsonl(ingested / "eval" / "excluded.jsonl")
    assert gone and all(g["question"] == HARMFUL for g in gone)
    assert {g["meta"]["curation"]["excluded"]["step"] for g in gone} == {"harmful"}
    report = json.loads((ingested / "eval" / "report.json").read_text())
    assert [s["step"] for s in report["curation"]["steps"]] == ["pii", "harmful", "length"]
