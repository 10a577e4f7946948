"""Stratified, seeded sampling of records for human review.

Strata are (source document, prompt template, quality-score band), so a small sample
still covers every document and template instead of mirroring the largest one. Each
stratum gets a share proportional to its size (largest remainder), at least one record
while the budget allows; records inside a stratum are drawn with a seeded RNG.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict

from generator.display import shown_path
from generator.records import Record

BANDS = ((0.0, "low"), (0.6, "mid"), (0.8, "high"))


def default_size(total: int) -> int:
    """max(50, 5% of the set), never more than the set."""
    return min(total, max(50, math.ceil(total * 0.05)))


def score_band(record: Record) -> str:
    quality = record.meta.curation.get("quality") or {}
    score = quality.get("score")
    if not isinstance(score, int | float):
        return "unscored"
    band = "low"
    for lo, name in BANDS:
        if score >= lo:
            band = name
    return band


def stratum(record: Record) -> str:
    doc = shown_path(record.meta.source.path) if record.meta.source else "-"
    template = record.meta.prompt.id if record.meta.prompt else "-"
    return f"{doc}|{template}|{score_band(record)}"


def stratified_sample(records: list[Record], size: int, seed: int) -> list[tuple[Record, str]]:
    """Pick ``size`` records across strata; returns (record, stratum) in review order."""
    size = min(size, len(records))
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        groups[stratum(r)].append(r)
    keys = sorted(groups)
    total = len(records)
    quotas = {k: size * len(groups[k]) / total for k in keys}
    alloc = {k: int(q) for k, q in quotas.items()}
    # at least one per stratum while budget allows, biggest strata first
    for k in sorted(keys, key=lambda k: -len(groups[k])):
        if alloc[k] == 0 and sum(alloc.values()) < size:
            alloc[k] = 1
    leftover = size - sum(alloc.values())
    for k in sorted(keys, key=lambda k: (-(quotas[k] - int(quotas[k])), k)):
        if leftover <= 0:
            break
        if alloc[k] < len(groups[k]):
            alloc[k] += 1
            leftover -= 1
    rng = random.Random(seed)
    picked: list[tuple[Record, str]] = []
    for k in keys:
        members = sorted(groups[k], key=lambda r: r.meta.id)
        picked += [(r, k) for r in rng.sample(members, min(alloc[k], len(members)))]
    rng.shuffle(picked)  # interleave strata so reviewers do not tire on one document
    return picked


def wilson_interval(defects: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound for small n and p near 0 or 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = defects / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
