"""Partitioned exact and near dedup for ``curate --cluster``.

Near dedup, in four rounds (the decisions stay with the step, in the coordinator):

1. *signatures* (one task per partition of ``PARTITION`` texts): shingle sets, spilled to
   the spill folder (flat uint32 + offsets, read back by memory map), a 64-bit digest of
   each set, MinHash signatures (the step's own: same permutations, same bands) cut into
   LSH band keys. The band rows ``(band, key, record, digest)`` are hash-partitioned on the
   key into ``D`` buckets, so each bucket task gets every row of its keys.
2. *buckets* (one task per bucket, its rows sent by Dask from every signature task): rows
   sorted by (band, key); records sharing a band key are candidates; records with the same
   digest are joined directly (the single-process path pairs identical sets without LSH);
   other candidates are verified by the exact Jaccard of their shingle sets read from the
   spill. Returns the verified pairs.
3. *union-find* over all verified pairs, in the coordinator: the same connected components
   as one process, since both find exactly the pairs that share a band and pass the check.
4. *jaccards*: the Jaccard of each dropped record to the kept one, on the workers.

Memory per worker is bounded by the partition size (texts, shingles and signatures of one
partition) and by the rows of one bucket (the number of buckets grows with the records);
shingle sets live on disk. With several machines the spill folder (under the run folder)
must be on a shared filesystem. Band keys and set digests are 64-bit hashes: a collision
(about 3e-8 for a million records) could add one candidate (still verified) or join two
different sets as identical.

Exact dedup: the normalised keys are computed on the workers; the first-kept pass over
them stays sequential in the coordinator (dictionary look-ups: under a second per million).
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from generator.cluster.mapping import submit_packed, unpack
from generator.curate.near_dedup import (
    NearDedupConfig,
    clusters,
    make_lsh,
    shingle_arrays,
    signatures,
)
from generator.curate.normalize import jaccard

PARTITION = 20_000  # texts per signature task
ROWS_PER_BUCKET = 2_000_000  # band rows per bucket task, about 50 MB
_ROW = np.dtype([("band", "u2"), ("key", "u8"), ("idx", "i8"), ("digest", "u8")])
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def band_keys(hashvalues: np.ndarray, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """(n, bands) uint64: a 64-bit hash of each band's slice of the signatures."""
    out = np.empty((hashvalues.shape[0], len(ranges)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b, (start, end) in enumerate(ranges):
            h = np.full(hashvalues.shape[0], np.uint64(b + 1) * _M2, dtype=np.uint64)
            for col in range(start, end):
                h = _mix(h ^ hashvalues[:, col].astype(np.uint64))
            out[:, b] = h
    return out


def _digest(arr: np.ndarray) -> int:
    return int.from_bytes(hashlib.blake2b(arr.tobytes(), digest_size=8).digest(), "little")


def signature_task(
    texts: bytes, start: int, part: int, cfg: NearDedupConfig, spill: str, buckets: int
) -> list[np.ndarray]:
    """Round 1 on one partition (its texts pickled): spill its shingles, return its band
    rows per bucket."""
    arrays = shingle_arrays(pickle.loads(texts), cfg)
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    flat = np.concatenate(arrays) if arrays else np.zeros(0, np.uint32)
    np.save(Path(spill) / f"flat-{part}.npy", flat.astype(np.uint32, copy=False))
    np.save(Path(spill) / f"offsets-{part}.npy", offsets)
    lsh = make_lsh(cfg.threshold, cfg.num_perm, cfg.false_negative_weight)
    hv = np.array([m.hashvalues for m in signatures(arrays, cfg.num_perm)], dtype=np.uint64)
    hv = hv.reshape(len(arrays), cfg.num_perm)
    keys = band_keys(hv, lsh.hashranges)
    n, b = keys.shape
    rows = np.empty(n * b, dtype=_ROW)
    rows["band"] = np.tile(np.arange(b, dtype=np.uint16), n)
    rows["key"] = keys.reshape(-1)
    rows["idx"] = np.repeat(np.arange(start, start + n, dtype=np.int64), b)
    rows["digest"] = np.repeat(np.array([_digest(a) for a in arrays], dtype=np.uint64), b)
    dest = rows["key"] % np.uint64(buckets)
    return [rows[dest == d] for d in range(buckets)]


class SpillReader:
    """Shingle sets by record index, memory-mapped from the spill folder."""

    def __init__(self, spill: str, partition: int) -> None:
        self.spill, self.partition = Path(spill), partition
        self._open: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, idx: int) -> np.ndarray:
        part, local = divmod(int(idx), self.partition)
        if part not in self._open:
            flat = np.load(self.spill / f"flat-{part}.npy", mmap_mode="r")
            self._open[part] = (flat, np.load(self.spill / f"offsets-{part}.npy"))
        flat, offsets = self._open[part]
        return np.asarray(flat[offsets[local] : offsets[local + 1]])


def bucket_task(spill: str, partition: int, threshold: float, *parts: np.ndarray) -> np.ndarray:
    """Round 2 on one bucket: the verified pairs (i, j), i < j, as an (m, 2) int64 array."""
    rows = np.concatenate(parts) if parts else np.zeros(0, _ROW)
    if len(rows) < 2:
        return np.zeros((0, 2), np.int64)
    rows = rows[np.lexsort((rows["idx"], rows["key"], rows["band"]))]
    same = (rows["band"][1:] == rows["band"][:-1]) & (rows["key"][1:] == rows["key"][:-1])
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    ends = np.append(starts[1:], len(rows))
    identical: set[tuple[int, int]] = set()
    candidates: set[tuple[int, int]] = set()
    for s, e in zip(starts, ends, strict=True):
        if e - s < 2:
            continue
        first_of: dict[int, int] = {}
        run = rows[s:e]
        for idx, digest in zip(run["idx"].tolist(), run["digest"].tolist(), strict=True):
            if digest in first_of:
                identical.add((first_of[digest], idx))
            else:
                first_of[digest] = idx
        reps = sorted(first_of.values())
        for a in range(len(reps)):
            for b in range(a + 1, len(reps)):
                candidates.add((reps[a], reps[b]))
    reader = SpillReader(spill, partition)
    pairs = sorted(identical)
    for i, j in sorted(candidates):
        if jaccard(reader.get(i), reader.get(j)) >= threshold:
            pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def jaccard_task(spill: str, partition: int, pairs: list[tuple[int, int]]) -> list[float]:
    """Round 4: the Jaccard of each (dropped, kept) pair."""
    reader = SpillReader(spill, partition)
    return [jaccard(reader.get(i), reader.get(j)) for i, j in pairs]


class ClusterSimilarity:
    """Near-duplicate clusters of ``texts`` computed on a Dask cluster (see the module
    docstring); :meth:`jaccards` answers from the spilled shingle sets."""

    def __init__(self, client: Any, texts: list[str], cfg: NearDedupConfig, spill_root: Path):
        self.client = client
        self.n = len(texts)
        self.spill = tempfile.mkdtemp(prefix=".near-dedup-spill-", dir=spill_root)
        try:
            self.clusters = self._clusters(texts, cfg)
        except BaseException:
            self.close()
            raise

    def _clusters(self, texts: list[str], cfg: NearDedupConfig) -> list[list[int]]:
        bands = make_lsh(cfg.threshold, cfg.num_perm, cfg.false_negative_weight).b
        buckets = max(1, -(-self.n * bands // ROWS_PER_BUCKET))
        sigs = []
        for part, start in enumerate(range(0, self.n, PARTITION)):
            chunk = pickle.dumps(texts[start : start + PARTITION], protocol=5)
            [data] = self.client.scatter([chunk], hash=False)
            sigs.append(
                self.client.submit(
                    signature_task, data, start, part, cfg, self.spill, buckets, pure=False
                )
            )
        per_bucket = [
            [self.client.submit(lambda rows, d=d: rows[d], s, pure=False) for s in sigs]
            for d in range(buckets)
        ]
        pair_futs = [
            self.client.submit(
                bucket_task, self.spill, PARTITION, cfg.threshold, *parts, pure=False
            )
            for parts in per_bucket
        ]
        del sigs, per_bucket  # rows are released as soon as their bucket has them
        pairs = (tuple(p) for fut in pair_futs for p in fut.result().tolist())
        return clusters(self.n, ((i, j, 1.0) for i, j in pairs))

    def jaccards(self, pairs: list[tuple[int, int]]) -> list[float]:
        step = 50_000
        futs = [
            submit_packed(self.client, jaccard_task, self.spill, PARTITION, pairs[k : k + step])
            for k in range(0, len(pairs), step)
        ]
        return [x for f in futs for x in unpack(f)]

    def close(self) -> None:
        shutil.rmtree(self.spill, ignore_errors=True)


def _keys_task(pairs: list[tuple[str, str]], on_instruction: bool, on_example: bool) -> list:
    from generator.curate.exact_dedup import _digest as key_of

    return [
        (key_of(ex) if on_example else None, key_of(ins) if on_instruction else None)
        for ins, ex in pairs
    ]


def exact_keys(client: Any, texts: list[tuple[str, str]], on_instruction: bool, on_example: bool):
    """(example key, instruction key) per record, computed on the workers in partitions."""
    futs = [
        submit_packed(client, _keys_task, texts[k : k + PARTITION], on_instruction, on_example)
        for k in range(0, len(texts), PARTITION)
    ]
    return [k for f in futs for k in unpack(f)]
