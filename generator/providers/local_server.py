"""A llama.cpp OpenAI-compatible server as a managed child process.

:class:`LocalServer` starts ``python -m llama_cpp.server`` (or an injected command: tests use
a tiny fake server, so CI needs no compile) bound to 127.0.0.1 on a free port, waits until
``/v1/models`` answers with our alias, and stops it when the run ends. The child runs in its
own process group (so stop kills everything it started), is stopped by the context manager,
by ``atexit`` and on SIGTERM/SIGHUP, and on Linux gets SIGTERM from the kernel if our
process dies abruptly (``PR_SET_PDEATHSIG``): no orphans.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from generator.errors import LocalServerError

DEFAULT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "llama_cpp.server")
_LIVE: weakref.WeakSet[LocalServer] = weakref.WeakSet()
_PORT_TRIES = 5


def default_threads() -> int:
    """Threads that are safe on a shared machine: 1 on <= 2 cores (2 threads collapse there
    under load), else all but one core, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(cores - 1, 8)


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now (the child may still lose a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _death_signal_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when our process dies
    (``PR_SET_PDEATHSIG``); resolved here, in the parent, so the forked child only calls it."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class LocalServer:
    """One llama.cpp server child process. Use as a context manager or call start/stop.

    Args:
        model_path: the GGUF file to serve.
        alias: model name the server answers under (``openai/<alias>`` for LiteLLM).
        threads: CPU threads (default :func:`default_threads`).
        n_ctx: context size in tokens.
        port: a fixed port (no retry if busy); None picks free ports, retrying on a clash.
        command: the server executable prefix (default ``python -m llama_cpp.server``).
        ready_timeout: seconds to wait for the server to answer.
        extra_args: more command-line arguments for the server.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        alias: str = "local",
        threads: int | None = None,
        n_ctx: int = 4096,
        port: int | None = None,
        command: Sequence[str] | None = None,
        ready_timeout: float = 120.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model_path = Path(model_path)
        self.alias = alias
        self.threads = threads or default_threads()
        if self.threads < 1:
            raise ValueError("threads must be >= 1")
        self.n_ctx = n_ctx
        self.fixed_port = port
        self.command = list(command or DEFAULT_COMMAND)
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._old_handlers: dict[int, Any] = {}

    @property
    def api_base(self) -> str:
        """``http://127.0.0.1:PORT/v1`` of the running server."""
        if self.port is None:
            raise LocalServerError("the local server is not running")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def argv(self, port: int) -> list[str]:
        """The full command line for ``port``."""
        return [
            *self.command,
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_threads", str(self.threads),
            "--n_threads_batch", str(self.threads),
            "--n_ctx", str(self.n_ctx),
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> LocalServer:
        """Start the child and wait until it serves; retry another port on a clash."""
        if self.running:
            return self
        tries = 1 if self.fixed_port else _PORT_TRIES
        for attempt in range(1, tries + 1):
            port = self.fixed_port or free_port()
            try:
                self._spawn(port)
                self._wait_ready()
                return self
            except _PortClash as clash:
                self.stop()
                if attempt == tries:
                    raise LocalServerError(
                        f"local server: port {port} is in use"
                        + ("" if self.fixed_port else f" (tried {tries} ports)")
                        + f"; server said: {clash}"
                    ) from None
            except BaseException:
                self.stop()
                raise
        return self  # not reached: the last attempt returns or raises

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the child and everything in its process group (SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                self._signal_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc, signal.SIGKILL)
                    proc.wait(timeout)
            # Stragglers the server may have started in its group.
            self._signal_group(proc, signal.SIGKILL)
        self.port = None
        _LIVE.discard(self)
        self._restore_signals()
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def stderr_tail(self, lines: int = 15) -> str:
        """The last lines the server wrote (its stdout and stderr share one log)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise LocalServerError (with the stderr tail) if the child has died."""
        if self.proc is not None and self.proc.poll() is not None:
            raise LocalServerError(self._death_message(self.proc.returncode))

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, port: int) -> None:
        exe = self.command[0]
        if not Path(exe).is_file() and shutil.which(exe) is None:
            raise LocalServerError(f"local server command not found: {exe}")
        # A file, not a pipe: a chatty child never blocks; closed in stop().
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        on_main = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(
            self.argv(port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills the whole group
            # PDEATHSIG fires when the spawning *thread* ends: only safe from the main thread.
            preexec_fn=_death_signal_hook() if on_main else None,
        )
        self.port = port
        _LIVE.add(self)
        self._install_signals()

    def _wait_ready(self) -> None:
        assert self.proc is not None and self.port is not None
        deadline = time.monotonic() + self.ready_timeout
        url = f"http://127.0.0.1:{self.port}/v1/models"
        delay = 0.05
        while True:
            code = self.proc.poll()
            if code is not None:
                tail = self.stderr_tail()
                if "address already in use" in tail.lower():
                    raise _PortClash(tail.splitlines()[-1] if tail else "")
                raise LocalServerError(self._death_message(code))
            if self._answers(url):
                return
            if time.monotonic() > deadline:
                tail = self.stderr_tail()
                raise LocalServerError(
                    f"local server did not answer on {url} within {self.ready_timeout:.0f} s"
                    + (f"; last output:\n{tail}" if tail else "")
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)

    def _answers(self, url: str) -> bool:
        """True when ``url`` lists our alias (a foreign server on the port does not count)."""
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                data = json.loads(resp.read() or b"{}")
        except (OSError, ValueError):
            return False
        ids = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
        return self.alias in ids

    def _death_message(self, code: int | None) -> str:
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        tail = self.stderr_tail()
        hint = ""
        if "grammar" in tail:
            hint = " (llama.cpp could not build a grammar from the request's JSON schema)"
        elif code in (-signal.SIGILL, -signal.SIGSEGV, 132, 139):  # 128 + SIGILL / SIGSEGV
            hint = (
                " (a CPU-specific build of llama-cpp-python crashes like this: rebuild it with"
                " `instructforge local install --rebuild`)"
            )
        return f"local model server died ({how}){hint}" + (f"; last output:\n{tail}" * bool(tail))

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _install_signals(self) -> None:
        """Turn SIGTERM/SIGHUP into SystemExit so context managers and atexit stop the child
        (Python's default action would exit without running them)."""
        if threading.current_thread() is not threading.main_thread() or self._old_handlers:
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                self._old_handlers[sig] = signal.signal(sig, _exit_on_signal)

    def _restore_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, old in self._old_handlers.items():  # only if nobody replaced ours since
            if signal.getsignal(sig) is _exit_on_signal:
                signal.signal(sig, old)
        self._old_handlers.clear()


class _PortClash(Exception):
    """The child could not bind its port."""


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@atexit.register
def stop_all() -> None:
    """Stop every server still running (called at interpreter exit)."""
    for server in list(_LIVE):
        server.stop()
