"""Pairs made by the real stage (mock provider) export and verify; a swap of a reviewer-edit
pair's sides in ``pairs/records.jsonl`` is refused (the journal holds the edit)."""

from __future__ import annotations

import json
from pathlib import Path

from generator.export.job import ExportOptions, run_export
from generator.export.verify import verify_pack
from generator.review.store import ReviewStore
from generator.store import Journal
from tests.derive.conftest import cli
from tests.generate.engine_helpers import read_jsonl


def _edit_two(run: Path) -> None:
    j = Journal(run)
    ReviewStore(j)
    for rec in read_jsonl(run / "records.jsonl")[:2]:
        after = {**rec, "output": "Corrected: " + rec["output"]}
        j.execute(
            "INSERT INTO review_decisions(record_id, decision, reviewer, at, before, after)"
            " VALUES (?, 'edit', 'ana', '2026-12-01T10:00:00Z', ?, ?)",
            (rec["meta"]["id"], json.dumps(rec), json.dumps(after)),
        )
    j.close()


def _swap_first(run: Path) -> str:
    path = run / "pairs" / "records.jsonl"
    rows = read_jsonl(path)
    rows[0]["chosen"], rows[0]["rejected"] = rows[0]["rejected"], rows[0]["chosen"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows[0]["meta"]["id"]


def _export(run: Path, out: Path):
    opts = ExportOptions(run, "trl-preference", "evaluation", out, accept_review=("mock",))
    return run_export(opts)


def test_reviewer_edit_pairs_verify_and_a_swap_is_refused(generated: Path, tmp_path: Path) -> None:
    _edit_two(generated)
    assert cli("pairs", generated, "--method", "review-edit").exit_code == 0
    res = _export(generated, tmp_path / "ok")
    assert res.n_exported == 2
    verify_pack(tmp_path / "ok")
    swapped = _swap_first(generated)
    res = _export(generated, tmp_path / "bad")
    held = [e for e in res.exclusions if e.stage == "gate"]
    assert [e.id for e in held] == [swapped] and "swapped" in held[0].reason
    assert held[0].verdict == "block" and res.n_exported == 1


def test_judge_and_flawed_pairs_of_the_stage_export_and_verify(
    generated: Path, tmp_path: Path
) -> None:
    for k, args in enumerate(
        [
            ("--method", "judge", "--model", "mock/c", "--rival", "mock/d", "--judge", "mock/j"),
            ("--method", "flawed", "--model", "mock/flaw", "--limit", "3"),
        ]
    ):
        r = cli("pairs", generated, *args)
        assert r.exit_code == 0, r.output
        n = len(read_jsonl(generated / "pairs" / "records.jsonl"))
        res = _export(generated, tmp_path / str(k))
        assert n and res.n_exported == n
        verify_pack(tmp_path / str(k))
        swapped = _swap_first(generated)
        res = _export(generated, tmp_path / f"bad{k}")
        assert [e.id for e in res.exclusions if e.stage == "gate"] == [swapped]


def test_an_edited_side_or_prompt_of_a_stage_pair_is_refused(
    generated: Path, tmp_path: Path
) -> None:
    r = cli("pairs", generated, "--method", "flawed", "--model", "mock/flaw", "--limit", "3")
    assert r.exit_code == 0, r.output
    path = generated / "pairs" / "records.jsonl"
    clean = path.read_text()
    for k, (field, says) in enumerate(
        [("prompt", "the prompt differs"), ("rejected", "the rejected text differs")]
    ):
        rows = read_jsonl(path)
        if field == "prompt":  # the pair now claims to answer another question
            rows[1]["prompt"][-1]["content"] = "How many days of leave do interns get?"
        else:
            rows[1]["rejected"] = rows[1]["rejected"].replace(".", "!", 1) + " "
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        res = _export(generated, tmp_path / str(k))
        held = [e for e in res.exclusions if e.stage == "gate"]
        assert [e.id for e in held] == [rows[1]["meta"]["id"]] and says in held[0].reason
        assert held[0].verdict == "block" and res.n_exported == 2
        path.write_text(clean)
