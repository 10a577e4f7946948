"""The one error tree of instructforge.

Every exception we raise on purpose derives from ``InstructforgeError``; the CLI turns it
into one clear line and the exit code it carries. Foreign exceptions (LiteLLM's, pypdf's,
sqlite's) are mapped to these in one place per role, ``raise Ours(...) from exc``.

::

    InstructforgeError                  exit 1 unless a subclass says otherwise
    ├── ConfigError                     exit 2: the user's mistake (flag, file, setting)
    │   ├── MissingKeyError             no API key in the environment for the chosen provider
    │   ├── PromptFileError             a prompt template file is invalid
    │   ├── PolicyFileError             a policy file is invalid
    │   ├── SettingsChangedError        a run's output-affecting settings differ from before
    │   ├── LocalModelError             a local model is missing or fails its sha256 pin
    │   ├── LocalServerError            the local model server could not start or died
    │   ├── RunBusyError                another process is writing the run (it holds run.lock)
    │   ├── JournalDamagedError         the run's journal (run.sqlite) fails its integrity check
    │   └── NotWritable                 a target cannot be written (read-only, permission, a file
    │                                   where a folder should be): names the path
    ├── IngestError                     one document could not be read (reported, not fatal)
    ├── ProviderError                   the provider answered with an error (status, body)
    │   ├── AuthError                   401/403: never retried
    │   ├── BadRequestError             400/404/422: never retried
    │   ├── ContextWindowError          the request does not fit the model's context
    │   └── TransientError              may succeed if retried
    │       ├── RateLimitError          429, carries retry_after
    │       ├── ServerError             5xx
    │       └── ProviderTimeoutError    timeouts and connection resets
    ├── RetriesExhausted                retries ran out: attempts, last output, usage
    ├── OutputError                     a reply could not be parsed/validated into records
    ├── LeakageError                    train and validation share examples (curation split)
    ├── GuardStop                       exit 4: a guard stopped the run; it is resumable
    │   ├── BudgetExceeded              --max-cost would be exceeded
    │   ├── CircuitOpen                 most recent calls failed
    │   │   └── KeyRejected             401/403: the key is dead; names its variable
    │   └── DiskFull                    no space left (ENOSPC, quota, SQLite "disk is full")
    ├── PushFailed                      `export --push-to-hub`: the Hub refused or was
    │                                   unreachable (the export on disk is complete)
    ├── ExportRefused                   exit 3: the licence gate refused the export
    ├── PackAltered                     exit 3: `verify` found an export that differs from
    │                                   what `export` wrote (the first difference named)
    └── Interrupted                     exit 130: Ctrl-C; the run is resumable
        └── Terminated                  exit 143: SIGTERM, handled as Ctrl-C

Operating-system failures are mapped to this tree in one place, :func:`from_os_error`
(used by the CLI for whatever reaches it, and by code that knows the path it was writing).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Any


class InstructforgeError(Exception):
    """Root of every error instructforge raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(InstructforgeError):
    """The user's mistake: bad flag, unknown model, invalid file, missing setting."""

    exit_code = 2


class MissingKeyError(ConfigError):
    """The chosen provider needs an API key that is not in the environment."""


class PromptFileError(ConfigError):
    """A prompt template file failed validation (message names path and field)."""


class PolicyFileError(ConfigError):
    """A policy file failed validation (message names path and field)."""


class SettingsChangedError(ConfigError):
    """An existing run was started with different output-affecting settings."""


class LocalModelError(ConfigError):
    """A shipped local model's package is missing or a file fails its pinned sha256."""


class LocalServerError(ConfigError):
    """The local llama.cpp server could not start, or died; the message carries its stderr tail."""


class NotWritable(ConfigError):
    """A path we must write cannot be written: read-only file system, no permission, or a
    file where a folder should be."""


class RunBusyError(ConfigError):
    """Another process (or another job of this one) holds the run's lock; names it."""


class JournalDamagedError(ConfigError):
    """``run.sqlite`` is not a database or fails ``PRAGMA quick_check``: nothing is trusted."""


class IngestError(InstructforgeError):
    """One document could not be ingested; carries the path and a one-line reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}", path=path, reason=reason)
        self.path = path
        self.reason = reason


class ProviderError(InstructforgeError):
    """The provider answered with an error.

    ``status`` is the HTTP status when known; ``body`` a short, secret-free excerpt.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, provider=provider)
        self.status = status
        self.body = body
        self.provider = provider


class AuthError(ProviderError):
    """Authentication or permission failure; retrying cannot help."""


class BadRequestError(ProviderError):
    """The request itself is wrong (bad parameter, unknown model); never retried."""


class ContextWindowError(ProviderError):
    """The request does not fit the model's context window."""


class TransientError(ProviderError):
    """A failure that may succeed on retry (429, 5xx, timeouts, connection resets)."""


