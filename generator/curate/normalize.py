"""Text normalisation and shingling shared by the dedup steps, the split's leakage check
and the report.

Normalised text: Unicode NFKC (full-width and compatibility forms fold to one), case-folded,
punctuation and symbols removed, whitespace runs collapsed. Two texts that differ only in
spacing, case or punctuation normalise to the same string.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from functools import lru_cache

import numpy as np

_SEPARATORS = re.compile(r"[\W_]+")
_TOKEN = re.compile(r"[^\W_]+|[.!?;:\n]")


def normalize(text: str) -> str:
    """NFKC, case-folded, punctuation/symbols removed, whitespace collapsed."""
    # Anything that is not a letter or digit (punctuation, symbols, "_", whitespace) is a
    # separator: one regex pass instead of a per-character category lookup.
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def words(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalize(text).split()


def sentences(text: str) -> list[list[str]]:
    """Normalised words per sentence (a sentence ends at . ! ? ; : or a line break)."""
    out: list[list[str]] = []
    current: list[str] = []
    for tok in _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()):
        if tok.isalnum():
            current.append(tok)
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


@lru_cache(maxsize=1 << 18)
def _h(token: str) -> int:
    return zlib.crc32(token.encode("utf-8"))  # cached: vocabularies are small, texts many


def shingle_hashes(
    text: str, word_n: int = 3, char_n: int = 5, short_words: int = 12
) -> np.ndarray:
    """The shingle set of ``text`` as sorted unique 32-bit hashes (deterministic).

    Word ``word_n``-grams are taken *within* sentences: reordering sentences (a common edit
    when a model rewrites a list) leaves the set unchanged, while a changed word still
    removes the ``word_n`` grams that cover it. A sentence shorter than ``word_n`` words
    is one shingle. Texts of fewer than ``short_words`` words also get character
    ``char_n``-grams: with a handful of word grams one edit flips most of them, while a
    short text still has dozens of character grams, so Jaccard stays meaningful.
    """
    sents = sentences(text)
    out: list[int] = []
    total = 0
    for ws in sents:
        total += len(ws)
        hs = [_h(w) for w in ws]
        if len(hs) < word_n:
            out.append(_combine(hs))
        else:
            out.extend(_combine(hs[i : i + word_n]) for i in range(len(hs) - word_n + 1))
    if total < short_words:
        flat = " ".join(" ".join(ws) for ws in sents)
        grams = [flat[i : i + char_n] for i in range(max(1, len(flat) - char_n + 1))]
        out.extend(_h("\x00" + g) for g in grams)  # own namespace, apart from word grams
    return np.unique(np.array(out, dtype=np.uint32))


def _combine(hashes: list[int]) -> int:
    """Order-sensitive 32-bit hash of a word n-gram from its word hashes."""
    acc = 0x811C9DC5
    for h in hashes:
        acc = ((acc ^ h) * 0x01000193) & 0xFFFFFFFF  # FNV-style mixing of whole words
    return acc


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
