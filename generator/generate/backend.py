"""Where units run: :class:`LocalBackend` runs them in the engine's own event loop;
:class:`generator.generate.workers.ProcessBackend` in N call processes. Both build their
provider with :func:`build_executor`, so the call path is the same.

:func:`call_processes` decides how many call processes a run uses (``--workers``, default
``auto``). LiteLLM spends several milliseconds of CPU on every call (building the request,
its own cost and logging bookkeeping, parsing the reply); in one process that work and ours
(validation, novelty, journal) take turns on one core and on one event loop. With many calls
in flight against a fast provider, ``auto`` moves the calls to worker processes, one per
usable core (at most one per 32 calls in flight, at most 8), while the main process's work
runs beside them. On two cores two call processes beat one (measured with
``benchmarks/bench_generate.py``: the main process needs far less than a core). With few
calls in flight, or one core, one process is not the limit, and a separate process would
only add start-up time and memory.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

from generator.generate.executor import OnCall, UnitExecutor, UnitOutcome, UnitSpec
from generator.generate.settings import GenerateSettings
from generator.providers.keys import key_var, provider_prefix
from generator.providers.registry import get_provider
from generator.providers.resilience import ResilientProvider, RetryPolicy


def price_of(settings: GenerateSettings) -> tuple[float, ...] | None:
    """``--price`` as (input, output) or (input, output, cached input), USD per 1M tokens."""
    if settings.price_in_per_m is None and settings.price_out_per_m is None:
        return None
    pair = (settings.price_in_per_m or 0.0, settings.price_out_per_m or 0.0)
    cached = settings.price_cached_per_m
    return pair if cached is None else (*pair, cached)


# ``auto`` uses call processes from this many calls in flight (one per this many, one per
# usable core), for runs of at least twice as many calls; below that one process is not
# CPU-bound (8 calls of 200 ms each are 40 calls a second: about half of one core for
# LiteLLM and us together).
AUTO_MIN_CONCURRENCY = 32
AUTO_MAX_PROCESSES = 8


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def call_processes(settings: GenerateSettings, pending_units: int, cores: int | None = None) -> int:
    """Processes that make the calls: 0 means the main process makes them."""
    if settings.workers != "auto":
        return int(settings.workers)
    if provider_prefix(settings.model) == "local":
        return 0  # one llama.cpp server on this machine is the limit, not LiteLLM
    if settings.concurrency < AUTO_MIN_CONCURRENCY or pending_units < 2 * settings.concurrency:
        return 0
    cores = usable_cores() if cores is None else cores
    if cores < 2:
        return 0  # one core: a call process would only add pickling and pipes
    return min(cores, settings.concurrency // AUTO_MIN_CONCURRENCY, AUTO_MAX_PROCESSES)


# Young-generation collections happen every this many net allocations while calls run
# (Python's default is 700). LiteLLM allocates thousands of objects per call; measured with
# gc.callbacks on a bare litellm.acompletion loop here: about 1 ms of GC per call at 700,
# about 0.4-0.7 ms at 20,000, for a few MB more of short-lived garbage held at a time.
GC_GEN0_THRESHOLD = 20_000


def settle_heap() -> tuple[int, int, int]:
    """Before many calls run: collect once and freeze what survived (LiteLLM's large static
    heap: no later collection walks it again), and collect the young generation less often.
    Returns the previous thresholds."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 50)
    return before


@contextlib.contextmanager
def calls_heap() -> Iterator[None]:
    """:func:`settle_heap` for a block; the previous thresholds come back on exit (the
    frozen heap stays frozen)."""
    before = settle_heap()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def build_executor(
    settings: GenerateSettings, on_call: OnCall, *, share: int = 1
) -> tuple[UnitExecutor, ResilientProvider]:
    """A unit executor over a resilient provider for ``settings.model``.

    ``share``: number of processes splitting the concurrency and the rpm/tpm caps.
    """
    inner = get_provider(
        settings.model,
        api_base=settings.api_base,
        api_key_env=settings.api_key_env,
        price_per_m=price_of(settings),
        context_window_tokens=settings.context_window,
    )
    executor = UnitExecutor(None, on_call)
    key = key_var(settings.model, settings.api_base, settings.api_key_env)
    resilient = ResilientProvider(
        inner,
        concurrency=max(1, settings.concurrency // share),
        rpm=settings.rpm / share if settings.rpm else None,
        tpm=settings.tpm / share if settings.tpm else None,
        retry=RetryPolicy(max_attempts=settings.max_retries + 1),
        on_attempt=executor.on_attempt,
        key_env=key,  # named if the provider refuses the key
        keyless=key is None,
    )
    executor.provider = resilient
    if settings.cache_dir:
        from pathlib import Path

        from generator.providers.cache import CachingProvider, CallCache

        cache = CallCache(Path(settings.cache_dir), run=Path(settings.run_dir).name)
        json_mode = getattr(inner, "json_mode", None)
        executor.provider = CachingProvider(
            resilient, cache, api_base=settings.api_base, json_mode=json_mode
        )
    return executor, resilient


class LocalBackend:
    """Runs units in this process's event loop."""

    def __init__(self, settings: GenerateSettings, on_call: OnCall) -> None:
        self.executor, self.provider = build_executor(settings, on_call)
        self.capacity = settings.concurrency

    async def run(self, spec: UnitSpec) -> UnitOutcome:
        return await self.executor.run(spec)

    async def aclose(self) -> None:
        await self.provider.aclose()
