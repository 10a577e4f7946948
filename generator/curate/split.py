"""Train/validation split: seeded, grouped, and checked for leakage afterwards.

Groups: records joined by equal normalised instruction or example, by near-duplicate
example text (shingle Jaccard >= ``near_threshold``, the near_dedup machinery) and,
optionally, by source document. Whole groups are assigned to one side, so a cluster never
straddles the split. After splitting, :func:`check_leakage` re-checks the two sides
independently of how they were made and raises :class:`LeakageError` on any overlap.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from generator.curate.config import SplitConfig
from generator.curate.exact_dedup import example_key, instruction_key
from generator.curate.near_dedup import NearDedupConfig, UnionFind, shingle_arrays, similar_pairs
from generator.errors import LeakageError
from generator.records import Record


def _source(record: Record) -> str | None:
    src = record.meta.source
    return src.path if src is not None else None


def _links(records: Sequence[Record], cfg: SplitConfig) -> list[tuple[int, int]]:
    """Index pairs that must land on the same side."""
    links: list[tuple[int, int]] = []
    firsts: dict[object, int] = {}
    for i, r in enumerate(records):
        keys: list[object] = [("e", example_key(r)), ("i", instruction_key(r))]
        if cfg.group_by_source and _source(r):
            keys.append(("s", _source(r)))
        for key in keys:
            j = firsts.setdefault(key, i)
            if j != i:
                links.append((j, i))
    arrays = shingle_arrays((r.example_text() for r in records), NearDedupConfig())
    links.extend((i, j) for i, j, _ in similar_pairs(arrays, cfg.near_threshold))
    return links


def groups(records: Sequence[Record], cfg: SplitConfig) -> list[list[int]]:
    """Groups of record indices that must stay together, in order of first member."""
    uf = UnionFind(len(records))
    for i, j in _links(records, cfg):
        uf.union(i, j)
    return sorted(uf.groups().values(), key=lambda g: g[0])


def validation_size(n: int, cfg: SplitConfig) -> int:
    """How many records validation should get: the fraction of ``n``; when that is below
    ``min_validation``, that minimum but never more than a fifth of the set (a tiny set
    should still train on most of its records); none for fewer than two records."""
    if n < 2:
        return 0
    want = round(n * cfg.validation_fraction)
    if want < cfg.min_validation:
        want = min(cfg.min_validation, max(want, n // 5))
    return max(1, want)


@dataclass
class Split:
    train: list[Record]
    validation: list[Record]
    groups: int


def split_records(records: Sequence[Record], cfg: SplitConfig, seed: int = 0) -> Split:
    """Seeded grouped split; each record's side goes to ``meta.curation.split``."""
    parts = groups(records, cfg)
    order = list(range(len(parts)))
    random.Random(seed).shuffle(order)
    want = validation_size(len(records), cfg)
    in_val: set[int] = set()
    for g in order:
        if len(in_val) >= want:
            break
        if len(in_val) + len(parts[g]) <= want:  # a group that does not fit stays in train
            in_val.update(parts[g])
    train, val = [], []
    for i, r in enumerate(records):
        side = "validation" if i in in_val else "train"
        r.meta.curation["split"] = side
        (val if i in in_val else train).append(r)
    return Split(train, val, len(parts))


def check_leakage(
    train: Sequence[Record], validation: Sequence[Record], cfg: SplitConfig | None = None
) -> None:
    """Raise :class:`LeakageError` if the sides share an id, an exact or near duplicate
    (normalised instruction or example; shingle Jaccard >= threshold) or, when grouping by
    source, a source document."""
    cfg = cfg or SplitConfig()
    problems: list[str] = []
    ids = {r.meta.id for r in train} & {r.meta.id for r in validation}
    if ids:
        problems.append(f"{len(ids)} record id(s) on both sides, e.g. {sorted(ids)[0]}")
    for name, key in (("example", example_key), ("instruction", instruction_key)):
        shared = {key(r) for r in train} & {key(r) for r in validation}
        if shared:
            problems.append(f"{len(shared)} exact duplicate {name}(s) across the split")
    both = [*train, *validation]
    arrays = shingle_arrays((r.example_text() for r in both), NearDedupConfig())
    crossing = [
        (i, j) for i, j, _ in similar_pairs(arrays, cfg.near_threshold) if i < len(train) <= j
    ]
    if crossing:
        i, j = crossing[0]
        problems.append(
            f"{len(crossing)} near-duplicate pair(s) across the split, e.g. "
            f"{both[i].meta.id} (train) ~ {both[j].meta.id} (validation)"
        )
    if cfg.group_by_source:
        srcs = {_source(r) for r in train} & {_source(r) for r in validation} - {None}
        if srcs:
            problems.append(f"{len(srcs)} source document(s) on both sides, e.g. {min(srcs)}")
    if problems:
        raise LeakageError("train/validation leakage: " + "; ".join(problems))


def leaking(
    candidates: Sequence[Record], validation: Sequence[Record], cfg: SplitConfig
) -> dict[int, str]:
    """Candidates for the training side that would leak into ``validation``: index -> id of
    a validation record it is linked to (same example or instruction, a near duplicate, or
    the same source document when grouping by source). Used for records that join train
    after human review."""
    both = [*validation, *candidates]
    n = len(validation)
    found: dict[int, str] = {}
    for i, j in _links(both, cfg):
        a, b = min(i, j), max(i, j)
        if a < n <= b:
            found.setdefault(b - n, both[a].meta.id)
    return found
