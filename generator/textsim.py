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
2. Overlap bounds prune the gathered items: first the tokens read plus the occurrences not
   read, capped by min(a, b) (in Python for few items, else vectorised); while many items
   are left, the unread tokens' exact counts where they have a dense column; then the exact
   multiset overlap (a set intersection). Only survivors get an exact LCS
   (``rapidfuzz.distance.LCSseq`` on token ids), turned into F1 with rouge-score's own
   float formula, so ties at the threshold fall the same way.

An identical token sequence (F1 = 1, the best possible score) is found by a dict lookup
before any of this.

Every pruning step is an upper bound with a small safety margin towards *more* exact
checks, so the decisions equal the all-pairs check (``tests/generate/test_textsim.py``).
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import LCSseq

# rouge_score/tokenize.py, verbatim patterns (use_stemmer=False).
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_EPS = 1e-9  # margin for float bounds: always errs towards an exact check
# A token held by at least this many pool items, and by at least 1/64 of the pool, also gets
# a dense count column (one int8 per pool item), so the exact overlap on it is one vector
# operation over the candidates. The 1/64 (taken when the column is made) keeps columns to
# the pool's frequent words: the template words of instructions, not the topic words.
_DENSE_MIN = 64
_DENSE_CAP = 127  # counts are stored capped (int8): min(count, held) is exact while count <= cap
_FEW = 256  # postings to read up to which they are counted in Python (NumPy calls cost more)
# Items left by the first bound up to which they go straight to the exact overlap (a C set
# intersection each); past it, the dense columns tighten the bound in vector operations.
_FEW_LEFT = 48

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


def _occurrences(ids: list[int]) -> frozenset[int]:
    """Each token id tagged with its occurrence number, so that the size of the
    intersection of two such sets is the multiset overlap of the token lists."""
    seen: dict[int, int] = {}
    keys = []
    for tid in ids:
        k = seen.get(tid, 0)
        seen[tid] = k + 1
        keys.append(tid + (k << 40))  # |tid| < 2**40: tags never collide
    return frozenset(keys)


@dataclass(frozen=True)
class Match:
    """The closest pool item found for a candidate: its ROUGE-L F1, text and insertion index."""

    score: float
    text: str
    index: int


