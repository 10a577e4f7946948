"""Where units run: :class:`LocalBackend` runs them in the engine's own event loop.

``--workers N`` uses :class:`generator.generate.workers.ProcessBackend` instead; both build
their provider with :func:`build_executor` so the call path is the same.
"""

from __future__ import annotations

from generator.generate.executor import OnCall, UnitExecutor, UnitOutcome, UnitSpec
from generator.generate.settings import GenerateSettings
from generator.providers.registry import get_provider
from generator.providers.resilience import ResilientProvider, RetryPolicy


def price_of(settings: GenerateSettings) -> tuple[float, float] | None:
    if settings.price_in_per_m is None and settings.price_out_per_m is None:
        return None
    return (settings.price_in_per_m or 0.0, settings.price_out_per_m or 0.0)


def build_executor(
    settings: GenerateSettings, on_call: OnCall, *, share: int = 1
) -> tuple[UnitExecutor, ResilientProvider]:
    """A unit executor over a resilient provider for ``settings.model``.

    ``share``: number of processes splitting the concurrency and the rpm/tpm caps.
    """
    inner = get_provider(
        settings.model,
        api_base=settings.api_base,
        price_per_m=price_of(settings),
        context_window_tokens=settings.context_window,
    )
    executor = UnitExecutor(None, on_call)
    resilient = ResilientProvider(
        inner,
        concurrency=max(1, settings.concurrency // share),
        rpm=settings.rpm / share if settings.rpm else None,
        tpm=settings.tpm / share if settings.tpm else None,
        retry=RetryPolicy(max_attempts=settings.max_retries + 1),
        on_attempt=executor.on_attempt,
    )
    executor.provider = resilient
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
