"""A corpus of real instructions plus word-edit variants, many of them near ROUGE-L 0.7.

Shared by the novelty tests and ``benchmarks/bench_novelty.py``. The base file holds ~200
hand-written instructions of the kinds Self-Instruct and document Q&A produce; variants
delete, replace, insert or swap 1-4 words, so a large share of pairs lands close to the
0.7 threshold (and some exactly on it), where a pruning mistake would show.
"""

from __future__ import annotations

import random
from pathlib import Path

BASE_FILE = Path(__file__).resolve().parent / "data" / "instructions.txt"


def base_instructions() -> list[str]:
    return [line.strip() for line in BASE_FILE.read_text(encoding="utf-8").splitlines() if line]


def variants(base: list[str], n: int, seed: int = 0, max_edits: int = 4) -> list[str]:
    """``n`` word-edited variants of ``base`` (and of recent variants), deterministic."""
    rng = random.Random(seed)
    vocab = sorted({w for b in base for w in b.split()})
    out: list[str] = []
    while len(out) < n:
        src = rng.choice(base) if rng.random() < 0.85 or not out else rng.choice(out[-20:])
        words = src.split()
        for _ in range(rng.randint(1, max_edits)):
            op, i = rng.random(), rng.randrange(len(words))
            if op < 0.3 and len(words) > 2:
                del words[i]
            elif op < 0.6:
                words[i] = rng.choice(vocab)
            elif op < 0.85:
                words.insert(i, rng.choice(vocab))
            elif i + 1 < len(words):
                words[i], words[i + 1] = words[i + 1], words[i]
        out.append(" ".join(words))
    return out


def corpus(n: int, seed: int = 1, max_edits: int = 4) -> list[str]:
    """``n`` texts: the base instructions and variants, shuffled."""
    base = base_instructions()
    texts = base + variants(base, max(0, n - len(base)), seed=seed, max_edits=max_edits)
    random.Random(seed).shuffle(texts)
    return texts[:n]


def crossovers(n: int, seed: int = 0) -> list[str]:
    """``n`` texts joining the start of one base instruction to the end of another: a
    denser, more varied pool than word edits (many pairs share half their words)."""
    base = base_instructions()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.sample(base, 2)
        wa, wb = a.split(), b.split()
        out.append(" ".join(wa[: rng.randint(2, len(wa))] + wb[rng.randint(1, len(wb) - 1) :]))
    return out