class NoveltyIndex:
    """A growing pool of texts answering "is this new text's ROUGE-L F1 against every pool
    item at most ``threshold``?" exactly as the all-pairs rouge-score check would."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._vocab: dict[str, int] = {}
        self._texts: list[str] = []
        self._ids: list[list[int]] = []
        self._occ: list[frozenset[int]] = []  # occurrence sets: multiset overlap = |A & B|
        # token id -> pool indexes holding it (each once) and, in parallel, its count there;
        # C arrays, so that a posting list is read as a NumPy view without a copy
        self._postings: dict[int, array[int]] = {}
        self._mult: dict[int, array[int]] = {}
        self._lens = np.zeros(1024, dtype=np.int64)  # token count of each pool item
        # token id -> its count in every pool item, for tokens held by >= _DENSE_MIN items
        self._dense: dict[int, np.ndarray] = {}
        self._first: dict[tuple[int, ...], int] = {}  # token ids -> first item holding them
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

    def _token_ids(self, text: str, grow: bool) -> list[int]:
        ids = []
        for tok in self._tokens(text):
            tid = self._vocab.get(tok)
            if tid is None:
                # Unknown to the pool: no posting list; a fresh negative id still counts
                # towards the candidate's length and cannot match any pool token.
                tid = len(self._vocab) if grow else -1 - len(ids)
                if grow:
                    self._vocab[tok] = tid
            ids.append(tid)
        return ids

    def add(self, text: str) -> int:
        """Add a text to the pool (whatever its novelty); returns its index."""
        ids = self._token_ids(text, grow=True)
        idx = len(self._texts)
        self._texts.append(text)
        self._ids.append(ids)
        self._occ.append(_occurrences(ids))
        self._first.setdefault(tuple(ids), idx)
        if idx == len(self._lens):
            self._lens = np.concatenate([self._lens, np.zeros_like(self._lens)])
            for tid, col in self._dense.items():
                self._dense[tid] = np.concatenate([col, np.zeros_like(col)])
        self._lens[idx] = len(ids)
        for tid, count in Counter(ids).items():
            post = self._postings.get(tid)
            if post is None:
                post = self._postings[tid] = array("q")
                self._mult[tid] = array("q")
            post.append(idx)
            self._mult[tid].append(count)
            col = self._dense.get(tid)
            if col is not None:
                col[idx] = min(count, _DENSE_CAP)
            elif len(post) >= max(_DENSE_MIN, idx >> 6):
                col = np.zeros(len(self._lens), dtype=np.int8)
                col[np.frombuffer(post, dtype=np.int64)] = np.minimum(
                    np.frombuffer(self._mult[tid], dtype=np.int64), _DENSE_CAP
                )
                self._dense[tid] = col
        return idx

    def search(self, text: str, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """The pool item with the highest ROUGE-L F1 among those scoring above
        ``threshold``, or None when no pool item exceeds it (the text is novel)."""
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        ids = self._token_ids(text, grow=False)
        a = len(ids)
        if a == 0 or not self._texts:
            return None  # rouge-score scores an empty side as 0
        # F1 = 1 only for an identical token sequence: the best possible match, and the
        # first such item wins the tie, as the scan below would choose.
        same = self._first.get(tuple(ids))
        if same is not None:
            return Match(f1_from_lcs(a, a, a), self._texts[same], same)
        counts = Counter(ids)
        read, rest = self._prefix(counts, a, threshold)
        if not read:
            return None
        # Bound: LCS <= overlap <= overlap on the read tokens + the unread occurrences
        # (counted in full), and LCS <= min(a, b). Items that reach the threshold go on.
        floor = threshold - _EPS
        unread = sum(counts[t] for t in rest)
        postings = self._postings
        total = sum(len(postings[t]) for t in read)
        if total <= _FEW and 8 * total < len(self._texts):
            # Few holders: counted and bounded in Python (NumPy's per-call cost is more).
            partial: Counter[int] = Counter()
            for t in read:
                count = counts[t]
                if count == 1:
                    partial.update(postings[t])  # min(1, held) = 1: C-speed counting
                else:
                    for idx, held in zip(postings[t], self._mult[t], strict=True):
                        partial[idx] += min(count, held)
            pool_ids = self._ids
            left = []
            for idx, got in partial.items():
                b = len(pool_ids[idx])
                if 2 * min(got + unread, a, b) >= floor * (a + b):
                    left.append(idx)
            left.sort()
            return self._best(ids, left, threshold)
        idxs, shared = self._gather(read, counts)
        lens = self._lens[: len(shared)] if idxs is None else self._lens[idxs]
        keep = 2 * np.minimum(np.minimum(shared + unread, lens), a) >= floor * (a + lens)
        if idxs is None:  # the overlap of every pool item: zero is not reached
            keep &= shared > 0
            idxs = np.flatnonzero(keep)
        else:
            idxs = idxs[keep]
        shared = shared[keep]
        if len(idxs) > _FEW_LEFT:
            # Many left: the unread tokens' exact counts where they have a dense column
            # tighten the bound in a few vector operations.
            for tid in rest:
                col, count = self._dense.get(tid), counts[tid]
                if col is not None and count <= _DENSE_CAP:  # capped counts: exact up to it
                    shared += np.minimum(col[idxs], count) - count
            lens = self._lens[idxs]
            idxs = idxs[2 * np.minimum(np.minimum(shared + unread, lens), a) >= floor * (a + lens)]
        return self._best(ids, idxs.tolist(), threshold)

    def _best(self, ids: list[int], idxs: list[int], threshold: float) -> Match | None:
        """The exact check of the items left by the bounds (ascending pool order, so the
        first of equal best scores wins, as in a scan of the pool)."""
        a, floor = len(ids), threshold - _EPS
        best: Match | None = None
        occ = _occurrences(ids)
        for idx in idxs:
            pool_ids = self._ids[idx]
            # The exact multiset overlap (a C set intersection) is a tighter bound than
            # the ones before and cheaper than the LCS it saves in most cases.
            if 2 * len(occ & self._occ[idx]) / (a + len(pool_ids)) < floor:
                continue
            self.exact_checks += 1
            score = f1_from_lcs(LCSseq.similarity(ids, pool_ids), a, len(pool_ids))
            if score > threshold and (best is None or score > best.score):
                best = Match(score, self._texts[idx], idx)
        return best

    def _prefix(
        self, counts: Counter[int], a: int, threshold: float
    ) -> tuple[list[int], list[int]]:
        """Prefix filter: the candidate's rarest tokens to read, until the unread
        occurrences alone (fewer than a match needs) cannot reach a match, and the rest.
        Tokens unknown to the pool are not read (nothing holds them)."""
        # A match needs LCS > t*a/(2-t); with t = 0 any shared token can score > 0.
        need = max(1, math.ceil(threshold * a / (2 - threshold) - _EPS))
        postings = self._postings
        order = sorted(counts, key=lambda t: len(postings.get(t, ())))
        unread, read = a, []
        for i, tid in enumerate(order):
            if unread < need:
                return read, order[i:]
            unread -= counts[tid]
            if tid in postings:
                read.append(tid)
        return read, []

    def _gather(
        self, read: list[int], counts: Counter[int]
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """The pool items holding a read token (ascending) and each one's overlap on the
        read tokens; when many items are reached, None and the overlap of every pool item
        (zero for those not reached)."""
        postings = self._postings
        cat = np.concatenate([np.frombuffer(postings[t], dtype=np.int64) for t in read])
        weights = None
        if any(counts[t] > 1 for t in read):  # min(count in candidate, count in item)
            weights = np.concatenate([
                np.minimum(np.frombuffer(self._mult[t], dtype=np.int64), counts[t]) for t in read
            ])  # fmt: skip
        if 8 * len(cat) >= len(self._texts):
            # Many holders (template words like "what", "the"): one C pass over the pool.
            dense = np.bincount(cat, weights=weights, minlength=len(self._texts))
            return None, dense.astype(np.int64, copy=False)
        if weights is None:
            idxs, shared = np.unique(cat, return_counts=True)
            return idxs, shared.astype(np.int64)
        order_ = np.argsort(cat, kind="stable")
        idxs, starts = np.unique(cat[order_], return_index=True)
        return idxs, np.add.reduceat(weights[order_], starts).astype(np.int64)

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
