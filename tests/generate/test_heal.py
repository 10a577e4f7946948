"""Healing records.jsonl and rejected.jsonl against the journal (generate/heal.py): torn
tails, lines the file lost, lines the journal lost (taken back and their units marked done,
so that a resumed self-instruct run still equals an uninterrupted one), rejections."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.errors import DiskFull
from generator.generate.heal import heal_outputs
from generator.providers import mock
from generator.store import Journal
from tests.generate.engine_helpers import gen, query, read_jsonl, record_set


def _calls() -> int:
    return sum(mock._seen.values())  # the in-process mock's call log


def _heal(run: Path):
    with Journal(run) as journal:
        return heal_outputs(journal, run)


def test_torn_tail_cut_and_missing_lines_written_back_once(docs, tmp_path):
    run = tmp_path / "run"
    assert gen(docs, run, "--per-chunk", "10").exit_code == 0
    whole = (run / "records.jsonl").read_text().splitlines(keepends=True)
    # A crash after the journal commit of the last lines, in the middle of writing one.
    (run / "records.jsonl").write_text("".join(whole[:5]) + whole[5][:30])
    report = _heal(run)
    assert report.files[0].torn == 1 and report.files[0].restored == len(whole) - 5
    assert (run / "records.jsonl").read_text().splitlines(keepends=True)[:5] == whole[:5]
    assert sorted((run / "records.jsonl").read_text().splitlines()) == sorted(
        line.rstrip("\n") for line in whole
    )
    again = _heal(run)  # idempotent: nothing to do, nothing written twice
    assert again.lines() == [] and len(read_jsonl(run / "records.jsonl")) == len(whole)


def test_lost_rejections_are_taken_back(docs, tmp_path):
    run = tmp_path / "run"
    assert gen(docs, run, "--per-chunk", "10", "--template", "self-instruct").exit_code == 0
    rejected = read_jsonl(run / "rejected.jsonl")
    assert rejected, "the test needs rejections"
    gone = rejected[0]["id"]
    with Journal(run) as journal:
        journal.execute("DELETE FROM gen_rejections WHERE id=?", (gone,))
    report = _heal(run)
    assert report.files[1].adopted == 1
    assert query(run, "SELECT reason FROM gen_rejections WHERE id=?", (gone,)) == [
        (rejected[0]["reason"],)
    ]
    assert len(read_jsonl(run / "rejected.jsonl")) == len(rejected)


def test_lines_unknown_to_a_journal_without_generation_are_left_alone(tmp_path, docs):
    run = tmp_path / "run"
    from typer.testing import CliRunner

    from generator.cli import app

    assert CliRunner().invoke(app, ["ingest", str(docs), "--out", str(run)]).exit_code == 0
    line = json.dumps({"instruction": "Mine?", "output": "Yes.", "meta": {"id": "u1",
                       "format": "alpaca"}})  # fmt: skip
    (run / "records.jsonl").write_text(line + "\n")
    report = _heal(run)
    assert report.files[0].unchecked == 1 and "left as they are" in report.lines()[0]
    assert (run / "records.jsonl").read_text() == line + "\n"
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] == 0


def test_restored_journal_self_instruct_resumes_to_the_uninterrupted_records(docs, tmp_path):
    """The journal goes back (a restored backup) while records.jsonl keeps later records:
    their units are marked done with their pool entries, so the later decisions (novelty,
    in-context examples) are the same as without the loss, and no call is paid twice."""
    args = ["--template", "self-instruct", "--pool-lag", "2", "--concurrency", "1"]
    full = tmp_path / "full"
    assert gen(docs, full, *args).exit_code == 0

    plain = tmp_path / "plain"  # stopped at 6, then at 14, then finished: the calls it pays
    assert gen(docs, plain, *args, "--records", "6").exit_code == 0
    assert gen(docs, plain, *args, "--records", "14").exit_code == 0
    mock.reset()
    assert gen(docs, plain, *args).exit_code == 0
    plain_calls = _calls()

    run = tmp_path / "restored"
    assert gen(docs, run, *args, "--records", "6").exit_code == 0
    shutil.copy(run / "run.sqlite", tmp_path / "backup.sqlite")
    assert gen(docs, run, *args, "--records", "14").exit_code == 0
    kept = len(read_jsonl(run / "records.jsonl"))
    shutil.copy(tmp_path / "backup.sqlite", run / "run.sqlite")
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] < kept
    mock.reset()
    res = gen(docs, run, *args)
    assert res.exit_code == 0, res.output
    assert "taken back" in res.output and "not generated or paid again" in res.output
    assert _calls() <= plain_calls + 1  # at most the call in flight at the stop at 14
    assert record_set(run) == record_set(full)
    lines = read_jsonl(run / "records.jsonl")
    assert len(lines) == len({r["meta"]["id"] for r in lines})
    assert query(run, "SELECT COUNT(*) FROM gen_pool")[0][0] == len(lines)
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] == len(lines)
    adopted = query(run, "SELECT COUNT(*), SUM(prompt_tokens) FROM gen_calls WHERE kind='adopted'")
    assert adopted[0][0] >= 1 and adopted[0][1] > 0  # usage of the taken-back units counted


def _heal_on_a_full_disk(docs: Path, tmp_path: Path, duplicate: bool) -> Path:
    """A run copied to a small tmpfs whose records.jsonl then holds its first line (twice
    with ``duplicate``: the file must be rewritten, else appended to); the disk
    is filled to the last byte and the files are healed: returns the run folder."""
    from tests.test_full_disk import fill, tmpfs

    src = tmp_path / "src"
    assert gen(docs, src, "--per-chunk", "10").exit_code == 0
    whole = (src / "records.jsonl").read_text().splitlines(keepends=True)
    with tmpfs(tmp_path / "disk", "4m") as disk:
        run = disk / "run"
        shutil.copytree(src, run)
        (run / "records.jsonl").write_text(whole[0] * (2 if duplicate else 1))
        with Journal(run) as journal:  # opened (WAL index made) while there is space
            fill(disk)
            with pytest.raises(DiskFull) as err:
                heal_outputs(journal, run)
        assert "disk full" in str(err.value) and "records.jsonl" in str(err.value)
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
        data = (run / "records.jsonl").read_bytes()
        assert data.endswith(b"\n"), "a partial last line was left"
        kept = data.decode().splitlines(keepends=True)
        assert set(kept) <= set(whole)
        if duplicate:  # the rewrite failed: the old file, as it was
            assert kept == [whole[0], whole[0]]
    return run


def test_heal_appending_on_a_full_disk_is_disk_full_and_leaves_whole_lines(docs, tmp_path):
    """Seen: _append left a partial line on ENOSPC, and heal turned a full disk into
    exit 2 ("cannot bring ... in line") instead of DiskFull (exit 4, resumable)."""
    _heal_on_a_full_disk(docs, tmp_path, duplicate=False)


def test_heal_rewriting_on_a_full_disk_is_disk_full_and_leaves_no_temp_file(docs, tmp_path):
    """Seen: _rewrite left records.jsonl.heal.tmp behind when the disk filled."""
    _heal_on_a_full_disk(docs, tmp_path, duplicate=True)
