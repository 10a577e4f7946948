"""Map LiteLLM / openai / anthropic / httpx exceptions to ``generator.errors``, in one place.

:func:`map_exception` is the only translation point: the provider calls
``raise map_exception(exc) from exc``. Every message and body excerpt goes through
:func:`scrub`, so an API key (anything key-shaped, and the actual values of the key
variables in the environment) never reaches a log line, the journal or the terminal.

Status mapping: 401/403 (and a 429 for an exhausted quota) → AuthError; 400/404/422 (and
other 4xx) → BadRequestError; context-window overflow → ContextWindowError; 429 →
RateLimitError with ``retry_after`` from ``Retry-After`` (seconds or HTTP date) or
``retry-after-ms``; 408/409/5xx → ServerError; timeouts, connection errors and resets →
ProviderTimeoutError; a reply body that is not JSON → ServerError (retryable).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from generator.config import secret_values
from generator.errors import (
    AuthError,
    BadRequestError,
    ContextWindowError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from generator.redact import scrub_url_credentials

BODY_LIMIT = 300

# Key-shaped strings: OpenAI/Anthropic/OpenRouter "sk-...", Google "AIza...", bearer tokens,
# and "api_key=..." style assignments. Over-scrubbing an error text costs nothing.
_KEY_PATTERNS = [
    re.compile(r"\bsk-[A-Za-z0-9_\-*.]{6,}"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.=:+/*]{8,}"),
    re.compile(r"(?i)\b((?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}"),
    re.compile(r"\b(?:gsk|xai|pplx|ghp|hf|r8|fw)_[A-Za-z0-9]{16,}"),
]
_QUOTA = re.compile(r"insufficient_quota|exceeded your current quota|credit balance", re.I)
_CONTEXT_HINTS = re.compile(
    r"context[_ ]length|context window|maximum context|too many tokens|prompt is too long|"
    r"input is too long|max_tokens.*exceed|reduce the length",
    re.IGNORECASE,
)


def scrub(text: str | None) -> str:
    """``text`` with every API-key-looking substring, every env key value and the
    credentials of every URL replaced."""
    if not text:
        return ""
    text = scrub_url_credentials(text)
    for value in secret_values():
        text = text.replace(value, "[REDACTED]")
    for pat in _KEY_PATTERNS:
        text = pat.sub(lambda m: (m.group(1) + " " if m.groups() else "") + "[REDACTED]", text)
    return text


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or HTTP date."""
    if not headers:
        return None
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _headers_of(exc: BaseException) -> Mapping[str, str] | None:
    for attr in ("litellm_response_headers", "headers"):
        h = getattr(exc, attr, None)
        if h:
            return h
    resp = getattr(exc, "response", None)
    h = getattr(resp, "headers", None)
    return h if h else None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts (LiteLLM wraps the SDK's, which wraps httpx's)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 12:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _status_of(chain: list[BaseException]) -> int | None:
    """The provider's own status: LiteLLM turns e.g. Anthropic's 529 into a 500, but the
    wrapped provider error (or ``provider_status_code``) keeps the original."""
    top: int | None = None
    for i, exc in enumerate(chain):
        found = None
        for attr in ("provider_status_code", "status_code", "status"):
            val = getattr(exc, attr, None)
            if isinstance(val, int) and 100 <= val < 600:
                found = val
                break
        if found is None:
            val = getattr(getattr(exc, "response", None), "status_code", None)
            found = val if isinstance(val, int) else None
        if found is None:
            continue
        if i == 0:
            top = found
            if getattr(exc, "provider_status_code", None):
                return found
        elif not type(exc).__module__.startswith("litellm.exceptions"):
            return found if top in (None, 500) else top
    return top


_NET_ERRORS = {
    "Timeout",
    "APITimeoutError",
    "APIConnectionError",
    "TimeoutException",
    "ConnectError",
    "ReadError",
    "WriteError",
    "RemoteProtocolError",
    "NetworkError",
    "ServerDisconnectedError",
    "ClientConnectionError",
}


def _names(chain: list[BaseException]) -> set[str]:
    return {cls.__name__ for exc in chain for cls in type(exc).__mro__}


def _is_malformed(chain: list[BaseException]) -> bool:
    """A reply body that is not valid JSON (LiteLLM may label it a connection error)."""
    return any(
        isinstance(e, ValueError) and "JSONDecodeError" in type(e).__name__ for e in chain
    ) or any("Unable to get json response" in str(e) for e in chain)


def _is_timeout(chain: list[BaseException]) -> bool:
    if any(isinstance(e, TimeoutError | asyncio.TimeoutError | ConnectionError) for e in chain):
        return True
    return bool(_names(chain) & _NET_ERRORS)


def map_exception(exc: BaseException, *, provider: str | None = None) -> ProviderError:
    """Translate a foreign exception into our tree (never raises; already ours passes through)."""
    if isinstance(exc, ProviderError):
        return exc
    chain = _chain(exc)
    status = _status_of(chain)
    raw = scrub(str(getattr(exc, "message", None) or exc) or type(exc).__name__)
    body = raw[:BODY_LIMIT]
    where = f"{provider}: " if provider else ""
    kw: dict[str, Any] = {"status": status, "body": body, "provider": provider}
    names = {cls.__name__ for cls in type(exc).__mro__}
    malformed = _is_malformed(chain)

    if "ContextWindowExceededError" in names or (
        status in (400, 413, 422) and _CONTEXT_HINTS.search(raw)
    ):
        return ContextWindowError(
            f"{where}request exceeds the model's context window: {body}", **kw
        )
    if (status == 429 or "RateLimitError" in names) and _QUOTA.search(raw):
        # OpenAI's insufficient_quota is a 429 that no amount of waiting fixes.
        kw["status"] = 429
        return AuthError(f"{where}quota exhausted (429): check the plan and billing: {body}", **kw)
    if status == 429 or "RateLimitError" in names:
        kw["status"] = 429
        retry_after = parse_retry_after(_headers_of(exc))
        hint = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        return RateLimitError(
            f"{where}rate limited (429){hint}: {body}", retry_after=retry_after, **kw
        )
    if status in (401, 403) or names & {"AuthenticationError", "PermissionDeniedError"}:
        return AuthError(
            f"{where}authentication failed ({status or 401}): check the API key: {body}", **kw
        )
    if malformed:
        return ServerError(f"{where}malformed response body (not JSON): {body}", **kw)
    # Before 5xx: LiteLLM gives connection errors status 500 and timeouts 408.
    if _is_timeout(chain) or status == 408:
        return ProviderTimeoutError(f"{where}timeout or connection error: {body}", **kw)
    if status is not None and status >= 500:
        return ServerError(f"{where}server error ({status}): {body}", **kw)
    if status == 409:
        return ServerError(f"{where}conflict (409), retryable: {body}", **kw)
    if status is not None and 400 <= status < 500:
        return BadRequestError(f"{where}bad request ({status}): {body}", **kw)
    if names & {"BadRequestError", "NotFoundError", "UnprocessableEntityError"}:
        return BadRequestError(f"{where}bad request: {body}", **kw)
    # JSON decode errors of a garbled body, unknown API errors: the server misbehaved.
    return ServerError(f"{where}unexpected provider error ({type(exc).__name__}): {body}", **kw)
