"""Retries, throttling and a circuit breaker around any provider: :class:`ResilientProvider`.

One attempt = breaker check → rpm/tpm buckets → a limiter slot → ``inner.complete``. Every
attempt is reported to ``on_attempt`` (sync or async callback) with its number, status,
latency, usage and error, so the engine can journal each call as it happens.

- Retries (tenacity) only for :class:`~generator.errors.TransientError` (429, 5xx,
  timeouts, connection resets): exponential backoff with jitter, and never sooner than a
  429's ``Retry-After``. Auth, bad-request and context-window errors are raised at once.
- When retries run out: :class:`~generator.errors.RetriesExhausted` (attempts, last error,
  usage). When most recent calls failed: :class:`~generator.errors.CircuitOpen` (exit 4).
- A 401/403 (or an exhausted quota) stops everything at once:
  :class:`~generator.errors.KeyRejected` (exit 4), naming the key's variable. A refused key
  is refused for every call, so waiting for a failure rate to build up would only turn a
  small run's all-401 into "done" with a warning; every later call raises the same stop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from generator.errors import (
    AuthError,
    BadRequestError,
    CircuitOpen,
    ContextWindowError,
    KeyRejected,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    RetriesExhausted,
    ServerError,
    TransientError,
)
from generator.providers.base import (
    Completion,
    CompletionRequest,
    CompletionUsage,
    Provider,
    request_hash,
)
from generator.providers.keys import key_var
from generator.providers.limits import AdaptiveLimiter, Sleep, TokenBucket
from generator.tokens import count_tokens

_STATUS: list[tuple[type[ProviderError], str]] = [
    (RateLimitError, "rate_limited"),
    (ServerError, "server_error"),
    (ProviderTimeoutError, "timeout"),
    (AuthError, "auth_error"),
    (ContextWindowError, "context_window"),
    (BadRequestError, "bad_request"),
]


def status_of(error: BaseException | None) -> str:
    """Journal status of an attempt: ``ok``, ``rate_limited``, ``server_error``, ``timeout``,
    ``auth_error``, ``context_window``, ``bad_request`` or ``error``."""
    if error is None:
        return "ok"
    for cls, name in _STATUS:
        if isinstance(error, cls):
            return name
    return "error"


@dataclass
class Attempt:
    """One provider call, as reported to ``on_attempt``."""

    request_hash: str
    model: str
    attempt: int  # 1-based
    status: str  # see status_of
    latency_s: float
    usage: CompletionUsage = field(default_factory=CompletionUsage)
    error: ProviderError | None = None
    finish_reason: str | None = None
    will_retry: bool = False


class CircuitBreaker:
    """Opens when at least ``threshold`` of the last ``window`` calls failed (and at least
    ``min_calls`` were seen); stays open until :meth:`reset`. 429s do not count: the
    limiter handles throttling."""

    def __init__(self, window: int = 20, min_calls: int = 10, threshold: float = 0.8) -> None:
        if not 1 <= min_calls <= window or not 0 < threshold <= 1:
            raise ValueError("need 1 <= min_calls <= window and 0 < threshold <= 1")
        self.window, self.min_calls, self.threshold = window, min_calls, threshold
        self._results: deque[bool] = deque(maxlen=window)
        self.last_error: BaseException | None = None
        self.open = False
        self.rejected: KeyRejected | None = None

    def record(self, ok: bool, error: BaseException | None = None) -> None:
        self._results.append(ok)
        if not ok:
            self.last_error = error
        fails = self._results.count(False)
        if len(self._results) >= self.min_calls and fails >= self.threshold * len(self._results):
            self.open = True

    def reject_key(self, error: AuthError, key_env: str | None) -> KeyRejected:
        """Open for good on a refused key; the stop every later :meth:`check` raises.
        ``key_env``: the variable the key came from (None: the calls carry no key)."""
        if self.rejected is None:
            detail = " ".join(str(error).split())
            if key_env:
                what, fix = f"with the API key in {key_env}", f"fix or replace {key_env}"
            else:
                what, fix = "without an API key", "name its key's variable with --api-key-env"
            self.rejected = KeyRejected(
                f"stopped: the provider refuses calls {what}: {detail}; {fix} and re-run the "
                "same command to resume"
            )
        self.open, self.last_error = True, error
        return self.rejected

    def check(self) -> None:
        """Raise CircuitOpen (one clear line) if the breaker is open."""
        if self.rejected is not None:
            raise self.rejected
        if self.open:
            fails, seen = self._results.count(False), len(self._results)
            raise CircuitOpen(
                f"stopped: {fails} of the last {seen} provider calls failed "
                f"(last error: {self.last_error}); fix the cause and re-run the same command "
                "to resume"
            )

    def reset(self) -> None:
        self._results.clear()
        self.open, self.last_error, self.rejected = False, None, None


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter: ``min(max_wait, initial * 2**(n-1)) + U(0, jitter)``,
    never less than a 429's ``Retry-After``."""

    max_attempts: int = 6
    initial: float = 1.0
    max_wait: float = 60.0
    jitter: float = 1.0

    def wait(self, attempt: int, error: BaseException | None) -> float:
        import random

        base = min(self.max_wait, self.initial * 2 ** max(0, attempt - 1))
        backoff = base + random.uniform(0, self.jitter)
        retry_after = getattr(error, "retry_after", None)
        return max(backoff, float(retry_after)) if retry_after else backoff