class RateLimitError(TransientError):
    """429 from the provider; ``retry_after`` in seconds when the provider said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(TransientError):
    """5xx from the provider."""


class ProviderTimeoutError(TransientError):
    """The call timed out or the connection was reset."""


class RetriesExhausted(InstructforgeError):
    """Retries ran out; carries the attempts, the last output and the usage spent."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        last_output: str | None = None,
        usage: dict[str, Any] | None = None,
        last_error: BaseException | None = None,
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.attempts = attempts
        self.last_output = last_output
        self.usage = usage or {}
        self.last_error = last_error


class OutputError(InstructforgeError):
    """A model reply could not be turned into valid records; carries the raw output."""

    def __init__(self, message: str, *, raw: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw


class LeakageError(InstructforgeError):
    """The train/validation split shares records, near-duplicates or sources (curation)."""


class GuardStop(InstructforgeError):
    """A guard stopped the run cleanly; re-running the command resumes it."""

    exit_code = 4


class BudgetExceeded(GuardStop):
    """The next call would exceed ``--max-cost``."""


class CircuitOpen(GuardStop):
    """Most recent calls failed (revoked key, provider down): stop before burning more."""


class KeyRejected(CircuitOpen):
    """The provider refused the API key (401/403, or an exhausted quota). Such an answer does
    not heal by retrying, so the first one stops the run; the message names the variable."""


class DiskFull(GuardStop):
    """No space left on the device (or the quota): the command stopped with what it had
    committed; free space and re-run to resume."""


class PushFailed(InstructforgeError):
    """The Hub refused an export's upload or could not be reached (the files are written)."""


class ExportRefused(InstructforgeError):
    """The licence gate refused the export (``--strict`` or nothing exportable)."""

    exit_code = 3


class PackAltered(InstructforgeError):
    """``instructforge verify``: a file, hash, count or gate decision of an export differs
    from what the export wrote (or could not be re-checked: fail closed)."""

    exit_code = 3


class Interrupted(InstructforgeError):
    """The user pressed Ctrl-C; the run is resumable."""

    exit_code = 130


class Terminated(Interrupted):
    """SIGTERM: handled exactly as Ctrl-C; the run is resumable."""

    exit_code = 143


_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_UNWRITABLE = frozenset(
    {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.EEXIST}
)
_SQLITE_FULL, _SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_IOERR_SHMSIZE = 13, 8, 14, 4874
_RESUME = "free some space and re-run the same command to resume"


def no_room_left(path: Path) -> bool:
    """True when the file system holding ``path`` (or its nearest existing folder) has no
    free block or no free inode left."""
    for folder in (path, *path.parents):
        try:
            st = os.statvfs(folder)
        except OSError:
            continue
        return st.f_bavail == 0 or (st.f_files > 0 and st.f_favail == 0)
    return False


def from_os_error(exc: BaseException, path: object = None) -> InstructforgeError | None:
    """Our error for an operating-system failure, or None if ``exc`` is not one we map.

    ENOSPC / EDQUOT / EFBIG and SQLite's "database or disk is full" -> :class:`DiskFull`
    (exit 4, resumable); EROFS / EACCES / EPERM / ENOTDIR / EISDIR / EEXIST and SQLite's
    read-only or cannot-open -> :class:`NotWritable` (exit 2) naming the path. Other
    errors (EIO, a missing input) are not the user's to fix here: None. ``path``
    names the file when the exception does not (``os.write`` gives no file name).
    """
    if isinstance(exc, InstructforgeError):
        return exc
    if isinstance(exc, sqlite3.Error):
        full = getattr(exc, "sqlite_errorcode", None) or 0
        code = full & 0xFF
        where = f" {path}" if path else " the run journal (run.sqlite)"
        # SHMSIZE: the WAL index (run.sqlite-shm) could not grow, which is a full disk.
        if code == _SQLITE_FULL or full == _SQLITE_IOERR_SHMSIZE or "disk is full" in str(exc):
            return DiskFull(f"disk full: cannot write{where}: {exc}; {_RESUME}")
        if code == _SQLITE_CANTOPEN and path is not None and no_room_left(Path(str(path))):
            # SQLite cannot say why a file would not open; a file system without a free
            # block or inode (the new WAL or its index needs one) is a full disk.
            return DiskFull(f"disk full: cannot create{where}: {exc}; {_RESUME}")
        if code in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
            return NotWritable(f"cannot use{where}: {exc}")
        return None
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    name = exc.filename if exc.filename is not None else path
    where = f" {name}" if name is not None else ""
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL:
        return DiskFull(f"disk full: cannot write{where}: {reason}; {_RESUME}")
    if exc.errno in _UNWRITABLE:
        if exc.errno == errno.ENOTDIR:
            reason = "a part of this path is a file, not a folder"
        elif exc.errno == errno.EEXIST:
            reason = "already exists and is not a folder"
        return NotWritable(f"cannot use{where}: {reason}")
    return None
