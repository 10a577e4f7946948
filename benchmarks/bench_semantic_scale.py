"""Semantic dedup at scale: one process against ``--cluster local:2``.

Each mode runs in its own child process (so each peak memory is its own): ``single`` runs
the step's single-process path (``embed`` then ``similar_pairs``), ``cluster`` the cluster
form (``generator.cluster.semantic.ClusterSemantic``: the workers embed into a spilled
memmap and search it). Printed per mode: wall time, CPU time (coordinator and workers),
peak memory (VmHWM) of the coordinator and of every worker, the pair count; then whether
the embeddings and the pairs (with their cosines) are identical.

Input: N real-looking Q/A records with 5% planted reworded copies (``tests/curate/
corpus.py``). With ``--synthetic`` the embedding is skipped and the search alone is
measured on N unit vectors drawn around 300 topic centres, 5% of them near-copies (the
embedding's cost is linear in N and measured without the flag).

    .venv/bin/python benchmarks/bench_semantic_scale.py --n 20000
    .venv/bin/python benchmarks/bench_semantic_scale.py --n 100000 --synthetic
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_dedup_scale import _peak_mb
from generator.curate import semantic_dedup as sd
from tests.curate.corpus import as_rows, corpus


def texts_of(n: int) -> list[str]:
    rows = as_rows(corpus(n - n // 20, n // 20, seed=2024))
    return [f"{r['instruction']}\n{r['output']}" for r in rows]


def synthetic(n: int, seed: int = 7) -> np.ndarray:
    """Unit vectors around 300 topic centres (cosine within a topic ~0.55), the last 5%
    near-copies of earlier ones; built a block at a time (float32) so the generator does
    not set the peak memory."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((300, 384), dtype=np.float32)
    emb = np.empty((n, 384), dtype=np.float32)
    for a in range(0, n, 10_000):
        b = min(a + 10_000, n)
        emb[a:b] = centres[rng.integers(0, 300, b - a)]
        emb[a:b] += 0.9 * rng.standard_normal((b - a, 384), dtype=np.float32)
    copies = rng.choice(n - n // 20, n // 20, replace=False)
    emb[n - n // 20 :] = emb[copies]
    emb[n - n // 20 :] += 0.02 * rng.standard_normal((n // 20, 384), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _worker_cpu() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:16]


def _pairs_digest(pairs: list) -> str:
    return hashlib.sha256(repr(pairs).encode()).hexdigest()[:16]


def run_single(args: argparse.Namespace, cfg: sd.SemanticDedupConfig) -> dict:
    t, c = time.perf_counter(), _cpu()
    if args.synthetic:
        emb = synthetic(args.n)
        t, c = time.perf_counter(), _cpu()  # the search alone
    else:
        emb = sd.embed(texts_of(args.n), cfg.batch_size, cfg.max_tokens, cfg.threads)
    embedded = time.perf_counter() - t
    pairs = sd.similar_pairs(emb, cfg.threshold, cfg.exact_max, cfg.probes, 0, cfg.threads)
    return {
        "wall": time.perf_counter() - t,
        "embed_wall": embedded,
        "cpu": _cpu() - c,
        "peak_mb": _peak_mb(),
        "pairs": len(pairs),
        "pairs_sha": _pairs_digest(pairs),
        "emb_sha": _digest(emb),
    }


def run_cluster(args: argparse.Namespace, cfg: sd.SemanticDedupConfig) -> dict:
    from generator.cluster import open_cluster
    from generator.cluster.semantic import ClusterSemantic

    class Given(ClusterSemantic):  # --synthetic: the matrix is given, only the search runs
        def _embed(self, texts: list[str], cfg: sd.SemanticDedupConfig) -> np.ndarray:
            np.save(self.path, given)
            return np.load(self.path, mmap_mode="r")

    given = synthetic(args.n) if args.synthetic else None
    texts = [""] * args.n if args.synthetic else texts_of(args.n)
    kind = Given if args.synthetic else ClusterSemantic
    with open_cluster(args.cluster) as cluster:
        cluster.spill_root = Path(tempfile.mkdtemp(prefix="bench-semantic-"))
        before = sum(cluster.client.run(_worker_cpu).values())
        t, c = time.perf_counter(), _cpu()
        done = kind(cluster, texts, cfg, 0)
        wall = time.perf_counter() - t
        out = {
            "wall": wall,
            "cpu": _cpu() - c,
            "workers_cpu": sum(cluster.client.run(_worker_cpu).values()) - before,
            "peak_mb": _peak_mb(),
            "worker_peak_mb": sorted(cluster.client.run(_peak_mb).values()),
            "pairs": len(done.pairs),
            "pairs_sha": _pairs_digest(done.pairs),
            "emb_sha": _digest(np.asarray(done.emb)),
        }
        done.close()
        shutil.rmtree(cluster.spill_root, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--cluster", default="local:2")
    ap.add_argument("--synthetic", action="store_true", help="search only, on unit vectors")
    ap.add_argument("--exact-max", type=int, default=20_000)
    ap.add_argument("--mode", choices=["both", "single", "cluster"], default="both")
    args = ap.parse_args()
    cfg = sd.SemanticDedupConfig(exact_max=args.exact_max)
    if args.mode == "single":
        print(json.dumps(run_single(args, cfg)))
        return
    if args.mode == "cluster":
        print(json.dumps(run_cluster(args, cfg)))
        return
    results = {}
    for mode in ("single", "cluster"):
        cmd = [sys.executable, __file__, "--mode", mode, "--n", str(args.n)]
        cmd += ["--cluster", args.cluster, "--exact-max", str(args.exact_max)]
        cmd += ["--synthetic"] if args.synthetic else []
        out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ, check=True)
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        print(mode, json.dumps(results[mode]), flush=True)
    s, c = results["single"], results["cluster"]
    search = "exact" if args.n <= args.exact_max else "bucketed (k-means)"
    what = "synthetic vectors, search only" if args.synthetic else "embed + search"
    print(
        f"{args.n:,} records ({what}, {search} search): one process {s['wall']:,.1f} s wall, "
        f"{s['cpu']:,.1f} s CPU, "
        f"peak {s['peak_mb']:,.0f} MB; {args.cluster} {c['wall']:,.1f} s wall, CPU "
        f"{c['cpu']:,.1f} s coordinator + {c['workers_cpu']:,.1f} s workers, peak coordinator "
        f"{c['peak_mb']:,.0f} MB, workers "
        + ", ".join(f"{m:,.0f}" for m in c["worker_peak_mb"])
        + f" MB; pairs {s['pairs']:,} / {c['pairs']:,}, identical: "
        f"{s['pairs_sha'] == c['pairs_sha']}; embeddings identical: {s['emb_sha'] == c['emb_sha']}"
    )


if __name__ == "__main__":
    main()
