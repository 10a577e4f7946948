"""Semantic dedup for ``curate --cluster``: the embeddings and the similarity search run on
the workers; the decisions (union-find, which record stays) stay with the step.

Same answers as one process, by construction:

1. *embedding*: the coordinator sorts the texts by length exactly as
   :func:`~generator.curate.semantic_dedup.embed` does and cuts that order into partitions
   of whole batches, so every worker embeds the very batches one process would (a batch's
   texts set its padding, and the padding the floats). Each task writes its rows into one
   float32 matrix memory-mapped in the spill folder (1.5 KB per record); the coordinator
   never holds the matrix, only maps it. The model is loaded once per worker process
   (``_model`` is cached), and torch runs with the step's ``threads``.
2. *search*: up to ``exact_max`` records, the exact search is cut into row ranges (whole
   blocks of ``EXACT_BLOCK`` rows); above it, k-means and each record's probe list are
   computed here (the same functions as one process), spilled, and the buckets are
   searched on the workers, a group of buckets per task. Pairs come back per range or
   bucket and are merged here in the single-process order, so even a pair found twice
   keeps the same cosine.

Tasks go through :func:`ordered_map` (a bounded window). With several machines the spill
folder (under the run folder) must be on a filesystem every worker sees, as for near dedup.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from generator.cluster.mapping import ordered_map
from generator.curate.semantic_dedup import (
    EXACT_BLOCK,
    SemanticDedupConfig,
    blas_threads,
    bucket_pairs,
    embed_batches,
    exact_pairs,
    length_order,
    probe_lists,
)

PARTITION_MAX = 2048  # texts per embedding task (rounded up to whole batches)
EXACT_ROWS = 8 * EXACT_BLOCK  # query rows per exact-search task
DIM = 384
Pairs = list[tuple[int, int, float]]


def embed_task(
    path: str, rows: np.ndarray, texts: list[str], batch_size: int, max_tokens: int, threads: int
) -> int:
    """On a worker: embed ``texts`` (whole batches of the global length order) and write
    them to rows ``rows`` of the spilled matrix; the number written."""
    emb = embed_batches(texts, batch_size, max_tokens, threads)
    out = np.load(path, mmap_mode="r+")
    out[rows] = emb
    out.flush()
    del out
    return len(texts)


def _packed(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    ij = np.array([(i, j) for i, j, _ in pairs], dtype=np.int64).reshape(-1, 2)
    return ij, np.array([s for _, _, s in pairs], dtype=np.float64)


def _unpacked(ij: np.ndarray, sims: np.ndarray) -> Pairs:
    return [(i, j, s) for (i, j), s in zip(ij.tolist(), sims.tolist(), strict=True)]


def exact_task(path: str, start: int, end: int, threshold: float, threads: int) -> tuple:
    """On a worker: the exact search's pairs for query rows ``start:end``."""
    with blas_threads(threads):
        return _packed(exact_pairs(np.load(path, mmap_mode="r"), start, end, threshold))


def bucket_task(
    path: str, near_path: str, buckets: list[int], threshold: float, threads: int
) -> list:
    """On a worker: the pairs of each bucket in ``buckets``, in that order."""
    emb, near = np.load(path, mmap_mode="r"), np.load(near_path)
    with blas_threads(threads):
        return [_packed(bucket_pairs(emb, near, c, threshold)) for c in buckets]


class ClusterSemantic:
    """Embeddings (memory-mapped) and similar pairs of ``texts``, computed on a Dask
    cluster as :class:`~generator.curate.semantic_dedup.SemanticDedupStep` would alone;
    :meth:`close` removes the spill."""

    def __init__(self, cluster: Any, texts: list[str], cfg: SemanticDedupConfig, seed: int) -> None:
        self.client, self.n = cluster.client, len(texts)
        self.window = 2 * cluster.n_workers + 1
        self.tasks = 4 * cluster.n_workers  # search tasks: a few per worker, for balance
        self.spill = tempfile.mkdtemp(prefix=".semantic-dedup-spill-", dir=cluster.spill_root)
        self.path = str(Path(self.spill) / "embeddings.npy")
        try:
            self.emb = self._embed(texts, cfg)
            self.pairs = self._search(cfg, seed)
        except BaseException:
            self.close()
            raise

    def _embed(self, texts: list[str], cfg: SemanticDedupConfig) -> np.ndarray:
        out = np.lib.format.open_memmap(self.path, "w+", np.float32, (self.n, DIM))
        del out  # created (zeros) on disk; the workers fill it
        order = np.array(length_order(texts), dtype=np.int64)
        size = max(1, min(PARTITION_MAX, -(-self.n // self.tasks)))
        size = -(-size // cfg.batch_size) * cfg.batch_size  # whole batches only
        parts = [(a, min(a + size, self.n)) for a in range(0, self.n, size)]
        written = sum(
            ordered_map(
                self.client,
                embed_task,
                parts,
                window=self.window,
                args=lambda p: (
                    self.path,
                    order[p[0] : p[1]],
                    [texts[i] for i in order[p[0] : p[1]]],
                    cfg.batch_size,
                    cfg.max_tokens,
                    cfg.threads,
                ),
            )
        )
        if written != self.n:  # never expected: a lost task raises in ordered_map
            raise RuntimeError(f"semantic dedup: {written} of {self.n} embeddings written")
        return np.load(self.path, mmap_mode="r")

    def _search(self, cfg: SemanticDedupConfig, seed: int) -> Pairs:
        found: dict[tuple[int, int], float] = {}
        if self.n <= cfg.exact_max:
            rows = max(EXACT_BLOCK, -(-self.n // self.tasks // EXACT_BLOCK) * EXACT_BLOCK)
            rows = min(rows, EXACT_ROWS)
            ranges = [(a, min(a + rows, self.n)) for a in range(0, self.n, rows)]
            results = ordered_map(
                self.client,
                exact_task,
                ranges,
                window=self.window,
                args=lambda r: (self.path, r[0], r[1], cfg.threshold, cfg.threads),
            )
            blocks = (_unpacked(*packed) for packed in results)
        else:
            with blas_threads(cfg.threads):  # k-means here, as in one process
                near = probe_lists(self.emb, cfg.probes, seed)
            near_path = str(Path(self.spill) / "near.npy")
            np.save(near_path, near)
            k = int(near.max()) + 1
            per = -(-k // self.tasks)
            groups = [list(range(a, min(a + per, k))) for a in range(0, k, per)]
            del near
            results = ordered_map(
                self.client,
                bucket_task,
                groups,
                window=self.window,
                args=lambda g: (self.path, near_path, g, cfg.threshold, cfg.threads),
            )
            blocks = (_unpacked(*packed) for group in results for packed in group)
        for block in blocks:  # merged in the single-process order (see similar_pairs)
            for i, j, s in block:
                found[(i, j)] = s
        return sorted((i, j, s) for (i, j), s in found.items())

    def close(self) -> None:
        self.emb = np.zeros((0, DIM), np.float32)
        shutil.rmtree(self.spill, ignore_errors=True)
