"""The pipeline end to end: foreign JSONL import, config, outputs, determinism, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict
from typer.testing import CliRunner

from generator.cli import app
from generator.curate import registry
from generator.curate.base import Filter
from generator.curate.config import load_config, parse_config
from generator.curate.io import load_records
from generator.curate.pipeline import curate
from generator.errors import ConfigError
from tests.curate.corpus import as_rows, corpus

FAST = {"steps": ["heuristics", "length", "exact_dedup", "near_dedup"]}


def _write(path: Path, rows: list, extra_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(r) for r in rows]
    for at, text in sorted((extra_lines or {}).items()):
        lines.insert(at - 1, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _foreign(tmp_path: Path) -> Path:
    rows = as_rows(corpus(150, 20, seed=8))
    for r in rows[:50]:  # no meta at all: ids must be assigned, extra keys kept
        r.pop("meta")
        r["lang"] = "en"
    rows.append(
        {
            "messages": [
                {"role": "user", "content": "How do I order a new monitor?"},
                {
                    "role": "assistant",
                    "content": "Raise a request in the IT "
                    "portal under Hardware; your manager approves it within a day.",
                },
            ],
            "source_file": "legacy.csv",
        }
    )
    rows.append(
        {
            "prompt": "The office opens at",
            "completion": " eight in the morning on "
            "weekdays and closes at six, except on public holidays.",
        }
    )
    bad = {
        3: "{not json",
        10: '{"text": "no known format"}',
        20: "[1, 2]",
        30: '{"instruction": "", "output": "x"}',
    }
    path = _write(tmp_path / "foreign.jsonl", rows, bad)
    with path.open("ab") as handle:  # line 177: Latin-1 bytes, not UTF-8
        handle.write(b'{"instruction": "caf\xe9 opening hours", "output": "8 to 6"}\n')
    return path


def test_import_reports_bad_lines_and_keeps_extra_keys(tmp_path):
    records, report = load_records(_foreign(tmp_path))
    assert [p.line for p in report.problems] == [3, 10, 20, 30, 177]
    assert str(report.problems[4]) == "line 177: not UTF-8 text"
    assert "not JSON" in str(report.problems[0])
    assert "line 30: invalid alpaca record: instruction" in str(report.problems[3])
    assert len(records) == 172 and report.ids_assigned == 52
    first = records[0]
    assert first.meta.model_extra["extra"] == {"lang": "en"} and len(first.meta.id) == 24
    chat = next(r for r in records if r.meta.format == "chat")
    assert chat.meta.model_extra["extra"] == {"source_file": "legacy.csv"}
    again, _ = load_records(tmp_path / "foreign.jsonl")
    assert [r.meta.id for r in again] == [r.meta.id for r in records]  # stable ids


def test_pipeline_writes_every_file_and_rerun_is_identical(tmp_path):
    src = _foreign(tmp_path)
    config = parse_config(FAST | {"report": {"goal": "style"}})
    result = curate(tmp_path / "run", input_file=src, config=config)
    out = tmp_path / "run" / "curation"
    names = {
        "curated.jsonl",
        "train.jsonl",
        "validation.jsonl",
        "excluded.jsonl",
        "review.jsonl",
        "stats.json",
        "report.md",
        "steps.png",
        "lengths.png",
        "split.png",
        "similarity.png",
    }
    assert names <= {p.name for p in out.iterdir()}
    assert result.counts["bad_lines"] == 5
    curated = [json.loads(x) for x in (out / "curated.jsonl").read_text().splitlines()]
    excluded = [json.loads(x) for x in (out / "excluded.jsonl").read_text().splitlines()]
    assert len(curated) + len(excluded) == result.counts["input"] == 172
    assert len(excluded) >= 19  # the planted duplicates (one may coincide with a bad line)
    for row in excluded:
        info = row["meta"]["curation"]["excluded"]
        assert info["step"] in FAST["steps"] and info["reason"]
        if info["step"].endswith("dedup"):
            assert info["duplicate_of"] in {c["meta"]["id"] for c in curated}
    train = (out / "train.jsonl").read_text().splitlines()
    val = (out / "validation.jsonl").read_text().splitlines()
    assert len(train) + len(val) == len(curated) and len(val) >= 15
    report = (out / "report.md").read_text()
    assert "line 3: not JSON" in report and "below the usual range for a style" not in report
    assert "within the usual range for a style goal (100-500)" in report
    assert "| near_dedup |" in report and "distinct-1" in report
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    curate(
        tmp_path / "run", input_file=src, config=parse_config(FAST | {"report": {"goal": "style"}})
    )
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert before == after


def test_config_file_validation(tmp_path):
    good = tmp_path / "curate.yaml"
    good.write_text("steps: [exact_dedup, near_dedup]\nnear_dedup:\n  threshold: 0.7\n")
    cfg = load_config(good)
    assert cfg.enabled_steps() == ["exact_dedup", "near_dedup"]
    assert cfg.step_config("near_dedup").threshold == 0.7
    mine = ["heuristics", "length", "exact_dedup", "near_dedup", "semantic_dedup"]
    assert [s for s in load_config(None).steps if s in mine] == mine  # default order
    for text, match in [
        ("near_dedup: {treshold: 0.7}\n", "near_dedup.treshold"),
        ("steps: [nope]\n", "unknown steps"),
        ("bogus: 1\n", "bogus"),
        ("- a list\n", "mapping"),
        ("split: {validation_fraction: 0.9}\n", "split.validation_fraction"),
    ]:
        good.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_config(good)


def test_a_registered_plugin_step_runs_from_config(tmp_path):
    class NoMondayConfig(BaseModel):
        model_config = ConfigDict(extra="forbid")
        word: str = "Monday"

    @registry.register_step("no_word", NoMondayConfig, default=False)
    class NoWord(Filter):
        name = "no_word"
        destination = "review"

        def __init__(self, config: NoMondayConfig) -> None:
            super().__init__()
            self.word = config.word

        def keep(self, record):
            return (False, "has_word") if self.word in record.example_text() else True

    try:
        src = _write(tmp_path / "in.jsonl", as_rows(corpus(120, 0, seed=1)))
        cfg = parse_config(
            {"steps": ["no_word"], "no_word": {"word": "Friday"}, "report": {"enabled": False}}
        )
        result = curate(tmp_path / "r", input_file=src, config=cfg)
        assert result.stats[0]["step"] == "no_word"
        dropped = result.stats[0]["dropped"].get("has_word", 0)
        assert dropped == sum(
            "Friday" in r["output"] + r["instruction"] for r in as_rows(corpus(120, 0, seed=1))
        )
        assert dropped > 0
        review = (tmp_path / "r/curation/review.jsonl").read_text().splitlines()
        assert len(review) == dropped
        assert json.loads(review[0])["meta"]["curation"]["excluded"]["reason"] == "has_word"
    finally:
        registry._REGISTRY.pop("no_word")


def test_cli_curates_a_run_and_prints_the_table(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "records.jsonl", as_rows(corpus(120, 12, seed=3)))
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(json.dumps(FAST))
    res = CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg), "--goal", "domain"])
    assert res.exit_code == 0, res.output
    assert "exact_dedup" in res.output and "near_dedup" in res.output
    assert "curated 120 of 132 records" in res.output
    assert "below the usual range for a domain goal" in (run / "curation/report.md").read_text()
    bad = CliRunner().invoke(app, ["curate", str(run), "--goal", "vibes"])
    assert bad.exit_code == 2 and "--goal" in bad.output
    missing = CliRunner().invoke(app, ["curate", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_cli_subprocess_imports_foreign_file_and_reports_bad_lines(tmp_path):
    src = _write(tmp_path / "in.jsonl", as_rows(corpus(60, 6, seed=6)), {5: "oops"})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(FAST | {"report": {"plots": False}}))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator.cli",
            "curate",
            "--input",
            str(src),
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(cfg),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "line 5: not JSON" in proc.stderr
    assert "curated 60 of 66 records" in proc.stdout and "1 bad input line" in proc.stdout
    assert (tmp_path / "run/curation/train.jsonl").exists()


def test_report_and_plots_are_staged_with_the_data_files(tmp_path, monkeypatch):
    """The report and its PNGs are part of the staged set of ``run_pipeline``: a plot that
    fails half-way (a full disk) leaves the folder's previous files as they were, with no
    half PNG and no temp file (they were written straight into the folder after the data
    files had been renamed into place)."""
    import errno
    import os

    from matplotlib.figure import Figure

    from generator.curate.pipeline import run_pipeline

    records, _ = load_records(_foreign(tmp_path))
    out = tmp_path / "out"
    run_pipeline(records, out, parse_config(FAST))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "similarity.png" in before
    real, calls = Figure.savefig, {"n": 0}

    def savefig(self: Figure, fname: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] < 3:
            return real(self, fname, **kw)
        Path(str(fname)).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", savefig)
    with pytest.raises(OSError):
        run_pipeline(records[:-5], out, parse_config(FAST))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
