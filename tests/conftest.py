"""Shared fixtures: a clean environment per test and no network except loopback."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run as a real subprocess: this checkout importable, no
    provider key from the caller's environment (a test names the keys it means), ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


# The Ctrl-C tests send SIGINT to child processes. A test run started in the background by a
# non-interactive shell (`make test &`) inherits SIGINT ignored, and so would every child,
# which then never sees the Ctrl-C: give this process Python's usual handler, so children
# start with the default disposition.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_SECRET_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "MISTRAL_API_KEY",
    "COHERE_API_KEY",
    "DEEPSEEK_API_KEY",
)

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (
        host in ("localhost", "::1") or host.startswith("127.") or self.family == socket.AF_UNIX
    ):
        return _real_connect(self, address)
    raise OSError(f"network access blocked in tests: {address!r}")


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instructforge-cache")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _session_cache_dir: Path) -> None:
    """No API keys leak in from the developer's shell; no socket leaves the machine; the
    cross-run call cache (on by default for curation's checks) is the test's own; the
    fitted harm classifier is kept for the session only (CLI subprocesses fit it once),
    never in the home folder."""
    for var in _SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("INSTRUCTFORGE_CACHE_DIR", str(_session_cache_dir))
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES
