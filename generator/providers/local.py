"""``local/<name>``: a private, offline provider on an embedded llama.cpp server.

:class:`LocalProvider` verifies (and if needed assembles) the model file, starts a
:class:`~generator.providers.local_server.LocalServer` child on 127.0.0.1 at the first call,
and sends every request through the same :class:`LiteLLMProvider` path as any other model,
as ``openai/<alias>`` with ``api_base`` and no key. JSON is asked for in the form llama.cpp
accepts, ``{"type": "json_object", "schema": ...}`` (it answers OpenAI's ``json_schema`` with
a 500); its grammar lets raw newlines into strings, which the reply parser tolerates.

The server decodes one request at a time, so requests are queued here (one in flight) and
each gets at least ``min_timeout`` seconds once it is sent: a small CPU model is slow.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from generator.config import env
from generator.errors import ConfigError, ProviderError
from generator.providers.base import Completion, CompletionRequest, Provider
from generator.providers.litellm_provider import JsonMode, LiteLLMProvider
from generator.providers.local_models import SHIPPED, LocalModel, lookup, model_path
from generator.providers.local_server import DEFAULT_COMMAND, LocalServer
from generator.providers.model_info import context_window, register_context_window

INSTALL_HINT = (
    "local models need the [local] extra: run `instructforge local install` "
    "(it builds llama-cpp-python the way that works on every CPU), or "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "instructforge[local]"'
)
# llama.cpp turns a string's maxLength into a repetition its grammar parser refuses above
# about 1,000-1,500 (and the 0.3.36 server then segfaults: measured here with 1,500 and 2,000
# failing, 1,000 working). Longer bounds are capped for the grammar only; the reply parser
# still checks the template's own bounds.
GRAMMAR_MAX_STRING = 1000
_NO_KEY = "no-key-required"  # the client wants some key; our own server checks none
_JSON_MODES = ("json_object_schema", "json_object", "none")


def server_command() -> list[str]:
    """The server executable: ``INSTRUCTFORGE_LOCAL_SERVER_CMD`` or ``python -m
    llama_cpp.server``; raises ConfigError with the install hint when llama.cpp is missing."""
    override = env("INSTRUCTFORGE_LOCAL_SERVER_CMD")
    if override:
        return shlex.split(override)
    if importlib.util.find_spec("llama_cpp") is None:  # finds it without importing it
        raise ConfigError(INSTALL_HINT)
    return list(DEFAULT_COMMAND)


def grammar_safe(schema: Any, cap: int = GRAMMAR_MAX_STRING) -> Any:
    """A copy of ``schema`` whose string length bounds are at most ``cap``."""
    if isinstance(schema, list):
        return [grammar_safe(item, cap) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: grammar_safe(value, cap) for key, value in schema.items()}
    for key in ("maxLength", "minLength"):
        if isinstance(out.get(key), int) and out[key] > cap:
            out[key] = cap
    return out


def env_threads() -> int | None:
    """``INSTRUCTFORGE_LOCAL_THREADS`` as an int (None when unset)."""
    raw = env("INSTRUCTFORGE_LOCAL_THREADS")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"INSTRUCTFORGE_LOCAL_THREADS={raw!r}: give a whole number >= 1")
    return value


class LocalProvider(Provider):
    """A shipped model or a user's GGUF file behind a managed llama.cpp server.

    Args:
        model: ``local/<name>`` or ``local/PATH.gguf``.
        threads: server CPU threads (default: ``INSTRUCTFORGE_LOCAL_THREADS``, else 1 on
            <= 2 cores).
        n_ctx: context size in tokens (default: a window registered for ``model``, else the
            model's); registered as the model's context window so oversized requests are
            caught before they are sent.
        command: the server executable prefix (tests inject a fake server).
        ready_timeout: seconds to wait for the server to come up.
        min_timeout: the least time a request gets once it is sent.
        json_mode: ``json_object_schema`` (default), ``json_object`` or ``none``.
        registry: the shipped models (tests pass their own).
    """

    name = "local"

    def __init__(
        self,
        model: str,
        *,
        threads: int | None = None,
        n_ctx: int | None = None,
        command: Sequence[str] | None = None,
        ready_timeout: float = 120.0,
        min_timeout: float = 600.0,
        json_mode: str = "json_object_schema",
        registry: tuple[LocalModel, ...] = SHIPPED,
    ) -> None:
        if json_mode not in _JSON_MODES:
            raise ConfigError(f"local models support json mode {', '.join(_JSON_MODES)}")
        self.model = model
        self.target = lookup(model, registry)
        if isinstance(self.target, LocalModel):
            self.alias = self.target.name
            default_ctx = self.target.n_ctx
        else:
            self.alias = re.sub(r"[^A-Za-z0-9._-]", "-", self.target.stem) or "local"
            default_ctx = 4096
        self.threads = threads if threads is not None else env_threads()
        if self.threads is not None and self.threads < 1:
            raise ConfigError("threads must be >= 1")
        # A window set through the registry (--context-window) sizes the server's context.
        self.n_ctx = n_ctx or context_window(model) or default_ctx
        register_context_window(model, self.n_ctx)
        self.command = list(command) if command else None
        self.ready_timeout = ready_timeout
        self.min_timeout = min_timeout
        self.json_mode = json_mode
        self.server: LocalServer | None = None
        self._inner: LiteLLMProvider | None = None
        self._start_lock = asyncio.Lock()
        self._slot = asyncio.Semaphore(1)

    # -- lifecycle ------------------------------------------------------------------------
    def model_file(self) -> Path:
        """The verified GGUF file (assembled once for split models)."""
        if isinstance(self.target, Path):
            return self.target
        return model_path(self.target)

    def start(self) -> LocalServer:
        """Verify the model and start the server (blocking; idempotent)."""
        if self.server is not None and self.server.running:
            return self.server
        command = self.command or server_command()
        path = self.model_file()
        server = LocalServer(
            path,
            alias=self.alias,
            threads=self.threads,
            n_ctx=self.n_ctx,
            command=command,
            ready_timeout=self.ready_timeout,
        )
        print(
            f"starting local model server: {self.model} ({path.name}, {server.threads} threads,"
            f" context {self.n_ctx})",
            file=sys.stderr,
            flush=True,
        )
        server.start()
        self.server = server
        self._inner = LiteLLMProvider(
            litellm_model=f"openai/{self.alias}",
            api_base=server.api_base,
            json_mode=cast(JsonMode, self.json_mode),
            extra={"api_key": _NO_KEY},  # never hand a user's real key to the child
        )
        return server

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        server, self.server, self._inner = self.server, None, None
        if server is not None:
            server.stop()

    async def aclose(self) -> None:
        self.stop()

    def __enter__(self) -> LocalProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the call -------------------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        """One attempt against the local server (started on first use)."""
        if self._inner is None:
            async with self._start_lock:
                if self._inner is None:
                    # Blocking on purpose: nothing can proceed before the server is up, and
                    # PDEATHSIG needs the spawn to happen on the main thread.
                    self.start()
        server, inner = self.server, self._inner
        assert server is not None and inner is not None
        server.check_alive()
        if request.api_base:
            raise ConfigError(f"{self.model}: --api-base cannot be used with local models")
        update: dict[str, Any] = {"timeout": max(request.timeout, self.min_timeout)}
        if request.json_schema is not None:
            update["json_schema"] = grammar_safe(request.json_schema)
        sent = request.model_copy(update=update)
        async with self._slot:
            try:
                return await inner.complete(sent)
            except ProviderError:
                server.check_alive()  # a dead child is a LocalServerError, not a retry case
                raise


def create_provider(
    model: str,
    *,
    api_base: str | None = None,
    drop_params: bool = True,
    extra: dict[str, Any] | None = None,
    json_mode: str = "json_object_schema",
    threads: int | None = None,
    n_ctx: int | None = None,
    server_command: Sequence[str] | None = None,
    ready_timeout: float = 120.0,
) -> LocalProvider:
    """Factory for the provider registry (``local/`` prefix)."""
    del drop_params  # llama.cpp ignores what it does not know; nothing to drop
    if api_base:
        raise ConfigError(f"{model}: --api-base cannot be used with local models")
    if extra:
        raise ConfigError(f"{model}: extra LiteLLM arguments are not supported for local models")
    if json_mode == "auto":
        json_mode = "json_object_schema"
    return LocalProvider(
        model,
        threads=threads,
        n_ctx=n_ctx,
        command=server_command,
        ready_timeout=ready_timeout,
        json_mode=json_mode,
    )
