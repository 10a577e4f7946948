"""Review is a round trip: what curation sends to review and a reviewer accepts or edits
reaches export with its edits; what a reviewer rejects never does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.policies import load_policies
from generator.review.session import prepare
from generator.review.store import ReviewStore
from generator.store import Journal
from tests.export._build import alpaca, make_run, read_jsonl

LOCAL = "local/smollm2-135m-instruct"
STEPS = {
    "steps": ["heuristics", "exact_dedup", "contradictions"],
    "exact_dedup": {"on_instruction": False},  # same question, other answer: a contradiction
    "report": {"plots": False},
}
# Same questions as records 0, 10 and 11 of tests/export/_build.py, other figures.
CONFLICTS = [
    (0, "Full-time staff get 30 days of annual leave."),
    (10, "Daily backups are kept for 90 days."),
    (11, "Parents get 12 weeks of paid leave."),
]


def _records() -> list[dict]:
    pols = load_policies()
    rows = [alpaca(i, pols["local"], model=LOCAL) for i in range(12)]
    for n, (i, answer) in enumerate(CONFLICTS):
        row = alpaca(i, pols["local"], model=LOCAL)
        row["output"] = answer
        row["meta"]["id"] = f"rec-conflict-{n}"
        rows.append(row)
    return rows


def _curated_run(tmp_path: Path, *, via_input: bool = False) -> Path:
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(json.dumps(STEPS))
    if via_input:
        src = tmp_path / "elsewhere.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in _records()))
        run = tmp_path / "run"
        args = ["curate", "--input", str(src), "--out", str(run), "--config", str(cfg)]
    else:
        run = make_run(tmp_path, _records())
        args = ["curate", str(run), "--config", str(cfg)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "6 for review" in res.output  # three pairs of contradicting answers
    return run


def _export(run: Path, out: Path, *extra: str) -> list[dict]:
    args = ["export", str(run), "--format", "alpaca", "--use", "internal-fine-tune"]
    res = CliRunner().invoke(app, [*args, "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return [r for name in ("train.jsonl", "validation.jsonl") for r in read_jsonl(out / name)]


def _decide_by_file(run: Path, tmp_path: Path) -> dict[str, str]:
    """review export -> decisions written in the file -> review import; returns texts."""
    queue = tmp_path / "queue.jsonl"
    res = CliRunner().invoke(app, ["review", "export", str(run), "--out", str(queue)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in queue.read_text().splitlines()]
    flagged = [r for r in rows if r["origin"] == "flagged"]
    sampled = [r for r in rows if r["origin"] == "sample"]
    assert len(flagged) == 6
    texts = {}
    flagged[0]["decision"] = "accept"
    texts["accepted"] = flagged[0]["record"]["output"]
    flagged[1]["decision"] = "edit"
    flagged[1]["edited"] = {**flagged[1]["record"], "output": "Edited by the reviewer: 25 days."}
    texts["edited"] = "Edited by the reviewer: 25 days."
    texts["edited_away"] = flagged[1]["record"]["output"]
    flagged[2].update(decision="reject", reason="contradicts the handbook")
    texts["rejected_flagged"] = flagged[2]["record"]["output"]
    sampled[0].update(decision="reject", reason="vague")
    texts["rejected_sampled"] = sampled[0]["record"]["output"]
    texts["pending_flagged"] = flagged[3]["record"]["output"]
    queue.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["review", "import", str(run), str(queue), "--reviewer", "ana"])
    assert res.exit_code == 0 and "imported 4 decisions" in res.output, res.output
    return texts


@pytest.mark.parametrize("via_input", [False, True], ids=["run", "curate-input"])
def test_reviewed_records_reach_export_and_rejected_never(tmp_path: Path, via_input) -> None:
    run = _curated_run(tmp_path, via_input=via_input)
    texts = _decide_by_file(run, tmp_path)
    # data from elsewhere never declares its own terms: a person accepts `unknown`
    accept = ("--accept-review", "unknown") if via_input else ()

    outputs = [r["output"] for r in _export(run, tmp_path / "plain", *accept)]
    assert texts["accepted"] in outputs and texts["edited"] in outputs
    for gone in ("edited_away", "rejected_flagged", "rejected_sampled", "pending_flagged"):
        assert texts[gone] not in outputs, gone
    excluded = read_jsonl(tmp_path / "plain" / "excluded.jsonl")
    held = {e["reason"] for e in excluded if e["stage"] == "review"}
    assert held == {"review_pending", "review_rejected: contradicts the handbook",
                    "review_rejected: vague"}  # fmt: skip
    meta = [m for m in read_jsonl(tmp_path / "plain" / "meta.jsonl") if m["split"] == "train"]
    edited = next(m for m in meta if m["meta"]["curation"].get("review", {}).get("decision"))
    assert edited["meta"]["curation"]["review"]["sent_by"]["step"] == "contradictions"

    strict = _export(run, tmp_path / "req", "--require-review", "accepted", *accept)
    strict = [r["output"] for r in strict]
    assert sorted(strict) == sorted([texts["accepted"], texts["edited"]])


def test_decisions_in_the_terminal_loop_reach_export(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    run = _curated_run(tmp_path)
    # the six flagged records come first: accept, edit, reject, then quit
    keys = "a\ne\noutput\nRewritten in the loop.\nr\nwrong\nq\n"
    res = CliRunner().invoke(app, ["review", str(run), "--reviewer", "bo"], input=keys)
    assert res.exit_code == 0, res.output
    items = ReviewStore(Journal(run)).items()
    accepted, edited, rejected = (it.record.output_text() for it in items[:3])
    outputs = [r["output"] for r in _export(run, tmp_path / "out")]
    assert accepted in outputs and "Rewritten in the loop." in outputs
    assert edited not in outputs and rejected not in outputs


def test_sample_and_seed_are_honoured_or_refused(tmp_path: Path) -> None:
    run = _curated_run(tmp_path)
    runner = CliRunner()
    first = runner.invoke(
        app, ["review", "export", str(run), "--out", str(tmp_path / "q.jsonl"), "--sample", "3",
              "--seed", "7"],
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    info = ReviewStore(Journal(run)).sample_info()
    assert (info["sample_size"], info["seed"]) == (3, 7)  # honoured
    for extra in (["--seed", "8"], ["--sample", "4"]):
        res = runner.invoke(
            app, ["review", "export", str(run), "--out", str(tmp_path / "r.jsonl"), *extra]
        )
        assert res.exit_code == 2, res.output
        assert "drawn with --sample 3 --seed 7" in res.output
    same = runner.invoke(
        app, ["review", "export", str(run), "--out", str(tmp_path / "s.jsonl"), "--seed", "7"]
    )
    assert same.exit_code == 0, same.output
    big = tmp_path / "big"
    big.mkdir()
    run2 = _curated_run(big)
    res = runner.invoke(
        app, ["review", "export", str(run2), "--out", str(big / "q.jsonl"), "--sample", "500"]
    )
    assert res.exit_code == 0 and "asked for more than the" in res.output


def test_a_decision_on_another_text_does_not_apply(tmp_path: Path) -> None:
    run = _curated_run(tmp_path)
    store = ReviewStore(Journal(run))
    prepare(store, run, 3, 0)
    flagged = [it for it in store.items() if it.origin == "flagged"]
    for it in flagged:
        store.decide(it.record_id, "accept")
    assert _texts(run, tmp_path / "before") >= {it.record.output_text() for it in flagged}

    # the records change (same ids, one answer rewritten) and curation runs again
    target = flagged[0].record_id
    rows = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines()]
    for row in rows:
        if row["meta"]["id"] == target:
            row["output"] = row["output"].replace("days", "working days")
            new_text = row["output"]
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(tmp_path / "curate.yaml")])
    assert res.exit_code == 0, res.output
    prepare(store, run, None, None)  # what `review` does when it starts again
    assert [it.record_id for it in store.pending() if it.origin == "flagged"] == [target]
    assert new_text not in _texts(run, tmp_path / "after")  # the old accept does not apply
    store.decide(target, "accept")
    assert new_text in _texts(run, tmp_path / "again")


def _texts(run: Path, out: Path) -> set[str]:
    return {r["output"] for r in _export(run, out)}