OnAttempt = Callable[[Attempt], Any]


class ResilientProvider(Provider):
    """Wrap ``inner`` with retries, an adaptive limiter, rpm/tpm caps and a breaker."""

    def __init__(
        self,
        inner: Provider,
        *,
        concurrency: int = 16,
        limiter: AdaptiveLimiter | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        on_attempt: OnAttempt | None = None,
        sleep: Sleep = asyncio.sleep,
        key_env: str | None = None,
        keyless: bool = False,
    ) -> None:
        """``key_env``: the variable the calls' key comes from, named when the provider
        refuses it (default: the provider's own variable for the request's model);
        ``keyless``: the calls carry no key (a server that is not the provider's own)."""
        self.inner = inner
        self.name = inner.name
        self.limiter = limiter or AdaptiveLimiter(concurrency)
        self.rpm = TokenBucket(rpm, sleep=sleep) if rpm else None
        self.tpm = TokenBucket(tpm, sleep=sleep) if tpm else None
        self.breaker = breaker or CircuitBreaker()
        self.retry = retry or RetryPolicy()
        self.on_attempt = on_attempt
        self._sleep = sleep
        self.key_env, self.keyless = key_env, keyless

    async def _report(self, attempt: Attempt) -> None:
        if self.on_attempt is not None:
            result = self.on_attempt(attempt)
            if inspect.isawaitable(result):
                await result

    async def _attempt(self, request: CompletionRequest, number: int, digest: str) -> Completion:
        self.breaker.check()
        estimate = 0
        if self.rpm:
            await self.rpm.take(1)
        if self.tpm:
            text = "\n".join(str(m.get("content") or "") for m in request.messages)
            estimate = count_tokens(text, request.model) + (request.max_tokens or 0)
            await self.tpm.take(estimate)
        async with self.limiter.slot() as started:
            t0 = time.perf_counter()
            try:
                completion = await self.inner.complete(request)
            except ProviderError as exc:
                latency = time.perf_counter() - t0
                if isinstance(exc, RateLimitError):
                    self.limiter.on_rate_limit(exc.retry_after, started)
                else:
                    self.breaker.record(False, exc)
                retry = isinstance(exc, TransientError) and number < self.retry.max_attempts
                await self._report(
                    Attempt(
                        digest,
                        request.model,
                        number,
                        status_of(exc),
                        latency,
                        error=exc,
                        will_retry=retry,
                    )
                )
                if isinstance(exc, AuthError):
                    key_env = None if self.keyless else self.key_env or key_var(request.model)
                    raise self.breaker.reject_key(exc, key_env) from exc
                raise
        self.limiter.on_success()
        self.breaker.record(True)
        if self.tpm:
            used = completion.usage.prompt_tokens + completion.usage.completion_tokens
            self.tpm.give_back(estimate - used)
        await self._report(
            Attempt(
                digest,
                request.model,
                number,
                "ok",
                completion.latency_s or (time.perf_counter() - t0),
                usage=completion.usage,
                finish_reason=completion.finish_reason,
            )
        )
        return completion

    async def complete(self, request: CompletionRequest) -> Completion:
        """Call ``inner`` until success, a non-transient error, or retries run out."""
        digest = request_hash(request)
        errors: list[ProviderError] = []
        max_attempts = self.retry.max_attempts
        # The first attempt runs outside tenacity: most calls succeed at once, and building
        # and driving an AsyncRetrying costs about 45 us, more than the rest of this method.
        try:
            return await self._attempt(request, 1, digest)
        except TransientError as exc:
            errors.append(exc)
            if max_attempts <= 1:
                raise self._exhausted(errors, exc) from exc
            await self._sleep(self.retry.wait(1, exc))

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.retry.wait(state.attempt_number + 1, exc)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(max_attempts - 1),
            wait=wait,
            retry=retry_if_exception_type(TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._attempt(
                            request, attempt.retry_state.attempt_number + 1, digest
                        )
                    except TransientError as exc:
                        errors.append(exc)
                        raise
        except TransientError as exc:
            raise self._exhausted(errors, exc) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _exhausted(self, errors: list[ProviderError], exc: TransientError) -> RetriesExhausted:
        if isinstance(exc, RateLimitError):
            # 429s are the limiter's business, but a call that never got through counts.
            self.breaker.record(False, exc)
        return RetriesExhausted(
            f"gave up after {len(errors)} attempts: {exc}",
            attempts=len(errors),
            last_output=None,
            usage={"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0},
            last_error=exc,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
