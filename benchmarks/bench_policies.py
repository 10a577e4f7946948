"""Policy lookups on the hot paths: loading the files, resolving a model, the gate's verdict.

Prints measured figures (this machine, this run); the ratios are measured side by side.
Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_policies.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

import generator.policies as gp

MODELS = ["openai/gpt-4o-mini", "ollama/qwen2.5:3b", "local/smollm2-135m-instruct", "azure/x"]


def per_call(fn: Callable[[], object], n: int) -> float:
    """Mean microseconds per call over n calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def cold_load() -> None:
    gp._CACHE.clear()
    gp.load_policies()


def main() -> None:
    cold = per_call(cold_load, 20)
    warm = per_call(gp.load_policies, 200)
    print(f"load_policies: cold {cold / 1000:.1f} ms, cached {warm:.0f} us ({cold / warm:.0f}x)")
    resolve = per_call(lambda: [gp.resolve_policy(m) for m in MODELS], 200) / len(MODELS)
    print(f"resolve_policy: {resolve:.0f} us per model string")
    local = gp.get_policy("local")

    def uncached() -> None:
        local._families.clear()  # what every call cost before the per-policy memo
        gp.verdict(local, "commercial", "ollama/qwen2.5:3b")

    cached = per_call(lambda: gp.verdict(local, "commercial", "ollama/qwen2.5:3b"), 20000)
    fresh = per_call(uncached, 20000)
    print(
        f"verdict (local family): {fresh:.0f} us unmemoised, {cached:.0f} us memoised "
        f"({fresh / cached:.1f}x); 100k records: {cached * 1e5 / 1e6:.1f} s"
    )


if __name__ == "__main__":
    main()
