"""`instructforge export` through the CLI runner and once as a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from generator.policies import load_policies
from tests.conftest import REPO
from tests.export._build import alpaca, chat, make_run


def _run(tmp_path: Path) -> Path:
    pols = load_policies()
    records = [alpaca(i, pols["openai"]) for i in range(11)]
    records += [chat(40, pols["mock"], model="mock/test"), chat(41, pols["openai"], turns=2)]
    return make_run(tmp_path, records)


def test_export_prints_the_gate_table_and_exclusions(tmp_path) -> None:
    run, out = _run(tmp_path), tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(run),
            "--format",
            "alpaca",
            "--use",
            "internal-fine-tune",
            "--out",
            str(out),
            "--accept-review",
            "openai",
        ],
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Licence gate: use internal-fine-tune" in text
    assert "openai" in text and "mock" in text
    assert "block by policy mock" in text  # what was excluded and why
    assert "only a single user/assistant exchange" in text  # the lossy multi-turn record
    assert "exported 11 of 13 records" in text
    assert (out / "manifest.json").is_file() and (out / "LEGAL_REVIEW.md").is_file()


def test_exit_codes(tmp_path) -> None:
    run, runner = _run(tmp_path), CliRunner()
    base = ["export", str(run), "--format", "openai-chat", "--out", str(tmp_path / "o")]
    strict = runner.invoke(app, [*base, "--use", "evaluation", "--strict"])
    assert strict.exit_code == 3 and "--strict" in strict.output
    assert "Traceback" not in strict.output
    bad = runner.invoke(app, [*base, "--use", "training"])
    assert bad.exit_code == 2 and "unknown use 'training'" in bad.output
    nothing = runner.invoke(app, [*base, "--use", "competing-model"])
    assert nothing.exit_code == 3 and "nothing may be exported" in nothing.output
    ok = runner.invoke(
        app,
        [
            *base,
            "--use",
            "evaluation",
            "--accept-review",
            "mock",
            "--target-model",
            "gpt-4o-mini-2024-07-18",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "OpenAI check of train.jsonl (training file): ok" in ok.output
    again = runner.invoke(app, [*base, "--use", "evaluation", "--accept-review", "mock"])
    assert again.exit_code == 2 and "--force" in again.output


def test_real_subprocess_never_prints_or_writes_the_key(tmp_path) -> None:
    key = "sk-ant-SUBPROCESSKEY-0123456789abcdef"
    run, out = _run(tmp_path), tmp_path / "out"
    env = {**os.environ, "ANTHROPIC_API_KEY": key, "INSTRUCTFORGE_REVIEWER": "ci-bot"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from generator.cli import main; main()",
            "export",
            str(run),
            "--format",
            "sharegpt",
            "--use",
            "evaluation",
            "--out",
            str(out),
            "--accept-review",
            "mock",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert key not in proc.stdout + proc.stderr
    assert all(key.encode() not in f.read_bytes() for f in out.iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["accepted_reviews"][0]["accepted_by"] == "ci-bot"
    assert {f["name"] for f in manifest["files"]} == {p.name for p in out.iterdir()} - {
        "manifest.json"
    }
    for f in manifest["files"]:  # every exported file is pinned by its hash
        assert hashlib.sha256((out / f["name"]).read_bytes()).hexdigest() == f["sha256"]


def test_openai_check_reports_training_tokens_for_the_training_file_only(tmp_path) -> None:
    pol = load_policies()["openai"]  # evaluation: allow
    train = [chat(i, pol) for i in range(12)]
    val = [chat(i, pol) for i in range(20, 23)]
    run, out = make_run(tmp_path, train, validation=val), tmp_path / "out"
    args = ["export", str(run), "--format", "openai-chat", "--use", "evaluation"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines at the terminal width
    parts = {p.split(":")[0]: p for p in text.split("OpenAI check of ")[1:]}
    t_line = parts["train.jsonl (training file)"].split("validation.jsonl")[0]
    v_line = parts["validation.jsonl (validation file)"].split("exported ")[0]
    assert "ok; 12 examples" in t_line and "training tokens (2 epochs)" in t_line
    assert "ok; 3 examples" in v_line and "tokens/example median" in v_line
    assert "training tokens" not in v_line and "epochs" not in v_line
    checks = json.loads((out / "manifest.json").read_text())["openai_validation"]
    assert checks["train.jsonl"]["role"] == "training" and checks["train.jsonl"]["epochs"] == 2
    assert checks["train.jsonl"]["training_tokens"] > 0
    v = checks["validation.jsonl"]
    assert v["role"] == "validation" and v["ok"] and v["tokens"]["max"] > 0
    assert "training_tokens" not in v and "epochs" not in v
