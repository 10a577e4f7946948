"""Overhead of our provider layer over a bare ``litellm.acompletion`` loop.

All three variants call the same built-in mock (``mock/bench?latency_ms=L``) through
LiteLLM at the same concurrency, side by side in one process:

- bare:      ``litellm.acompletion(**kwargs)``
- provider:  ``LiteLLMProvider.complete`` (request building, parsing, cost, error mapping)
- resilient: ``ResilientProvider`` around it (limiter, breaker, retry, attempt callback)

Prints requests/s, the ratio to bare, and client CPU ms per request.
Usage: python benchmarks/bench_providers.py [--calls 1000] [--concurrency 64] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.providers import CompletionRequest, ResilientProvider, get_provider
from generator.providers.litellm_provider import LiteLLMProvider
from generator.providers.model_info import litellm

DOC = (
    "Employees receive 25 days of paid leave per calendar year. Requests go through the HR "
    "portal at least two weeks in advance. Up to five unused days carry over."
)


def make_request(model: str, i: int) -> CompletionRequest:
    content = f"Write 3 records from:\n<document>\n{DOC} Case {i}.\n</document>"
    return CompletionRequest(model=model, messages=[{"role": "user", "content": content}])


async def drive(
    call: Callable[[int], Awaitable[object]], calls: int, concurrency: int
) -> tuple[float, float]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def main(calls: int, concurrency: int, latency_ms: int) -> None:
    model = f"mock/bench?latency_ms={latency_ms}"
    provider = get_provider(model)
    assert isinstance(provider, LiteLLMProvider)
    resilient = ResilientProvider(provider, concurrency=concurrency, on_attempt=lambda a: None)
    lib = litellm()

    async def bare(i: int) -> object:
        return await lib.acompletion(**provider.call_kwargs(make_request(model, i)))

    async def plain(i: int) -> object:
        return await provider.complete(make_request(model, i))

    async def wrapped(i: int) -> object:
        return await resilient.complete(make_request(model, i))

    await drive(bare, 50, concurrency)  # warm-up: lazy imports and model builds
    results = {}
    for name, fn in (("bare", bare), ("provider", plain), ("resilient", wrapped)):
        results[name] = await drive(fn, calls, concurrency)
    ideal = concurrency / (latency_ms / 1000.0) if latency_ms else float("inf")
    print(
        f"calls={calls} concurrency={concurrency} latency={latency_ms} ms ideal={ideal:.0f} req/s"
    )
    base_rps = calls / results["bare"][0]
    for name, (wall, cpu) in results.items():
        rps = calls / wall
        print(
            f"{name:10s} {rps:8.1f} req/s  ratio-to-bare {rps / base_rps:5.2f}  "
            f"cpu {1000 * cpu / calls:6.2f} ms/req"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.latency_ms))
