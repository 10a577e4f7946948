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

import numpy as np

_SEPARATORS = re.compile(r"[\W_]+")
_WORD = re.compile(r"[^\W_]+")
_BOUNDARY = re.compile(r"[.!?;:\n]+")
_MASK = 0xFFFFFFFF


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
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [ws for ws in (_WORD.findall(part) for part in _BOUNDARY.split(folded)) if ws]


_HASHES: dict[str, int] = {}


def _h(token: str) -> int:
    # Memoised: vocabularies are small and texts many. Bounded so a huge corpus of unique
    # tokens (ids, numbers) cannot grow it without limit.
    value = _HASHES.get(token)
    if value is None:
        if len(_HASHES) > 1_000_000:
            _HASHES.clear()
        value = _HASHES[token] = zlib.crc32(token.encode("utf-8"))
    return value


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
            out.append(hash(tuple(hs)) & _MASK)
        else:
            # A tuple of ints hashes the same in every process (no hash randomisation).
            out.extend(hash(g) & _MASK for g in zip(*(hs[i:] for i in range(word_n)), strict=False))
    if 0 < total < short_words:
        flat = " ".join(" ".join(ws) for ws in sents)
        grams = [flat[i : i + char_n] for i in range(max(1, len(flat) - char_n + 1))]
        out.extend(_h("\x00" + g) for g in grams)  # own namespace, apart from word grams
    return np.unique(np.array(out, dtype=np.uint32))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
