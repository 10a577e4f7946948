"""The key rule and URL scrubbing through the whole CLI: a real loopback server records the
Authorization header of every call; nothing we write or print carries a key or the password
of an API base."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import SAMPLES, cli_env

FAKE = Path(__file__).with_name("fake_llama_server.py")
OPENAI_KEY = "sk-proj-REALOPENAIKEY0123456789abcdef"
MYKEY = "my-own-server-key-0123456789"
PASSWORD = "pw-s3cret-0123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    """The fake OpenAI-compatible server on loopback; yields (base, log file)."""
    port, log = _free_port(), tmp_path / "server.log"
    env = {**os.environ, "FAKE_SERVER_LOG": str(log)}
    cmd = [sys.executable, str(FAKE), "--model", "x", "--model_alias", "qwen-x", "--port"]
    proc = subprocess.Popen([*cmd, str(port)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1", log
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _generate(run: Path, base: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(OPENAI_API_KEY=OPENAI_KEY, MYKEY=MYKEY)
    cmd = [sys.executable, "-m", "generator.cli", "generate", str(SAMPLES / "handbook")]
    cmd += ["--out", str(run), "--model", "openai/qwen-x", "--api-base", base]
    cmd += ["--records", "1", "--concurrency", "1", "--price", "0,0", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)


def _auths(log: Path) -> set[str | None]:
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    return {x["auth"] for x in lines if "body" in x}


@pytest.mark.slow
def test_generate_sends_the_named_key_or_none_never_the_openai_key(tmp_path, server) -> None:
    base, log = server
    done = _generate(tmp_path / "named", base, "--api-key-env", "MYKEY")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _auths(log) == {f"Bearer {MYKEY}"}
    config = json.loads((tmp_path / "named" / "config.json").read_text())
    assert config["api_key_env"] == "MYKEY"  # the name, never the value

    log.write_text("")
    done = _generate(tmp_path / "unnamed", base)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _auths(log) == {"Bearer no-key-required"}
    for run in (tmp_path / "named", tmp_path / "unnamed"):
        for path in run.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert OPENAI_KEY.encode() not in data and MYKEY.encode() not in data, path


def test_api_base_credentials_are_scrubbed_everywhere(tmp_path, monkeypatch) -> None:
    """config.json, the fingerprint (runs show), records, curation, the export and its
    manifest: the password of ``--api-base`` is in none of them."""
    run, runner = tmp_path / "run", CliRunner()
    base = f"https://alice:{PASSWORD}@llm.example.net/v1"
    steps = [
        ["generate", str(SAMPLES / "handbook"), "--out", str(run), "--model", "mock/echo",
         "--api-base", base, "--records", "2", "--concurrency", "1"],
        ["runs", "show", str(run)],
        ["curate", str(run)],
        ["export", str(run), "--format", "alpaca", "--use", "evaluation",
         "--out", str(run / "export"), "--accept-review", "mock"],
    ]  # fmt: skip
    for args in steps:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert PASSWORD not in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["api_base"] == "https://***@llm.example.net/v1"
    assert (run / "export" / "manifest.json").is_file()
    for path in run.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("docs", "model", "message"),
    [
        (str(SAMPLES / "handbook"), "bedrock/anthropic.claude-3-haiku", "not the cloud's own"),
        (f"https://alice:{PASSWORD}@docs.example.net/x", "mock/echo", "not found"),
    ],
)
def test_errors_never_print_url_credentials(tmp_path, docs, model, message) -> None:
    base = f"https://alice:{PASSWORD}@llm.example.net/v1"
    result = CliRunner().invoke(
        app, ["generate", docs, "--out", str(tmp_path / "r"), "--model", model, "--api-base", base]
    )
    assert result.exit_code == 2
    assert message in result.output and "***@" in result.output
    assert PASSWORD not in result.output


def test_policies_check_does_not_print_url_credentials() -> None:
    base = f"https://alice:{PASSWORD}@llm.example.net/v1"
    result = CliRunner().invoke(
        app, ["policies", "check", "--model", "openai/qwen-x", "--api-base", base]
    )
    assert result.exit_code == 0, result.output
    assert "llm.example.net" in result.output and PASSWORD not in result.output


@pytest.mark.parametrize("userinfo", [f"alice:{PASSWORD}@", f"{PASSWORD}@"])
def test_api_base_with_credentials_is_refused_before_any_call(tmp_path, userinfo) -> None:
    """Seen: ``--api-base https://user:pass@host`` failed every call after about a minute of
    retries (LiteLLM: "Cannot combine AUTHORIZATION header with credentials encoded in
    URL"). Refused up front with exit 2, saying where the secret goes; never printed."""
    base = f"http://{userinfo}127.0.0.1:9/v1"
    run = tmp_path / "r"
    started = time.monotonic()
    result = CliRunner().invoke(
        app, ["generate", str(SAMPLES / "handbook"), "--out", str(run), "--model",
              "openai/qwen-x", "--api-base", base, "--max-retries", "0"],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if "--api-key-env" in line]
    assert len(lines) == 1 and "***@127.0.0.1" in lines[0], result.output
    assert PASSWORD not in result.output
    assert time.monotonic() - started < 10 and not (run / "run.sqlite").exists()
