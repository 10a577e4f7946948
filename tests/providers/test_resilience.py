"""Limiter, token buckets, circuit breaker and retries, with real asyncio and small sleeps."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

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
)
from generator.providers import (
    AdaptiveLimiter,
    Attempt,
    CircuitBreaker,
    Completion,
    CompletionRequest,
    CompletionUsage,
    Provider,
    ResilientProvider,
    RetryPolicy,
    TokenBucket,
    request_hash,
)


class ScriptedProvider(Provider):
    """Plays a script of outcomes (an exception to raise, or a reply text); counts calls and
    the peak number of calls in flight."""

    name = "scripted"

    def __init__(self, script: list[ProviderError | str] | None = None, delay: float = 0.0):
        self.script = list(script or [])
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    async def complete(self, request: CompletionRequest) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            outcome = self.script.pop(0) if self.script else "ok"
            if isinstance(outcome, ProviderError):
                raise outcome
            usage = CompletionUsage(prompt_tokens=10, completion_tokens=5, cost_usd=0.001)
            return Completion(text=outcome, finish_reason="stop", usage=usage)
        finally:
            self.in_flight -= 1


def req(i: int = 0) -> CompletionRequest:
    return CompletionRequest(model="mock/x", messages=[{"role": "user", "content": f"q{i}"}])


def no_jitter(max_attempts: int = 4, initial: float = 0.01) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, initial=initial, jitter=0.0)


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------- limiter


def test_limiter_bounds_concurrency() -> None:
    inner = ScriptedProvider(delay=0.02)
    provider = ResilientProvider(inner, concurrency=4)

    async def run() -> None:
        await asyncio.gather(*(provider.complete(req(i)) for i in range(20)))

    asyncio.run(run())
    assert inner.calls == 20
    assert inner.peak == 4


def test_aimd_cuts_once_per_round_and_grows_back() -> None:
    limiter = AdaptiveLimiter(8)
    started = limiter._clock()
    limiter.on_rate_limit(None, started)
    assert limiter.current == 4
    for _ in range(3):  # the rest of the same burst: calls started before the cut
        limiter.on_rate_limit(None, started)
    assert limiter.current == 4 and limiter.cuts == 1
    limiter.on_rate_limit(None, limiter._clock() + 1)  # a call started after the cut
    assert limiter.current == 2
    for _ in range(40):
        limiter.on_success()
    assert limiter.current == 8  # additive growth, capped at the maximum
    for _ in range(10):
        limiter.on_rate_limit(None)
    assert limiter.current == 1  # never below min_concurrency


def test_limiter_pauses_new_calls_for_retry_after() -> None:
    limiter = AdaptiveLimiter(4)

    async def run() -> float:
        limiter.on_rate_limit(0.3)
        t0 = time.perf_counter()
        async with limiter.slot():
            pass
        return time.perf_counter() - t0

    assert asyncio.run(run()) >= 0.29


def test_limiter_wait_survives_double_cancellation() -> None:
    """Ctrl-C cancels every task, then ``asyncio.run`` cancels them again. With a Retry-After
    pause active, calls wait in the limiter: on Python 3.11 a ``Condition.wait`` inside
    ``wait_for`` cancelled twice left its lock held by nobody, the next call hung, and so
    did the shutdown of the loop (the command never ended)."""
    limiter = AdaptiveLimiter(2)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        limiter.on_rate_limit(60.0)  # a 429's pause: new calls wait
        waiting = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
        await asyncio.sleep(0.01)
        for task in waiting:
            task.cancel()
        await asyncio.sleep(0)  # the first cancellation is under way ...
        for task in waiting:
            task.cancel()  # ... when the second comes
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        seen["outcomes"] = [type(o).__name__ for o in outcomes]
        limiter.paused_until = 0.0
        async with limiter.slot():  # the next call still gets a slot
            seen["in_flight"] = limiter.in_flight
        limiter.on_rate_limit(60.0)
        left = asyncio.create_task(limiter.acquire())  # a waiter for asyncio.run to cancel
        await asyncio.sleep(0)
        seen["left"] = left.done()

    thread = threading.Thread(target=lambda: asyncio.run(scenario()), daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the limiter hung after a double cancellation"
    assert seen == {"outcomes": ["CancelledError"] * 3, "in_flight": 1, "left": False}
    assert limiter.in_flight == 0 and not limiter._waiters


def test_rate_limits_cut_concurrency_in_the_wrapper() -> None:
    limited = [RateLimitError("429", retry_after=0.05, status=429) for _ in range(3)]
    inner = ScriptedProvider(limited, delay=0.01)
    provider = ResilientProvider(inner, concurrency=8, retry=no_jitter(max_attempts=5))

    async def run() -> None:
        await asyncio.gather(*(provider.complete(req(i)) for i in range(8)))

    asyncio.run(run())
    assert provider.limiter.cuts >= 1
    assert provider.limiter.current < 8
    assert inner.calls == 11


# ---------------------------------------------------------------- token buckets


def test_rpm_bucket_waits_instead_of_failing() -> None:
    fake = FakeTime()
    bucket = TokenBucket(60, clock=fake.clock, sleep=fake.sleep)  # one per second

    async def run() -> list[float]:
        return [await bucket.take(1) for _ in range(62)]

    waits = asyncio.run(run())
    assert waits[:60] == [0.0] * 60  # a minute's budget as a burst
    assert waits[60] == pytest.approx(1.0) and waits[61] == pytest.approx(1.0)


def test_tpm_bucket_corrects_estimates_and_handles_oversize() -> None:
    fake = FakeTime()
    bucket = TokenBucket(1000, clock=fake.clock, sleep=fake.sleep)

    async def run() -> tuple[float, float]:
        await bucket.take(900)
        bucket.give_back(800)  # the call used 100, not 900
        first = await bucket.take(800)
        big = await bucket.take(5000)  # larger than a minute: waits for a full bucket
        return first, big

    first, big = asyncio.run(run())
    assert first == 0.0
    assert big == pytest.approx(54.0)  # from 100 left to a full bucket of 1000 at 1000/min
    assert bucket.tokens < 0


def test_tpm_cap_through_the_wrapper_spaces_calls() -> None:
    inner = ScriptedProvider()
    provider = ResilientProvider(inner, tpm=600, concurrency=4)  # 10 tokens/s

    async def run() -> float:
        t0 = time.perf_counter()
        for i in range(3):
            await provider.complete(req(i).model_copy(update={"max_tokens": 190}))
        return time.perf_counter() - t0

    # Each call estimates ~192 tokens and uses 15: the corrections leave room, no waiting.
    assert asyncio.run(run()) < 1.0
    assert inner.calls == 3


# ---------------------------------------------------------------- breaker


def test_breaker_opens_on_most_recent_failures_only() -> None:
    breaker = CircuitBreaker(window=20, min_calls=10, threshold=0.8)
    for _ in range(9):
        breaker.record(False, AuthError("401"))
    breaker.check()  # fewer than min_calls
    breaker.record(False, AuthError("openai: authentication failed (401)"))
    with pytest.raises(CircuitOpen) as info:
        breaker.check()
    text = str(info.value)
    assert "\n" not in text and "10 of the last 10" in text and "401" in text
    assert info.value.exit_code == 4
    mixed = CircuitBreaker()
    for i in range(20):
        mixed.record(i % 4 == 0)  # 75% failures: below 80%
    mixed.check()


def test_revoked_key_stops_at_the_first_401_naming_its_variable() -> None:
    """A refused key does not heal: the first 401 stops the run (not the 10th, which a small
    run never reaches), and every later call stops without reaching the provider."""
    inner = ScriptedProvider([AuthError("401 invalid key", status=401)] * 10_000)
    provider = ResilientProvider(inner, concurrency=1)
    openai = CompletionRequest(
        model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "q"}]
    )

    async def run() -> list[KeyRejected]:
        stops = []
        for _ in range(5):
            with pytest.raises(KeyRejected) as info:
                await provider.complete(openai)
            stops.append(info.value)
        return stops

    stops = asyncio.run(run())
    assert inner.calls == 1
    text = str(stops[0])
    assert "OPENAI_API_KEY" in text and "401" in text and "\n" not in text
    assert stops[0].exit_code == 4 and isinstance(stops[0], CircuitOpen)
    assert all(s is stops[0] for s in stops)


def test_refused_key_names_the_variable_given() -> None:
    inner = ScriptedProvider([AuthError("403 forbidden\nby the proxy", status=403)])
    provider = ResilientProvider(inner, key_env="MY_GATEWAY_KEY")
    with pytest.raises(KeyRejected, match="MY_GATEWAY_KEY") as info:
        asyncio.run(provider.complete(req()))
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- retries


def test_transient_errors_are_retried_with_exponential_backoff() -> None:
    fake = FakeTime()
    script = [
        ServerError("500", status=500),
        ProviderTimeoutError("timeout"),
        ServerError("503", status=503),
        "fine",
    ]
    inner = ScriptedProvider(script)
    reports: list[Attempt] = []
    provider = ResilientProvider(
        inner, retry=no_jitter(5, initial=0.5), sleep=fake.sleep, on_attempt=reports.append
    )
    completion = asyncio.run(provider.complete(req()))
    assert completion.text == "fine"
    assert fake.slept == [0.5, 1.0, 2.0]
    assert [r.status for r in reports] == ["server_error", "timeout", "server_error", "ok"]
    assert [r.attempt for r in reports] == [1, 2, 3, 4]
    assert all(r.request_hash == request_hash(req()) for r in reports)
    assert reports[-1].usage.cost_usd == 0.001 and reports[0].will_retry


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(initial=1.0, max_wait=4.0, jitter=0.5)
    waits = [policy.wait(n, None) for n in range(1, 8)]
    assert 1.0 <= waits[0] <= 1.5 and 2.0 <= waits[1] <= 2.5
    assert all(4.0 <= w <= 4.5 for w in waits[2:])
    assert policy.wait(1, RateLimitError("429", retry_after=30.0)) == 30.0


def test_retries_exhausted_carries_attempts_and_last_error() -> None:
    inner = ScriptedProvider([ServerError("boom", status=500)] * 10)
    reports: list[Attempt] = []

    async def journal(attempt: Attempt) -> None:  # async callbacks are awaited
        await asyncio.sleep(0)
        reports.append(attempt)

    provider = ResilientProvider(inner, retry=no_jitter(3), on_attempt=journal)
    with pytest.raises(RetriesExhausted) as info:
        asyncio.run(provider.complete(req()))
    assert info.value.attempts == 3 and inner.calls == 3
    assert isinstance(info.value.last_error, ServerError)
    assert "gave up after 3 attempts" in str(info.value)
    assert [r.will_retry for r in reports] == [True, True, False]


@pytest.mark.parametrize(
    "error_factory",
    [
        lambda: BadRequestError("400", status=400),
        lambda: ContextWindowError("too long", status=400),
    ],
)
def test_permanent_errors_are_not_retried(error_factory: Callable[[], ProviderError]) -> None:
    error = error_factory()
    inner = ScriptedProvider([error, "never reached"])
    provider = ResilientProvider(inner, retry=no_jitter(5))
    with pytest.raises(type(error)):
        asyncio.run(provider.complete(req()))
    assert inner.calls == 1


def test_request_hash_ignores_timeout_only() -> None:
    a = req()
    assert request_hash(a) == request_hash(a.model_copy(update={"timeout": 5.0}))
    assert request_hash(a) != request_hash(a.model_copy(update={"temperature": 0.1}))
    assert request_hash(a) != request_hash(req(1))


def test_the_same_wrapper_works_across_event_loops() -> None:
    inner = ScriptedProvider(delay=0.01)
    provider = ResilientProvider(inner, concurrency=2, rpm=6000)

    async def batch() -> None:
        await asyncio.gather(*(provider.complete(req(i)) for i in range(6)))

    asyncio.run(batch())
    asyncio.run(batch())  # asyncio primitives are rebuilt for the new loop
    assert inner.calls == 12 and inner.peak == 2


def test_calls_that_never_get_past_429s_count_for_the_breaker() -> None:
    inner = ScriptedProvider([RateLimitError("429", retry_after=None)] * 100)
    provider = ResilientProvider(
        inner, retry=no_jitter(2, initial=0.001), breaker=CircuitBreaker(window=4, min_calls=3)
    )

    async def run() -> list[str]:
        outcomes = []
        for i in range(5):
            try:
                await provider.complete(req(i))
            except (RetriesExhausted, CircuitOpen) as exc:
                outcomes.append(type(exc).__name__)
        return outcomes

    assert asyncio.run(run()) == ["RetriesExhausted"] * 3 + ["CircuitOpen"] * 2
    assert inner.calls == 6
