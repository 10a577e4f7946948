"""Throttles for provider calls: an adaptive concurrency limiter and rpm/tpm token buckets.

LiteLLM's Router enforces rpm only in one routing mode and fails fast instead of waiting
(ENVIRONMENT.md), so we throttle ourselves:

- :class:`AdaptiveLimiter` bounds calls in flight. AIMD: a 429 halves the limit (once per
  round of in-flight calls, not once per 429 of a burst) and pauses new calls until its
  ``Retry-After`` has passed; each success adds ``1/limit``, i.e. about +1 per round.
- :class:`TokenBucket` caps a rate per minute (requests, or tokens with a later correction
  to the real usage). Waiting is done by sleeping, never by failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]


class AdaptiveLimiter:
    """Bounded, adaptive concurrency (additive increase, multiplicative decrease)."""

    def __init__(
        self,
        max_concurrency: int,
        *,
        min_concurrency: int = 1,
        decrease: float = 0.5,
        clock: Clock = time.monotonic,
    ) -> None:
        if max_concurrency < 1 or not 1 <= min_concurrency <= max_concurrency:
            raise ValueError("need 1 <= min_concurrency <= max_concurrency")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be in (0, 1)")
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self.decrease = decrease
        self.limit = float(max_concurrency)
        self.in_flight = 0
        self.paused_until = 0.0
        self.cuts = 0
        self._clock = clock
        self._last_cut = float("-inf")
        # Futures of the calls waiting for a slot (any loop: each is made on the caller's).
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def current(self) -> int:
        """Calls allowed in flight right now."""
        return max(self.min_concurrency, int(self.limit))

    async def acquire(self) -> float:
        """Wait for a free slot (and for any Retry-After pause); return the start time.

        Waiting holds nothing: no lock, no condition. ``asyncio.Condition.wait`` inside
        ``wait_for`` cancelled twice (Ctrl-C cancels every task, then ``asyncio.run``
        cancels them again) leaves its lock held by a task that is gone on Python 3.11, and
        every later waiter hangs for ever. Here a cancelled waiter only drops its future.
        """
        loop = asyncio.get_running_loop()
        while True:
            wait = self.paused_until - self._clock()
            if wait <= 0 and self.in_flight < self.current:
                self.in_flight += 1
                return self._clock()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            # A pause ends by time, not by a release: wake up when it is over.
            timer = loop.call_later(wait, _wake, waiter) if wait > 0 else None
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def release(self) -> None:
        """Give a slot back and wake every waiter (each checks again; no await, so no
        cancellation can come between the count and the wake-up)."""
        self.in_flight = max(0, self.in_flight - 1)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _wake(waiter)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[float]:
        """``async with limiter.slot() as started:`` one call in flight."""
        started = await self.acquire()
        try:
            yield started
        finally:
            self.release()

    def on_success(self) -> None:
        """Additive increase: about +1 slot per round of successful calls."""
        self.limit = min(float(self.max_concurrency), self.limit + 1.0 / max(self.limit, 1.0))

    def on_rate_limit(self, retry_after: float | None = None, started: float | None = None) -> None:
        """Multiplicative decrease and a pause of ``retry_after`` seconds for new calls.

        A burst of 429s from calls that were all in flight before the last cut counts once.
        """
        now = self._clock()
        if started is None or started >= self._last_cut:
            self.limit = max(float(self.min_concurrency), self.limit * self.decrease)
            self._last_cut = now
            self.cuts += 1
        if retry_after and retry_after > 0:
            self.paused_until = max(self.paused_until, now + retry_after)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class TokenBucket:
    """A rate cap per minute: ``await bucket.take(n)`` waits until ``n`` units are free.

    Capacity is one minute's worth, so a burst can use a whole minute's budget at once;
    a single take larger than the capacity waits for a full bucket and goes negative.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("rate must be > 0 per minute")
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock, self._loop = asyncio.Lock(), None

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, n: float = 1.0) -> float:
        """Take ``n`` units, sleeping as long as needed; return the seconds waited."""
        waited = 0.0
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # asyncio primitives bind to one loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                need = min(n, self.capacity)
                if self.tokens >= need:
                    self.tokens -= n
                    return waited
                delay = (need - self.tokens) / self.rate
                await self._sleep(delay)
                waited += delay

    def give_back(self, n: float) -> None:
        """Correct an estimate: return ``n`` units (negative ``n`` takes more)."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens + n)
