"""The ``instructforge`` command line: one root app; each command lives in
``generator/commands/<name>.py`` and registers itself here. Nothing imports this module.

Errors: every ``InstructforgeError`` becomes one line on stderr and its exit code
(2 usage/config, 3 licence gate, 4 guard stop, 130 interrupted, 143 terminated); no
tracebacks for user errors. Operating-system failures (a full disk, a folder that cannot be
written) are mapped to the same tree by :func:`generator.errors.from_os_error`.

Signals: Ctrl-C (SIGINT) is Python's ``KeyboardInterrupt``, or inside ``asyncio.run`` the
cancellation of the main task. SIGTERM is routed to the same handler, so a ``kill`` (or a
service manager stopping us) ends a command the same resumable way, with exit 143.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
from types import FrameType
from typing import Any

import click
import typer
from typer.core import TyperGroup

from generator import __version__
from generator.config import apply_offline_defaults
from generator.errors import InstructforgeError, Interrupted, Terminated, from_os_error
from generator.redact import scrub_url_credentials

# The CLI's process works offline from the start (before any command module loads a library
# that reads these variables at import); the package itself sets nothing on import.
apply_offline_defaults()

_terminated = False  # SIGTERM arrived: exit 143 rather than 130


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM does what Ctrl-C does, through whatever SIGINT handler is in force (Python's,
    or ``asyncio.run``'s, which cancels the main task so every ``finally`` runs)."""
    global _terminated
    _terminated = True
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:  # SIGINT ignored (started in the background): still stop
        raise KeyboardInterrupt


def _interrupted() -> Interrupted:
    if _terminated:
        return Terminated("terminated (SIGTERM): re-run the same command to resume")
    return Interrupted("interrupted: re-run the same command to resume")


class _ErrorHandlingGroup(TyperGroup):
    """Turns our errors into one clear line and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            err = _interrupted()
            click.echo(f"instructforge: {err}", err=True)
            ctx.exit(err.exit_code)
        except InstructforgeError as err:
            # A URL's user:password never reaches the terminal, whatever raised the error.
            click.echo(f"instructforge: error: {scrub_url_credentials(str(err))}", err=True)
            ctx.exit(err.exit_code)
        except (OSError, sqlite3.Error) as exc:  # a full disk, an unwritable folder
            mapped = from_os_error(exc)
            if mapped is None:
                raise  # a bug: keep the traceback
            click.echo(f"instructforge: error: {scrub_url_credentials(str(mapped))}", err=True)
            ctx.exit(mapped.exit_code)


app = typer.Typer(
    name="instructforge",
    cls=_ErrorHandlingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="Turn a folder of your own documents into fine-tuning data you can train on and "
    "defend: ingest, generate, curate, review, export with a licence check.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"instructforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """instructforge: documents in, defensible fine-tuning data out."""


# Each command module adds its commands to ``app`` (one line per module).
from generator.commands import ingest as _ingest  # noqa: E402

_ingest.register(app)
from generator.commands import policies as _policies  # noqa: E402

_policies.register(app)
from generator.commands import review as _review  # noqa: E402

_review.register(app)
from generator.commands import export as _export  # noqa: E402

_export.register(app)
from generator.commands import generate as _generate  # noqa: E402

_generate.register(app)
from generator.commands import runs as _runs  # noqa: E402

_runs.register(app)
from generator.commands import local as _local  # noqa: E402

_local.register(app)
from generator.commands import curate as _curate  # noqa: E402

_curate.register(app)
from generator.commands import verify as _verify  # noqa: E402

_verify.register(app)
from generator.commands import serve as _serve  # noqa: E402

_serve.register(app)
from generator.commands import users as _users  # noqa: E402

_users.register(app)
from generator.commands import derive as _derive  # noqa: E402

_derive.register(app)


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except KeyboardInterrupt:  # raised outside a command (e.g. during import)
        sys.exit(_interrupted().exit_code)


if __name__ == "__main__":  # `python -m generator.cli` (used by tests without an install)
    main()
