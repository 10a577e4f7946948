"""Curation benchmark: near dedup at 100,000 records, and our novelty/dedup path against the
original Self-Instruct all-pairs ROUGE-L loop at 5,000 records, side by side in one run.

Records are real-looking business Q/A text with planted duplicates (whitespace, punctuation,
case, one word changed, sentences reordered; ``tests/curate/corpus.py``).

    .venv/bin/python benchmarks/bench_curate.py [--n 100000] [--dups 5000] [--small 5000]
        [--skip-reference]

Targets: 100,000 records near-deduplicated in < 60 s with recall >= 0.95; our path >= 50x
faster than the all-pairs loop at 5,000. The machine is shared: CPU seconds of this process
are printed beside wall time, since wall time also measures the other users.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.curate.exact_dedup import ExactDedupStep
from generator.curate.near_dedup import NearDedupStep
from generator.records import parse_record
from generator.textsim import NoveltyIndex, all_pairs_reference
from tests.curate.corpus import as_rows, corpus


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def near_dedup_at_scale(n_total: int, n_dups: int) -> None:
    items = corpus(n_total - n_dups, n_dups, seed=2024)
    records = [parse_record(r) for r in as_rows(items)]
    rss_before = peak_rss_mb()
    step = NearDedupStep()
    wall, cpu = time.perf_counter(), time.process_time()
    kept = list(step.run(records))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    removed = {e.record.meta.id for e in step.excluded}
    planted = {it.key for it in items if it.source}
    true_pos = len(removed & planted)
    precision = true_pos / len(removed) if removed else 1.0
    recall = true_pos / len(planted)
    print(f"near dedup, {len(records):,} records ({len(planted):,} planted duplicates)")
    print(f"  wall {wall:6.1f} s   CPU {cpu:6.1f} s   (target < 60 s)")
    print(f"  peak RSS {peak_rss_mb():,.0f} MB (before the step: {rss_before:,.0f} MB)")
    print(f"  removed {len(removed):,}  kept {len(kept):,}")
    print(f"  precision {precision:.4f}   recall {recall:.4f}   (target recall >= 0.95)")


def ours_vs_all_pairs(n: int, skip_reference: bool) -> None:
    items = corpus(int(n * 0.9), n - int(n * 0.9), seed=77)
    rows = as_rows(items)
    instructions = [r["instruction"] for r in rows]
    cpu = time.process_time()
    records = [parse_record(r) for r in rows]
    kept = list(NearDedupStep().run(ExactDedupStep().run(records)))
    index = NoveltyIndex()
    novel = [index.add_if_novel(r.instruction_text(), 0.7) is None for r in kept]
    ours = time.process_time() - cpu
    print(f"novelty/dedup path at {n:,} records: exact + near dedup, then ROUGE-L 0.7 novelty")
    print(f"  ours: CPU {ours:7.2f} s  (kept {len(kept):,} after dedup, {sum(novel):,} novel)")
    if skip_reference:
        return
    cpu = time.process_time()
    ref = all_pairs_reference(instructions, 0.7)
    reference = time.process_time() - cpu
    print(f"  Self-Instruct all-pairs rouge-score loop: CPU {reference:8.2f} s (kept {sum(ref):,})")
    print(f"  speed-up: {reference / ours:.1f}x   (target >= 50x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dups", type=int, default=5_000)
    parser.add_argument("--small", type=int, default=5_000)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    near_dedup_at_scale(args.n, args.dups)
    ours_vs_all_pairs(args.small, args.skip_reference)


if __name__ == "__main__":
    main()
