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
    │   └── JournalDamagedError         the run's journal (run.sqlite) fails its integrity check
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
    │   └── CircuitOpen                 most recent calls failed
    ├── ExportRefused                   exit 3: the licence gate refused the export
    ├── PackAltered                     exit 3: `verify` found an export that differs from
    │                                   what `export` wrote (the first difference named)
    └── Interrupted                     exit 130: Ctrl-C; the run is resumable
"""

from __future__ import annotations

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
