"""Near dedup with MinHash LSH (datasketch), verified by real Jaccard, clustered by
union-find; one record per cluster stays.

Shingles (``normalize.shingle_hashes``): word 3-grams within sentences, plus character 5-grams
for texts under 12 words. LSH bands: datasketch picks (b bands, r rows) with b·r <=
num_perm minimising ``w_fp·P(false positive) + w_fn·P(false negative)`` around the
threshold; we weight false negatives 0.99 (datasketch's default is 0.5) because a missed
duplicate stays in the data silently, while a false candidate only costs one exact Jaccard
check. At 0.8 and 128 permutations that gives b=18, r=7 (S-curve midpoint ~0.66): a pair
at Jaccard 0.8 becomes a candidate with probability 0.986, at 0.85 with 0.999, while a
pair at 0.5 does so with 0.13 (then rejected by the check). Every candidate pair is
then verified by the exact Jaccard of the two shingle sets, so precision does not depend
on the looser bands. No all-against-all loop: each record queries the index once.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
from datasketch import MinHash, MinHashLSH
from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Step
from generator.curate.normalize import jaccard, shingle_hashes
from generator.curate.registry import register_step
from generator.records import Record


class NearDedupConfig(BaseModel):
    """``near_dedup:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    threshold: float = Field(0.8, gt=0, le=1)  # Jaccard of shingle sets
    on: Literal["example", "instruction"] = "example"
    num_perm: int = Field(128, ge=16, le=1024)
    false_negative_weight: float = Field(0.99, ge=0, le=1)
    word_ngram: int = Field(3, ge=1)
    char_ngram: int = Field(5, ge=2)
    short_words: int = Field(12, ge=0)  # below this many words, add character shingles


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.parent)):
            out[self.find(i)].append(i)
        return out


_CACHE: dict[bytes, bytes] = {}
_CACHE_MAX = 300_000


def _shingles(text: str, word_n: int, char_n: int, short_words: int) -> bytes:
    # Cached: near dedup, the split's grouping, its leakage check and the report shingle
    # the same texts within one curation run. Keyed by a digest, so long texts are not
    # kept alive; bounded, so a long-lived process does not grow without limit.
    key = hashlib.blake2b(
        f"{word_n},{char_n},{short_words}\x00{text}".encode(), digest_size=16
    ).digest()
    value = _CACHE.get(key)
    if value is None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        value = _CACHE[key] = shingle_hashes(text, word_n, char_n, short_words).tobytes()
    return value


def shingle_arrays(texts: Iterable[str], cfg: NearDedupConfig | None = None) -> list[np.ndarray]:
    """The hashed shingle set of every text (read-only arrays)."""
    cfg = cfg or NearDedupConfig()
    return [
        np.frombuffer(_shingles(t, cfg.word_ngram, cfg.char_ngram, cfg.short_words), np.uint32)
        for t in texts
    ]


def make_lsh(threshold: float, num_perm: int, fn_weight: float) -> MinHashLSH:
    """An LSH index whose bands favour recall near ``threshold`` (see module docstring)."""
    return MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(1 - fn_weight, fn_weight))


def signatures(arrays: Iterable[np.ndarray], num_perm: int) -> Iterator[MinHash]:
    """MinHash signatures of pre-hashed shingle sets, one at a time (``MinHash.generator``
    reuses the permutations; nothing is kept once the caller has indexed a signature)."""
    # Shingles are already 32-bit hashes, so the hash function is the identity.
    return MinHash.generator((a.tolist() for a in arrays), num_perm=num_perm, seed=1, hashfunc=int)


