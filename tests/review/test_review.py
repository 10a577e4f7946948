"""Sampled human review: stratified sample, scripted loop with quit and resume, edits,
external JSONL/CSV round trip, outcome estimate, and what export may use afterwards."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.commands.review import review_app
from generator.records import AlpacaRecord, Chunk, Document, Meta, Ref, SourceRef
from generator.review.sampler import default_size, stratified_sample, wilson_interval
from generator.review.session import apply_review, summary
from generator.review.store import ReviewStore
from generator.store import Journal

DOCS = ["handbook/leave.md", "it/security.md", "manual/router.pdf"]


def _records(n: int) -> list[AlpacaRecord]:
    out = []
    for i in range(n):
        doc = DOCS[i % 3]
        meta = Meta(
            id=f"r{i:03d}",
            format="alpaca",
            provider="mock",
            model="mock/echo",
            prompt=Ref(id="qa" if i % 2 else "self-instruct", version="1", sha256="0" * 64),
            source=SourceRef(
                path=doc, doc_sha256="d" * 64, chunk_id=f"chunk-{i % 3}", span=(0, 10)
            ),
            curation={"quality": {"score": 0.5 + (i % 5) / 10}},
        )
        out.append(
            AlpacaRecord(
                instruction=f"Question {i} about {doc}?",
                output=f"Answer number {i}, taken from the document {doc}.",
                meta=meta,
            )
        )
    return out


@pytest.fixture
def run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    j = Journal(run)
    for k, doc in enumerate(DOCS):
        j.put_document(
            Document(path=doc, sha256="d" * 64, type="md", title=doc, text=f"Source text {k}"),
            [
                Chunk(
                    id=f"chunk-{k}",
                    doc_path=doc,
                    doc_sha256="d" * 64,
                    index=0,
                    text=f"Source text of {doc}",
                    span=(0, 10),
                    tokens=4,
                )
            ],
        )
    j.close()
    with (run / "records.jsonl").open("w") as fh:
        for r in _records(60):
            fh.write(r.to_json() + "\n")
    return run


def test_default_size_and_stratified_sample_cover_every_stratum() -> None:
    assert default_size(10) == 10 and default_size(400) == 50 and default_size(3000) == 150
    recs = _records(300)
    sample = stratified_sample(recs, 30, seed=1)
    assert len(sample) == 30 and len({r.meta.id for r, _ in sample}) == 30
    strata = Counter(st for _, st in sample)
    all_strata = {st for st in (s for _, s in stratified_sample(recs, 300, seed=1))}
    assert set(strata) == all_strata  # every stratum represented
    assert stratified_sample(recs, 30, seed=1) == sample  # seeded
    assert stratified_sample(recs, 30, seed=2) != sample


def test_wilson_interval_brackets_the_rate() -> None:
    lo, hi = wilson_interval(5, 50)
    assert lo < 0.1 < hi and lo > 0.03 and hi < 0.22
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(0, 20)[1] > 0.1


def test_loop_with_scripted_keys_quit_and_resume(run: Path, monkeypatch) -> None:
    monkeypatch.delenv("EDITOR", raising=False)
    runner = CliRunner()
    # accept, reject with reason, inline edit of the output, then quit
    keys = "a\nr\nwrong figure\ne\noutput\nFixed answer taken from the document.\nq\n"
    res = runner.invoke(
        review_app, [str(run), "--sample", "10", "--seed", "3", "--reviewer", "ana"], input=keys
    )
    assert res.exit_code == 0, res.output
    assert "source chunk" in res.output and "Source text of" in res.output
    store = ReviewStore(Journal(run))
    latest = store.latest()
    assert sorted(d["decision"] for d in latest.values()) == ["accept", "edit", "reject"]
    edit = next(d for d in latest.values() if d["decision"] == "edit")
    assert json.loads(edit["after"])["output"] == "Fixed answer taken from the document."
    assert json.loads(edit["before"])["output"].startswith("Answer number")
    assert all(d["reviewer"] == "ana" for d in latest.values())
    # resume: the same queue, starting after the three decided items
    res2 = runner.invoke(review_app, [str(run)], input="s\n" + "a\n" * 6)
    assert res2.exit_code == 0, res2.output
    assert "4/10" in res2.output and "review queue finished" in res2.output
    s = summary(ReviewStore(Journal(run)))
    assert s["decided"] == {"accept": 7, "reject": 1, "edit": 1, "pending": 1}
    assert s["defect_rate"] == pytest.approx(2 / 9)
    assert (run / "curation" / "review_report.md").read_text().count("Wilson") == 1


def test_edit_through_editor(run: Path, tmp_path: Path, monkeypatch) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import json, sys\np = sys.argv[1]\nd = json.load(open(p))\n"
        "d['output'] = 'Edited in the editor, grounded in the source.'\n"
        "json.dump(d, open(p, 'w'))\n"
    )
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    res = CliRunner().invoke(review_app, [str(run), "--sample", "2"], input="e\nq\n")
    assert res.exit_code == 0, res.output
    latest = ReviewStore(Journal(run)).latest()
    assert [json.loads(d["after"])["output"] for d in latest.values()] == [
        "Edited in the editor, grounded in the source."
    ]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_external_round_trip_with_bad_rows(run: Path, tmp_path: Path, suffix: str) -> None:
    runner = CliRunner()
    out = tmp_path / f"sample.{suffix}"
    res = runner.invoke(review_app, ["export", str(run), "--out", str(out), "--sample", "6"])
    assert res.exit_code == 0, res.output
    if suffix == "csv":
        import csv

        rows = list(csv.DictReader(out.open()))
        rows[0]["decision"], rows[1]["decision"], rows[1]["reason"] = "accept", "reject", "vague"
        rows[2]["decision"], rows[2]["edited_output"] = "edit", "A better answer from the text."
        rows[3]["decision"] = "reject"  # no reason: refused
        rows[4]["decision"] = "maybe"  # unknown decision: refused
        with out.open("w", newline="") as fh:
            w = csv.DictWriter(fh, rows[0].keys())
            w.writeheader()
            w.writerows(rows)
    else:
        rows = [json.loads(line) for line in out.open()]
        rows[0]["decision"] = "accept"
        rows[1].update(decision="reject", reason="vague")
        rows[2].update(
            decision="edit",
            edited={"instruction": "Q?", "input": "", "output": "A better answer from the text."},
        )
        rows[3]["decision"] = "reject"
        rows[4]["decision"] = "maybe"
        out.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    res = runner.invoke(review_app, ["import", str(run), str(out), "--reviewer", "legal"])
    assert res.exit_code == 0, res.output
    assert "imported 3 decisions" in res.output
    assert "a rejection needs a reason" in res.output
    assert "decision must be one of" in res.output
    latest = ReviewStore(Journal(run)).latest()
    assert Counter(d["decision"] for d in latest.values()) == {"accept": 1, "reject": 1, "edit": 1}


def test_apply_review_modes(run: Path) -> None:
    store = ReviewStore(Journal(run))
    from generator.review.session import prepare

    prepare(store, run, 4, seed=0)
    ids = [it.record_id for it in store.items()]
    records = _records(60)
    store.decide(ids[0], "accept")
    store.decide(ids[1], "reject", reason="wrong")
    before = next(r for r in records if r.meta.id == ids[2])
    after = before.model_copy(deep=True)
    after.output = "Corrected answer from the document."
    store.decide(ids[2], "edit", before=before, after=after)
    keep, held = apply_review(records, store, "accepted")
    assert len(held) == 58
    assert sorted(r.meta.id for r in keep) == sorted([ids[0], ids[2]])
    assert next(r for r in keep if r.meta.id == ids[2]).output.startswith("Corrected")
    keep2, held2 = apply_review(records, store, "accepted-or-unsampled")
    assert len(keep2) == 60 - 2  # the rejected one and the pending sampled one are held
    assert {reason.split(":")[0] for _, reason in held2} == {"review_rejected", "review_pending"}


def test_review_report_on_a_full_disk_keeps_the_previous_one(run: Path, monkeypatch) -> None:
    """ENOSPC half-way through review_report.md: the previous report stays whole, no
    temp file is left, and the command stops with exit 4 (a full disk), not a traceback."""
    import errno
    import os

    from generator.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["review", "status", str(run)]).exit_code == 0
    report = run / "curation" / "review_report.md"
    before = report.read_bytes()
    real = Path.write_text

    def write_text(self: Path, text: str, *args: object, **kw: object) -> int:
        if "review_report" in self.name:
            real(self, text[: len(text) // 2], *args, **kw)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, text, *args, **kw)

    monkeypatch.setattr(Path, "write_text", write_text)
    res = runner.invoke(app, ["review", "status", str(run)])
    assert res.exit_code == 4, res.output
    assert report.read_bytes() == before
    assert [p.name for p in report.parent.iterdir()] == ["review_report.md"]


def test_strata_name_source_paths_escaped() -> None:
    """A source path with a newline or a control character stays one escaped line in the
    review queue (shown, exported to CSV/JSONL)."""
    from generator.review.sampler import stratum

    rec = _records(1)[0]
    rec.meta.source = rec.meta.source.model_copy(update={"path": "hr/a\nb\x07.md"})
    assert stratum(rec).startswith("hr/a\\nb\\x07.md|")
