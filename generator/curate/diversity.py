"""Diversity measures of a curated set, for the report.

- distinct-1 / distinct-2: unique word unigrams / bigrams over all instructions divided by
  their total count (Li et al. 2016);
- leading verbs and verb-object pairs, as Self-Instruct charted its data. Self-Instruct
  parsed with a constituency parser; we use a dependency-free heuristic instead: skip
  polite fillers ("please", "can you"), take the first word as the verb (a question word
  such as "what" stands for itself), then the next word that is not a determiner, pronoun
  or filler as its object;
- nearest-neighbour similarity: for a seeded sample of records, the highest shingle
  Jaccard to any other record, estimated from MinHash signatures (sample x n, no n x n).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from generator.curate.near_dedup import shingle_arrays, signatures
from generator.curate.normalize import words

# Words skipped before the verb: polite fillers and the pieces of contractions ("I'm").
_FILLERS = frozenset(
    "please kindly can could would will you i we me us help to let just now also quickly "  # noqa: SIM905
    "briefly sorry hi hello m s re ve d ll".split()
)
# Words skipped between the verb and its object: determiners, pronouns, light adjectives.
_SKIP_OBJECT = frozenset(
    "a an the this that these those my our your their his her its some any all each every "  # noqa: SIM905
    "it them they short brief quick new following given few one two three of for about on "
    "in up out down more".split()
)
_SPLIT = re.compile(r"(?<=[.!?:])\s+|\n+")


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over ``texts`` (0 when there are none)."""
    total, unique = 0, set()
    for t in texts:
        ws = words(t)
        grams = list(zip(*(ws[i:] for i in range(n)), strict=False))
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def _request_sentence(text: str) -> str:
    """The sentence that carries the request: the first question, else the first sentence
    (a preface such as "I'm new in Finance." is skipped when a question follows)."""
    parts = [p for p in _SPLIT.split(text.strip()) if p.strip()]
    return next((p for p in parts if p.rstrip().endswith("?")), parts[0] if parts else "")


def verb_object(text: str) -> tuple[str | None, str | None]:
    """(leading verb, its object) of an instruction by the heuristic above."""
    ws = [w for w in words(_request_sentence(text)) if not w.isdigit()]
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


def nearest_similarity(texts: Sequence[str], sample: int = 300, seed: int = 0) -> list[float]:
    """Estimated highest Jaccard to any other text, for a seeded sample of the texts.

    Estimated from MinHash signatures (128 permutations, error about ±0.04): each sampled
    signature is compared with every other in one vectorised pass, sample x n, not n x n.
    """
    if len(texts) < 2:
        return []
    sigs = np.stack([m.hashvalues for m in signatures(shingle_arrays(texts), 128)])
    picked = sorted(random.Random(seed).sample(range(len(texts)), min(sample, len(texts))))
    out = []
    for i in picked:
        est = (sigs == sigs[i]).mean(axis=1)
        est[i] = 0.0
        out.append(round(float(est.max()), 4))
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