def similar_pairs(
    arrays: Sequence[np.ndarray], threshold: float, num_perm: int = 128, fn_weight: float = 0.99
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, Jaccard) with i < j and Jaccard >= threshold, without an all-pairs loop.

    Identical shingle sets are paired directly (never reach LSH twice), so a large block of
    identical texts costs linear time instead of a quadratic burst of candidates.
    """
    pairs: list[tuple[int, int, float]] = []
    first_of: dict[bytes, int] = {}
    unique: list[int] = []
    for i, arr in enumerate(arrays):
        key = arr.tobytes()
        if key in first_of:
            pairs.append((first_of[key], i, 1.0))
        else:
            first_of[key] = i
            unique.append(i)
    lsh = make_lsh(threshold, num_perm, fn_weight)
    for i, sig in zip(unique, signatures((arrays[i] for i in unique), num_perm), strict=True):
        for j in lsh.query(sig):
            sim = jaccard(arrays[i], arrays[j])
            if sim >= threshold:
                pairs.append((j, i, sim))
        lsh.insert(i, sig, check_duplication=False)
    return pairs


def clusters(n: int, pairs: Iterable[tuple[int, int, float]]) -> list[list[int]]:
    """Connected components (size >= 2) of the similarity graph, members in input order."""
    uf = UnionFind(n)
    for i, j, _ in pairs:
        uf.union(i, j)
    return sorted((sorted(g) for g in uf.groups().values() if len(g) > 1), key=lambda g: g[0])


def _quality(record: Record) -> float | None:
    from generator.curate.quality import quality_of  # Curation II's score, when present

    return quality_of(record)


class LocalSimilarity:
    """Near-duplicate clusters of ``texts`` in this process (``generator.cluster.dedup``
    has the partitioned form with the same answers)."""

    def __init__(self, texts: Sequence[str], cfg: NearDedupConfig) -> None:
        self.n = len(texts)
        self.arrays = shingle_arrays(texts, cfg)
        pairs = similar_pairs(self.arrays, cfg.threshold, cfg.num_perm, cfg.false_negative_weight)
        self.clusters = clusters(self.n, pairs)

    def jaccards(self, pairs: Sequence[tuple[int, int]]) -> list[float]:
        return [jaccard(self.arrays[i], self.arrays[j]) for i, j in pairs]

    def close(self) -> None:
        self.arrays = []


@register_step("near_dedup", NearDedupConfig, order=50)
class NearDedupStep(Step):
    """Drop all but one record of every near-duplicate cluster."""

    name = "near_dedup"

    def __init__(self, config: NearDedupConfig | None = None) -> None:
        super().__init__()
        self.config = config or NearDedupConfig()
        self.largest: list[dict[str, Any]] = []  # biggest clusters, for the report

    def _text(self, record: Record) -> str:
        if self.config.on == "instruction":
            return record.instruction_text() + "\n" + record.input_text()
        return record.example_text()

    def on_cluster(self, cluster: Any, records: list[Record]) -> None:
        from generator.cluster.dedup import ClusterSimilarity

        texts = [self._text(r) for r in records]
        self._prepared = ClusterSimilarity(cluster.client, texts, self.config, cluster.spill_root)

    def _similarity(self, items: list[Record]) -> Any:
        prepared, self._prepared = getattr(self, "_prepared", None), None
        if prepared is not None and prepared.n == len(items):
            return prepared
        return LocalSimilarity([self._text(r) for r in items], self.config)

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        items = list(records)
        self.seen += len(items)
        sim = self._similarity(items)
        try:
            drop = self._decide(items, sim)
        finally:
            sim.close()
        yield from self.drop_duplicates(items, drop, "near_duplicate", "jaccard")

    def _decide(self, items: list[Record], sim: Any) -> dict[int, tuple[int, float]]:
        """Which record each dropped one duplicates, and their Jaccard."""
        dropped: list[tuple[int, int]] = []
        summaries = []
        for members in sim.clusters:
            scores = [_quality(items[i]) for i in members]
            # Best quality wins; without scores (or on ties) the first seen stays.
            best = max(
                range(len(members)),
                key=lambda k: (scores[k] if scores[k] is not None else float("-inf"), -k),
            )
            keep = members[best]
            dropped.extend((i, keep) for i in members if i != keep)
            self.annotate(items[keep], cluster_size=len(members))
            summaries.append((len(members), keep, [i for i in members if i != keep]))
        summaries.sort(key=lambda s: (-s[0], s[1]))
        self.largest = [
            {
                "size": size,
                "kept": self._text(items[keep])[:300],
                "dropped": [self._text(items[i])[:300] for i in rest[:3]],
            }
            for size, keep, rest in summaries[:10]
        ]
        values = sim.jaccards(dropped)
        return {i: (keep, v) for (i, keep), v in zip(dropped, values, strict=True)}

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        data["largest_clusters"] = self.largest
        return data
