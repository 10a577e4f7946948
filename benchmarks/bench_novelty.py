"""ROUGE-L novelty filter: our NoveltyIndex vs the original all-pairs rouge-score check.

Builds a pool sequentially as Self-Instruct does (a candidate joins when its ROUGE-L F1
against every pool item is <= 0.7) over N instructions (hand-written ones plus word-edit
variants, tests/generate/corpus.py), times both ways side by side in one run, checks the
decisions are identical, and prints the ratio. Then times our index alone at larger N to
show how its cost grows with the pool.

    .venv/bin/python benchmarks/bench_novelty.py [--n 5000] [--reference score|alpaca]
        [--scale 5000,10000,20000]

``--reference score`` is Self-Instruct's way (``scorer.score`` per pair, tokenising both
sides every time); ``alpaca`` tokenises once and calls ``rouge_scorer._score_lcs``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.textsim import NoveltyIndex, all_pairs_reference
from tests.generate.corpus import base_instructions, corpus, crossovers


def run_ours(texts: list[str], seeds: list[str]) -> tuple[list[bool], float, NoveltyIndex]:
    start = time.process_time()
    index = NoveltyIndex(seeds)
    kept = [index.add_if_novel(t, 0.7) is None for t in texts]
    return kept, time.process_time() - start, index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--reference", choices=["score", "alpaca"], default="score")
    parser.add_argument("--scale", default="5000,10000,20000,40000")
    args = parser.parse_args()

    seeds = base_instructions()[:40]
    texts = [t for t in corpus(args.n + 100, seed=11) if t not in seeds][: args.n]
    ours, t_ours, index = run_ours(texts, seeds)
    pairs_all = sum(range(len(seeds), len(seeds) + sum(ours)))  # lower bound on pair count
    # CPU seconds of this process: the machine is shared, wall time would measure the others.
    print(f"N={len(texts)} candidates, {len(seeds)} seeds, threshold 0.7 (CPU seconds)")
    print(f"  ours:      {t_ours:8.3f} s  kept {sum(ours)}  exact LCS checks {index.exact_checks}")
    start = time.process_time()
    ref = all_pairs_reference(texts, 0.7, initial=seeds, pretokenize=args.reference == "alpaca")
    t_ref = time.process_time() - start
    print(f"  rouge-score all-pairs ({args.reference}): {t_ref:8.3f} s  kept {sum(ref)}")
    print(f"  decisions identical: {ours == ref}   speed-up: {t_ref / t_ours:.1f}x")
    print(f"  (all-pairs scored at least {pairs_all} pairs for the kept candidates alone)")

    print("ours alone, growing N (word-edit variants, then crossovers of two instructions):")
    for name, make in (
        ("variants", lambda n: [t for t in corpus(n + 100, seed=12) if t not in seeds][:n]),
        ("crossovers", lambda n: crossovers(n, seed=12)),
    ):
        for n in (int(x) for x in args.scale.split(",") if x):
            _, t_n, idx = run_ours(make(n), seeds)
            print(
                f"  {name:10s} N={n:6d}: {t_n:7.3f} s  {1e6 * t_n / n:7.1f} us/candidate  "
                f"pool {len(idx):6d}  exact checks {idx.exact_checks}"
            )
    if ours != ref:
        sys.exit(1)


if __name__ == "__main__":
    main()
