"""Near dedup at scale on a Dask cluster, end to end through ``curate --cluster``.

Writes N real-looking Q/A records with planted duplicates (``tests/curate/corpus.py``) to a
JSONL file, then curates it with ``--cluster local:2`` (steps: exact dedup on the whole
example, near dedup; split and report off: the figures are for dedup). Prints the time per
stage, the peak memory of every worker process (its own VmHWM) and of the
coordinator, and precision / recall of the removed records against the planted ones.
With ``--compare`` the same input is also curated in one process and the two curated files
must be byte-identical (use it at 100k; at 1M one process takes long).

    .venv/bin/python benchmarks/bench_dedup_scale.py [--n 1000000] [--dups 50000]
        [--cluster local:2] [--compare] [--keep DIR]

Target (issue 21): 1,000,000 records on local:2 with peak memory per worker < 2 GB and
precision / recall as at 100k.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generator.cluster import open_cluster
from generator.curate import manifest
from generator.curate.pipeline import curate
from tests.curate.corpus import as_rows, corpus

CONFIG = {
    "steps": ["exact_dedup", "near_dedup"],
    "exact_dedup": {"on_instruction": False},  # reworded copies are near dedup's to find
    "split": {"enabled": False},
    "report": {"enabled": False},
}


def _peak_mb() -> float:
    """This process's peak RSS: VmHWM, which starts again at exec (``ru_maxrss`` does
    not: a worker spawned from a big parent would report the parent's size)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_input(path: Path, n: int, dups: int) -> set[str]:
    items = corpus(n - dups, dups, seed=2024)
    with path.open("w") as fh:
        for row in as_rows(items):
            fh.write(json.dumps(row) + "\n")
    return {it.key for it in items if it.source}


def score(run: Path, planted: set[str]) -> tuple[float, float, int]:
    removed = set()
    with (run / "curation" / "excluded.jsonl").open() as fh:
        for line in fh:
            removed.add(json.loads(line)["meta"]["id"])
    hit = len(removed & planted)
    return hit / max(1, len(removed)), hit / max(1, len(planted)), len(removed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dups", type=int, default=0, help="planted duplicates [5%% of n]")
    ap.add_argument("--cluster", default="local:2")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--keep", type=Path, default=None, help="work folder (kept)")
    args = ap.parse_args()
    dups = args.dups or args.n // 20
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    work.mkdir(parents=True, exist_ok=True)
    src = work / "in.jsonl"
    t = time.perf_counter()
    planted = write_input(src, args.n, dups)
    print(
        f"input: {args.n:,} records, {len(planted):,} planted duplicates, "
        f"{src.stat().st_size / 2**20:,.0f} MB, written in {time.perf_counter() - t:.0f} s"
    )
    config = manifest.resolve(None, {})
    config = type(config).model_validate({**config.model_dump(), **CONFIG})
    run = work / "cluster-run"
    with open_cluster(args.cluster, say=print) as cluster:
        t = time.perf_counter()
        result = curate(run, input_file=src, config=config, cluster=cluster)
        wall = time.perf_counter() - t

        peaks = cluster.client.run(_peak_mb)
        for line in cluster.summary_lines():
            print(line)
    precision, recall, removed = score(run, planted)
    print(
        f"curate --cluster {args.cluster}: {args.n:,} records in {wall:,.1f} s wall "
        f"({args.n / wall:,.0f} records/s); curated {result.counts['curated']:,}"
    )
    print(
        "peak memory per worker: "
        + ", ".join(f"{v:,.0f} MB" for v in peaks.values())
        + f" (target < 2,048 MB); coordinator {_peak_mb():,.0f} MB"
    )
    print(f"removed {removed:,}: precision {precision:.4f}, recall {recall:.4f}")
    if args.compare:
        single = work / "single-run"
        t = time.perf_counter()
        curate(single, input_file=src, config=config)
        print(f"one process: {time.perf_counter() - t:,.1f} s wall")
        same = all(
            (run / "curation" / f).read_bytes() == (single / "curation" / f).read_bytes()
            for f in ("curated.jsonl", "excluded.jsonl", "stats.json")
        )
        print(f"curated.jsonl, excluded.jsonl, stats.json byte-identical to one process: {same}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
