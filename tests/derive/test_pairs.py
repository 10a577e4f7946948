"""Preference pairs with the mock: two models ranked by the judge, two temperatures, a
failed or tied ranking held for review (never a silent pick), reviewer edits, flawed
answers; every side journaled with its own model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from generator.record_kinds import PreferenceRecord
from generator.records import parse_record
from generator.review.store import ReviewStore
from generator.store import Journal
from tests.derive.conftest import cli
from tests.generate.engine_helpers import read_jsonl


def _pairs(run: Path) -> list[PreferenceRecord]:
    return [parse_record(d) for d in read_jsonl(run / "pairs" / "records.jsonl")]  # type: ignore[misc]


def _journaled(run: Path, rid: str) -> dict | None:
    conn = sqlite3.connect(run / "run.sqlite")
    try:
        for table in ("gen_records", "kind_records"):
            row = conn.execute(f"SELECT data FROM {table} WHERE id=?", (rid,)).fetchone()
            if row:
                return json.loads(row[0])["meta"]
    finally:
        conn.close()
    return None


def test_two_models_ranked_by_the_judge(generated: Path) -> None:
    # mock/c answers from the document, mock/d vaguely (the mock's variants): the judge's
    # rubric prefers the grounded answer whichever order they are shown in
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
            "--judge", "mock/judge")  # fmt: skip
    assert r.exit_code == 0, r.output
    pairs = _pairs(generated)
    n = len(read_jsonl(generated / "records.jsonl"))
    assert len(pairs) == n
    for p in pairs:
        meta = p.meta.model_extra["pair"]
        assert meta["method"] == "judge" and meta["judge"]["model"] == "mock/judge"
        assert meta["chosen"]["model"] == "mock/c" and meta["rejected"]["model"] == "mock/d"
        assert p.rejected.startswith("It depends") and meta["judge"]["orders"] == 2
        for side in ("chosen", "rejected"):  # each side journaled with its own model
            assert _journaled(generated, meta[side]["id"])["model"] == meta[side]["model"]
    # journaled judge calls: a re-run pays nothing and gives the same pairs
    conn = sqlite3.connect(generated / "run.sqlite")
    calls = conn.execute("SELECT count(*) FROM judge_calls").fetchone()[0]
    assert cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
               "--judge", "mock/judge").exit_code == 0  # fmt: skip
    assert conn.execute("SELECT count(*) FROM judge_calls").fetchone()[0] == calls
    assert [p.meta.id for p in _pairs(generated)] == [p.meta.id for p in pairs]


def test_two_sampling_settings_of_one_model(generated: Path) -> None:
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/a",
            "--temperatures", "0.2,1.0", "--judge", "mock/judge")  # fmt: skip
    assert r.exit_code == 0, r.output
    pairs = _pairs(generated)
    assert pairs
    temps = {(p.meta.model_extra["pair"]["chosen"]["temperature"],
              p.meta.model_extra["pair"]["rejected"]["temperature"]) for p in pairs}  # fmt: skip
    assert temps == {(0.2, 1.0)}


def test_failed_ranking_and_equal_answers_go_to_review(generated: Path) -> None:
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
            "--judge", "mock/judge?malformed=1")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _pairs(generated) == []
    findings = read_jsonl(generated / "pairs" / "review.jsonl")
    assert findings and {f["reason"] for f in findings} == {"check_failed:pair-judge"}
    # two sides that wrote the same answer: no pair to learn from, held
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/a", "--rival", "mock/b",
            "--judge", "mock/judge")  # fmt: skip
    assert {f["reason"] for f in read_jsonl(generated / "pairs" / "review.jsonl")} == {
        "same_answer"
    }
    assert "--rival" in cli("pairs", generated, "--method", "judge", "--model", "mock/a",
                            "--judge", "mock/j").output  # fmt: skip


@pytest.mark.parametrize(("better", "reason"), [("1", "judge:inconsistent"), ("tie", "judge:tie")])
def test_a_biased_or_undecided_judge_decides_nothing(
    generated: Path, monkeypatch: pytest.MonkeyPatch, better: str, reason: str
) -> None:
    from generator.providers import mock_kinds

    # "1": a judge that always prefers the answer shown first; "tie": one that cannot tell
    monkeypatch.setattr(mock_kinds, "_rank", lambda text: {"better": better, "reason": "r"})
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
            "--judge", "mock/judge")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert _pairs(generated) == []
    reasons = {f["reason"] for f in read_jsonl(generated / "pairs" / "review.jsonl")}
    assert reasons == {reason}


def test_reviewer_edit_is_chosen_over_the_original(generated: Path) -> None:
    recs = read_jsonl(generated / "records.jsonl")
    j = Journal(generated)
    ReviewStore(j)
    edits = []
    for k, rec in enumerate(recs[:3]):
        after = json.loads(json.dumps(rec))
        if k == 2:  # the reviewer rewrote the question too: not a pair
            after["instruction"] = after["instruction"] + " (rephrased)"
        after["output"] = "Corrected: " + rec["output"]
        edits.append(after)
        j.execute(
            "INSERT INTO review_decisions(record_id, decision, reviewer, at, before, after)"
            " VALUES (?, 'edit', 'ana', '2026-12-01T10:00:00Z', ?, ?)",
            (rec["meta"]["id"], json.dumps(rec), json.dumps(after)),
        )
    j.close()
    r = cli("pairs", generated, "--method", "review-edit")
    assert r.exit_code == 0, r.output
    pairs = _pairs(generated)
    assert [p.chosen for p in pairs] == [e["output"] for e in edits[:2]]
    assert [p.rejected for p in pairs] == [rec["output"] for rec in recs[:2]]
    sides = pairs[0].meta.model_extra["pair"]
    assert sides["chosen"]["origin"] == "reviewer" and sides["chosen"]["reviewer"] == "ana"
    assert sides["rejected"]["id"] == recs[0]["meta"]["id"]
    findings = read_jsonl(generated / "pairs" / "review.jsonl")
    assert [f["reason"] for f in findings] == ["edit:changed_the_question"]


def test_flawed_answers_rejected(generated: Path) -> None:
    r = cli("pairs", generated, "--method", "flawed", "--model", "mock/flaw", "--limit", "4")
    assert r.exit_code == 0, r.output
    pairs = _pairs(generated)
    recs = {d["meta"]["id"]: d for d in read_jsonl(generated / "records.jsonl")}
    assert len(pairs) == 4
    for p in pairs:
        sides = p.meta.model_extra["pair"]
        assert sides["method"] == "flawed" and sides["chosen"]["origin"] == "record"
        original = recs[sides["chosen"]["id"]]
        assert p.chosen == original["output"] and p.rejected != p.chosen
        assert sides["rejected"]["flaw"] in ("wrong_figure", "ungrounded")
        assert _journaled(generated, sides["rejected"]["id"])["model"] == "mock/flaw"


def test_wrong_figure_must_change_a_figure() -> None:
    from generator.derive.pairs import _flaw_made

    assert _flaw_made("wrong_figure", "You get 25 days.", "You get 32 days.")
    assert not _flaw_made("wrong_figure", "You get 25 days.", "You get 25 days off.")
    assert not _flaw_made("ungrounded", "Same.", " Same. ")


def test_bad_options_are_one_line_usage_errors(generated: Path) -> None:
    for args, says in [
        (("--method", "coin"), "--method must be one of"),
        (("--method", "judge", "--model", "mock/a", "--temperatures", "x", "--judge", "mock/j"),
         "--temperatures"),
        (("--method", "flawed"), "needs --model"),
    ]:  # fmt: skip
        r = cli("pairs", generated, *args)
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output
    report = (
        json.loads((generated / "pairs" / "report.json").read_text())
        if (generated / "pairs").exists()
        else None
    )
    assert report is None  # nothing was written by a refused command


def test_the_judge_of_each_pair_is_journaled_beside_its_sides(generated: Path) -> None:
    r = cli("pairs", generated, "--method", "judge", "--model", "mock/c", "--rival", "mock/d",
            "--judge", "mock/judge")  # fmt: skip
    assert r.exit_code == 0, r.output
    pairs = _pairs(generated)
    conn = sqlite3.connect(generated / "run.sqlite")
    rows = {
        pid: (chosen, rejected, json.loads(data))
        for pid, chosen, rejected, data in conn.execute(
            "SELECT pair_id, chosen, rejected, data FROM pair_judges"
        )
    }
    assert pairs and set(rows) == {p.meta.id for p in pairs}
    for p in pairs:
        chosen, rejected, judge = rows[p.meta.id]
        pair = p.meta.model_extra["pair"]
        assert (chosen, rejected) == (pair["chosen"]["id"], pair["rejected"]["id"])
        assert judge["model"] == "mock/judge" and judge["policy"]["id"] == "mock"
        assert "api_base" in judge and judge["prompt"]["id"] == "pair-judge"
