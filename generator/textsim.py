"""Text similarity shared by generation and curation: rouge-score's tokenisation and a fast,
exact ROUGE-L novelty index.

Self-Instruct and Alpaca reject a new instruction when its ROUGE-L F1
(``rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)``) against any instruction
already in the pool exceeds 0.7, scoring every pool item for every candidate: quadratic.
:class:`NoveltyIndex` takes the same decisions at near-linear cost:

1. Candidate search. ROUGE-L's LCS is at most the multiset overlap of the two token lists,
   so F1 = 2·LCS/(a+b) <= 2·overlap/(a+b). A match needs LCS > t·a/(2-t) (derived from
   LCS <= b), so a pool item that shares no token with the candidate's rarest
   ``a - ceil(t·a/(2-t)) + 1`` token occurrences cannot match: only those tokens' posting
   lists are read (probe-side prefix filtering; exact, not approximate).
2. Two overlap bounds prune the gathered items: a vectorised one (tokens read plus
   occurrences not read, capped by min(a, b)), then the exact multiset overlap (a set
   intersection). Only survivors get an exact LCS
   (``rapidfuzz.distance.LCSseq`` on token ids), turned into F1 with rouge-score's own
   float formula, so ties at the threshold fall the same way.

Every pruning step is an upper bound with a small safety margin towards *more* exact
checks, so the decisions equal the all-pairs check (``tests/generate/test_textsim.py``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

# rouge_score/tokenize.py, verbatim patterns (use_stemmer=False).
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_EPS = 1e-9  # margin for float bounds: always errs towards an exact check

DEFAULT_THRESHOLD = 0.7


def normalize(text: str) -> str:
    """Lowercase and replace every run of non-[a-z0-9] characters by a space (rouge-score)."""
    return _NON_ALNUM.sub(" ", text.lower())


def tokenize(text: str) -> list[str]:
    """Tokens exactly as rouge-score's default tokenizer makes them without a stemmer.

    rouge-score splits on whitespace and keeps tokens matching ``^[a-z0-9]+$``; after
    :func:`normalize` only ASCII spaces and [a-z0-9] are left, so ``split()`` alone gives
    the same list (the test suite checks it against rouge-score)."""
    return normalize(text).split()


def f1_from_lcs(lcs: int, target_len: int, prediction_len: int) -> float:
    """ROUGE-L F1 with rouge-score's own float operations (same rounding at ties)."""
    if not target_len or not prediction_len:
        return 0.0
    precision = lcs / prediction_len
    recall = lcs / target_len
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts, equal to rouge-score's ``rougeL`` fmeasure (no stemmer)."""
    ta, tb = tokenize(a), tokenize(b)
    if not ta or not tb:
        return 0.0
    return f1_from_lcs(LCSseq.similarity(ta, tb), len(ta), len(tb))


def _as_seq(ids: list[int]) -> str | list[int]:
    """Token ids as a string of code points (rapidfuzz's fastest LCS path), or the id list
    itself past the last code point (a vocabulary above 1.1 million tokens)."""
    try:
        return "".join(map(chr, ids))
    except ValueError:
        return ids


@dataclass(frozen=True)
class Match:
    """The closest pool item found for a candidate: its ROUGE-L F1, text and insertion index."""

    score: float
    text: str
    index: int


class _Postings:
    """Pool indexes (ascending, each once) and the token's count in each, in numpy arrays
    grown by doubling: a search reads them as views; a view keeps its old buffer intact."""

    __slots__ = ("idx", "mult", "n")

    def __init__(self) -> None:
        self.idx = np.empty(4, np.int64)
        self.mult = np.empty(4, np.int64)
        self.n = 0

    def append(self, idx: int, count: int) -> None:
        if self.n == len(self.idx):
            self.idx = np.concatenate([self.idx, np.empty_like(self.idx)])
            self.mult = np.concatenate([self.mult, np.empty_like(self.mult)])
        self.idx[self.n] = idx
        self.mult[self.n] = count
        self.n += 1


