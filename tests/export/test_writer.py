"""Writing: no overwrite without --force, atomic files, fixed names, no secrets anywhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from generator.errors import ConfigError
from generator.export import job
from generator.export.job import ExportOptions, run_export
from generator.export.writer import atomic_write, select_inputs
from generator.policies import load_policies
from tests.export._build import alpaca, make_run, read_jsonl, write_jsonl

FIXED_NAMES = {
    "train.jsonl",
    "meta.jsonl",
    "excluded.jsonl",
    "manifest.json",
    "LEGAL_REVIEW.md",
    "README.md",
}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    pol = load_policies()["openai"]
    return make_run(tmp_path, [alpaca(i, pol) for i in range(6)])


def _opts(run: Path, out: Path, **kw) -> ExportOptions:
    return ExportOptions(run, "alpaca", "evaluation", out, **kw)


def test_no_overwrite_without_force(run, tmp_path) -> None:
    out = tmp_path / "out"
    run_export(_opts(run, out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConfigError, match="--force"):
        run_export(_opts(run, out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    run_export(_opts(run, out, force=True))
    assert set(p.name for p in out.iterdir()) == FIXED_NAMES


def test_failure_midway_leaves_no_partial_file(run, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    run_export(_opts(run, out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    real = job.convert

    def failing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise OSError(28, "No space left on device")
        return real(*args, **kw)

    monkeypatch.setattr(job, "convert", failing)
    with pytest.raises(OSError, match="No space"):
        run_export(_opts(run, out, force=True))
    assert calls["n"] == 4
    # the earlier export is intact and no temp file is left behind
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    calls["n"] = 0
    with pytest.raises(OSError):
        run_export(_opts(run, tmp_path / "fresh"))
    assert list((tmp_path / "fresh").iterdir()) == []


def test_atomic_write_keeps_old_file_on_error(tmp_path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    def fill(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, fill)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"


def test_record_values_never_decide_paths(tmp_path) -> None:
    pol = load_policies()["openai"]
    rec = alpaca(0, pol)
    rec["meta"]["id"] = "../../escaped"
    rec["meta"]["source"]["path"] = "/etc/passwd"
    run = make_run(tmp_path, [rec])
    out = tmp_path / "deep" / "out"
    run_export(_opts(run, out))
    assert set(p.name for p in out.iterdir()) == FIXED_NAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "run"]


def test_input_selection_prefers_split_then_curated(tmp_path) -> None:
    pol = load_policies()["openai"]
    run = make_run(tmp_path, [alpaca(i, pol) for i in range(3)])
    assert select_inputs(run).source.startswith("records.jsonl")
    write_jsonl(run / "curation" / "curated.jsonl", [alpaca(0, pol)])
    assert select_inputs(run).source.startswith("curation/curated.jsonl")
    write_jsonl(run / "curation" / "train.jsonl", [alpaca(0, pol)])
    write_jsonl(run / "curation" / "validation.jsonl", [alpaca(1, pol)])
    assert [s for s, _ in select_inputs(run).files] == ["train", "validation"]
    with pytest.raises(ConfigError, match="nothing to export"):
        select_inputs(tmp_path / "empty")


def test_bad_input_lines_are_reported_with_their_number(tmp_path) -> None:
    pol = load_policies()["openai"]
    run = make_run(tmp_path, [alpaca(i, pol) for i in range(3)])
    with (run / "records.jsonl").open("a") as fh:
        fh.write(
            "{broken\n"
            + json.dumps(
                {"instruction": "", "output": "x", "meta": {"id": "a", "format": "alpaca"}}
            )
            + "\n"
        )
    res = run_export(_opts(run, tmp_path / "o"))
    assert res.n_exported == 3
    reasons = [e["reason"] for e in read_jsonl(tmp_path / "o" / "excluded.jsonl")]
    assert reasons[0].startswith("records.jsonl line 4: invalid record")
    assert reasons[1].startswith("records.jsonl line 5: invalid record: instruction")


@pytest.mark.parametrize(
    ("var", "key"),
    [
        ("OPENAI_API_KEY", "sk-proj-TESTKEY0123456789abcdefABCDEF"),
        # not key-shaped, and a provider PROVIDER_KEY_VARS does not list: only the name tells
        ("AZURE_API_KEY", "7f3c9a1e5b2d4c6e8a0f"),
    ],
)
def test_a_key_in_the_environment_is_never_in_any_exported_file(
    tmp_path, monkeypatch, var: str, key: str
) -> None:
    monkeypatch.setenv(var, key)
    pol = load_policies()["openai"]
    leaky = alpaca(7, pol)
    leaky["output"] = f"Set the key to {key} in your shell."
    config = {
        "docs": str(tmp_path / "docs"),
        "model": "openai/gpt-4o-mini",
        "api_key": key,
        "headers": {"Authorization": f"Bearer {key}"},
        "note": f"key was {key}",
    }
    run = make_run(tmp_path, [alpaca(i, pol) for i in range(3)] + [leaky], config=config)
    for fmt in ("alpaca", "openai-chat", "parquet"):
        out = tmp_path / fmt
        res = run_export(ExportOptions(run, fmt, "evaluation", out))
        assert res.n_exported == 3
        for f in out.iterdir():
            assert key.encode() not in f.read_bytes(), f.name
        [ex] = read_jsonl(out / "excluded.jsonl")
        assert ex["stage"] == "secret" and ex["reason"] == f"contains the value of ${var}"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["run"]["config"]["api_key"] == "<removed>"
        assert manifest["run"]["config"]["model"] == "openai/gpt-4o-mini"
