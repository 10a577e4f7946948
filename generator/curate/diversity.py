"""Diversity measures of a curated set, for the report.

- distinct-1 / distinct-2: unique word unigrams / bigrams over all instructions divided by
  their total count (Li et al. 2016);
- leading verbs and verb-object pairs, as Self-Instruct charted its data. Self-Instruct
  parsed with a constituency parser; we use a dependency-free heuristic instead: skip
  polite fillers ("please", "can you"), take the first word as the verb (a question word
  such as "what" stands for itself), then the next word that is not a determiner, pronoun
  or filler as its object;
- nearest-neighbour similarity: for a seeded sample of records, the highest shingle
  Jaccard to any other record, with candidates from a MinHash LSH Forest (top 5), so no
  all-pairs comparison is needed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

import numpy as np
from datasketch import MinHashLSHForest

from generator.curate.near_dedup import shingle_arrays, signatures
from generator.curate.normalize import jaccard, words

_FILLERS = frozenset(
    "please kindly can could would will you i we me us help to let s just now also "
    "quickly briefly".split()
)
_SKIP_OBJECT = frozenset(
    "a an the this that these those my our your their his her its some any all each every "
    "me us you it them i we they short brief quick new following given few one two three "
    "to of for me about on in up out down more".split()
)
QUESTION_WORDS = frozenset("what how who whom whose when where why which is are do does can".split())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over ``texts`` (0 when there are none)."""
    total, unique = 0, set()
    for t in texts:
        ws = words(t)
        grams = list(zip(*(ws[i:] for i in range(n)), strict=False))
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def verb_object(text: str) -> tuple[str | None, str | None]:
    """(leading verb, its object) of an instruction by the heuristic above."""
    ws = [w for w in words(text) if not w.isdigit()]
    k = 0
    while k < len(ws) and ws[k] in _FILLERS:
        k += 1
    if k >= len(ws):
        return None, None
    verb = ws[k]
    obj = next((w for w in ws[k + 1 :] if w not in _SKIP_OBJECT and w not in _FILLERS), None)
    return verb, obj


def verb_stats(texts: Sequence[str], top: int) -> tuple[list[tuple[str, int]], list]:
    """Most common leading verbs and verb-object pairs."""
    verbs: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for t in texts:
        verb, obj = verb_object(t)
        if verb:
            verbs[verb] += 1
            if obj:
                pairs[(verb, obj)] += 1
    return verbs.most_common(top), pairs.most_common(top)


def nearest_similarity(texts: Sequence[str], sample: int = 2000, seed: int = 0) -> list[float]:
    """Highest shingle Jaccard to another text, for a seeded sample of the texts."""
    if len(texts) < 2:
        return []
    arrays = shingle_arrays(texts)
    sigs = signatures(arrays, 128)
    forest = MinHashLSHForest(num_perm=128)
    for i, sig in enumerate(sigs):
        forest.add(i, sig)
    forest.index()
    picked = sorted(random.Random(seed).sample(range(len(texts)), min(sample, len(texts))))
    out = []
    for i in picked:
        cands = [j for j in forest.query(sigs[i], 6) if j != i]
        out.append(max((jaccard(arrays[i], arrays[j]) for j in cands), default=0.0))
    return out


def similarity_summary(sims: Sequence[float]) -> dict[str, float]:
    """Median, 90th percentile and share >= 0.5 of nearest-neighbour similarities."""
    if not sims:
        return {}
    arr = np.asarray(sims)
    return {
        "median": round(float(np.median(arr)), 3),
        "p90": round(float(np.percentile(arr, 90)), 3),
        "share_ge_0.5": round(float((arr >= 0.5).mean()), 3),
    }