def _needed_lcs(a: int, b: int, threshold: float) -> int:
    """The least LCS whose F1 against lengths a and b can exceed ``threshold`` (rounded
    down by the safety margin, so never too high)."""
    return max(1, math.ceil(threshold * (a + b) / 2 - _EPS))


class NoveltyIndex:
    """A growing pool of texts answering "is this new text's ROUGE-L F1 against every pool
    item at most ``threshold``?" exactly as the all-pairs rouge-score check would."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._vocab: dict[str, int] = {}
        self._texts: list[str] = []
        self._seqs: list[str | list[int]] = []  # token ids of each item, for the LCS
        self._first: dict[str | tuple[int, ...], int] = {}  # token sequence -> first item
        # (token id, item length) -> postings; and each token's item count (its rarity)
        self._postings: dict[tuple[int, int], _Postings] = {}
        self._df: dict[int, int] = {}
        self._lengths: Counter[int] = Counter()  # item length -> items of that length
        self._lens = np.zeros(1024, dtype=np.int64)  # token count of each pool item
        self._last: tuple[str, list[str]] = ("", [])  # search then add: tokenize once
        self.exact_checks = 0  # LCS computations done (for benchmarks and tests)
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._texts)

    def _tokens(self, text: str) -> list[str]:
        if self._last[0] != text:
            self._last = (text, tokenize(text))
        return self._last[1]

    def add(self, text: str) -> int:
        """Add a text to the pool (whatever its novelty); returns its index."""
        vocab = self._vocab
        ids = []
        for tok in self._tokens(text):
            tid = vocab.get(tok)
            if tid is None:
                tid = vocab[tok] = len(vocab)
            ids.append(tid)
        idx, b = len(self._texts), len(ids)
        seq = _as_seq(ids)
        self._texts.append(text)
        self._seqs.append(seq)
        self._first.setdefault(seq if isinstance(seq, str) else tuple(seq), idx)
        if idx == len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros_like(self._lens)])
        self._lens[idx] = b
        self._lengths[b] += 1
        postings, df = self._postings, self._df
        for tid, count in Counter(ids).items():
            entry = postings.get((tid, b))
            if entry is None:
                entry = postings[(tid, b)] = _Postings()
            entry.append(idx, count)
            df[tid] = df.get(tid, 0) + 1
        return idx

    def search(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """The pool item with the highest ROUGE-L F1 among those scoring above
        ``threshold``, or None when no pool item exceeds it (the text is novel)."""
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        tokens = self._tokens(text)
        a = len(tokens)
        if a == 0 or not self._texts:
            return None  # rouge-score scores an empty side as 0
        # Tokens unknown to the pool match nothing: they count in the length, not the LCS.
        known = [tid for tid in map(self._vocab.get, tokens) if tid is not None]
        if not known:
            return None
        seq = _as_seq(known)
        if len(known) == a:
            # F1 = 1 only for an identical token sequence: the best possible match, and
            # the first such item wins the tie, as the scan below would choose.
            idx = self._first.get(seq if isinstance(seq, str) else tuple(seq))
            if idx is not None:
                return Match(f1_from_lcs(a, a, a), self._texts[idx], idx)
        found = self._gather(Counter(known), a, threshold)
        if found is None:
            return None
        idxs, lens = found
        self.exact_checks += len(idxs)
        seqs = self._seqs
        lcs = process.cdist(
            [seq], [seqs[i] for i in idxs.tolist()],
            scorer=LCSseq.similarity, dtype=np.int64, workers=1,
        )[0]  # fmt: skip
        # Float screen with a margin, then rouge-score's own formula on the few left.
        near = np.flatnonzero(2 * lcs / (a + lens) > threshold - _EPS).tolist()
        best: Match | None = None
        for j in near:  # ascending pool index: the first best wins ties
            score = f1_from_lcs(int(lcs[j]), a, int(lens[j]))
            if score > threshold and (best is None or score > best.score):
                idx = int(idxs[j])
                best = Match(score, self._texts[idx], idx)
        return best

    def _gather(
        self, counts: Counter[int], a: int, threshold: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Candidate search, per pool length b: an item of length b matches only with an
        LCS of at least ``need`` = :func:`_needed_lcs` (a, b), so it shares a token with
        the candidate's rarest ``a - need + 1`` occurrences; only those tokens' postings
        for length b are read. Then the bound "overlap on the read tokens + occurrences
        not read, at most min(a, b)" must still reach ``need``. Returns the surviving
        pool indexes (ascending) and their lengths, or None."""
        postings, df = self._postings, self._df
        order = sorted(counts, key=df.__getitem__)  # rarest first
        parts: list[np.ndarray] = []
        mults: list[np.ndarray] = []
        sizes: list[int] = []
        floors: list[int] = []  # per part: the overlap its item still needs on read tokens
        caps: list[int] = []  # per part: the token count of a repeated token, else 0
        for b in self._lengths:
            need = _needed_lcs(a, b, threshold)
            if need > min(a, b):
                continue  # F1 cannot exceed the threshold at this length
            unread = a
            for tid in order:
                if unread < need:
                    break
                count = counts[tid]
                unread -= count
                entry = postings.get((tid, b))
                if entry is None:
                    continue
                parts.append(entry.idx[: entry.n])
                mults.append(entry.mult[: entry.n])
                sizes.append(entry.n)
                caps.append(count)
            # The read overlap must reach need - unread (unread occurrences may all match).
            floors.extend([need - unread] * (len(parts) - len(floors)))
        if not parts:
            return None
        cat = np.concatenate(parts)
        order_ = np.argsort(cat, kind="stable")
        cat = cat[order_]
        starts = np.flatnonzero(np.concatenate(([True], cat[1:] != cat[:-1])))
        if max(caps) == 1:
            shared = np.diff(np.append(starts, len(cat)))
        else:  # a repeated token overlaps min(count here, count there) times
            cap = np.repeat(np.asarray(caps, dtype=np.int64), sizes)
            shared = np.add.reduceat(np.minimum(np.concatenate(mults), cap)[order_], starts)
        floor = np.repeat(np.asarray(floors, dtype=np.int64), sizes)[order_][starts]
        keep = shared >= floor
        idxs = cat[starts][keep]
        if not len(idxs):
            return None
        return idxs, self._lens[idxs]

    def max_rouge_l(self, text: str) -> Match | None:
        """The exact best match over the whole pool (None if nothing shares a token)."""
        return self.search(text, threshold=0.0)

    def is_novel(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> bool:
        """True when no pool item's ROUGE-L F1 against ``text`` exceeds ``threshold``."""
        return self.search(text, threshold) is None

    def add_if_novel(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """Add ``text`` when novel and return None; otherwise return the blocking match."""
        match = self.search(text, threshold)
        if match is None:
            self.add(text)
        return match


def novel_mask(
    texts: Sequence[str], threshold: float = DEFAULT_THRESHOLD, initial: Iterable[str] = ()
) -> list[bool]:
    """Sequential pool building, fast path: each text is kept (True) when novel against
    ``initial`` plus the texts kept before it, and then joins the pool."""
    index = NoveltyIndex(initial)
    return [index.add_if_novel(t, threshold) is None for t in texts]


def all_pairs_reference(
    texts: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    initial: Iterable[str] = (),
    pretokenize: bool = False,
) -> list[bool]:
    """The original check with rouge-score (a dev dependency): every candidate against the
    whole pool, quadratic. ``pretokenize=False`` is Self-Instruct's way
    (``scorer.score`` per pair); True is Alpaca's (rouge-score's tokenizer once per text,
    then ``rouge_scorer._score_lcs`` per pair), same scores, less time. Tests/benchmarks only.
    """
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    kept = []
    if pretokenize:
        tok = scorer._tokenizer.tokenize
        tpool = [tok(t) for t in initial]
        for text in texts:
            toks = tok(text)
            novel = all(rouge_scorer._score_lcs(toks, o).fmeasure <= threshold for o in tpool)
            kept.append(novel)
            if novel:
                tpool.append(toks)
        return kept
    pool = list(initial)
    for text in texts:
        novel = all(scorer.score(text, other)["rougeL"].fmeasure <= threshold for other in pool)
        kept.append(novel)
        if novel:
            pool.append(text)
    return kept
