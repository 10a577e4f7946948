"""Never stale: each curate replaces curation/ whole, and export refuses curation output
that no longer matches the run's records or settings, naming what changed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from generator.policies import load_policies
from tests.export._build import alpaca, make_run

LOCAL = "local/smollm2-135m-instruct"


def _run(tmp_path: Path) -> tuple[Path, Path]:
    pols = load_policies()
    run = make_run(tmp_path, [alpaca(i, pols["local"], model=LOCAL) for i in range(12)])
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(json.dumps({"steps": ["heuristics", "exact_dedup"], "report": {"plots": False}}))
    return run, cfg


def _curate(run: Path, cfg: Path) -> None:
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])
    assert res.exit_code == 0, res.output


def _export(run: Path, out: Path) -> object:
    args = ["export", str(run), "--format", "alpaca", "--use", "internal-fine-tune"]
    return CliRunner().invoke(app, [*args, "--out", str(out)])


def test_changed_settings_cannot_export_stale_files(tmp_path: Path) -> None:
    run, cfg = _run(tmp_path)
    _curate(run, cfg)
    manifest = json.loads((run / "curation" / "manifest.json").read_text())
    assert manifest["input"]["path"] == "records.jsonl"
    assert manifest["config"]["path"] == str(cfg.resolve())
    assert set(manifest["files"]) >= {"curated.jsonl", "train.jsonl", "validation.jsonl"}
    assert _export(run, tmp_path / "ok").exit_code == 0

    cfg.write_text(json.dumps({"steps": ["heuristics"], "report": {"plots": False}}))
    res = _export(run, tmp_path / "stale")
    assert res.exit_code == 2, res.output
    assert "curate.yaml changed since curation" in res.output
    assert not (tmp_path / "stale").exists() or not any((tmp_path / "stale").iterdir())

    _curate(run, cfg)  # curated again with the new settings: fresh
    assert _export(run, tmp_path / "again").exit_code == 0

    cfg.unlink()
    gone = _export(run, tmp_path / "gone")
    assert gone.exit_code == 2 and "is gone" in gone.output


def test_changed_records_or_hand_edited_output_cannot_export(tmp_path: Path) -> None:
    run, cfg = _run(tmp_path)
    _curate(run, cfg)
    records = run / "records.jsonl"
    original = records.read_bytes()
    pols = load_policies()
    with records.open("a") as fh:  # generation went on after curation
        fh.write(json.dumps(alpaca(40, pols["local"], model=LOCAL)) + "\n")
    res = _export(run, tmp_path / "a")
    assert res.exit_code == 2, res.output
    assert "records.jsonl changed since curation" in res.output

    records.write_bytes(original)
    assert _export(run, tmp_path / "b").exit_code == 0
    train = run / "curation" / "train.jsonl"
    train.write_text(train.read_text().replace("25 days", "45 days"))
    res = _export(run, tmp_path / "c")
    assert res.exit_code == 2 and "curation/train.jsonl was changed after curation" in res.output

    (run / "curation" / "manifest.json").unlink()
    res = _export(run, tmp_path / "d")
    assert res.exit_code == 2 and "no manifest.json" in res.output


def test_a_new_curate_replaces_the_folder_as_a_whole(tmp_path: Path) -> None:
    run, cfg = _run(tmp_path)
    _curate(run, cfg)
    old = run / "curation"
    (old / "quarantine.jsonl").write_text('{"old": true}\n')
    (old / "review_report.md").write_text("old review report\n")
    (old / "notes.txt").write_text("left by hand\n")
    _curate(run, cfg)
    names = {p.name for p in (run / "curation").iterdir()}
    assert not names & {"quarantine.jsonl", "review_report.md", "notes.txt"}
    assert "manifest.json" in names
    assert not list(run.glob(".curation-*"))  # no staging or old folder left behind
