"""The harmful-content classifier: precise patterns first, then a logistic model fitted
on the bundled exemplars.

With the ``embeddings`` extra (the packaged all-MiniLM-L6-v2 model) a text unit is scored
in two stages. A cheap gate (a logistic model over the mean of the model's input word
vectors and the cue counts, no transformer pass) lets through every unit that looks
anything like the harmful exemplars; the bar passes about a third of the benign
look-alike exemplars, so ordinary text is cleared cheaply. A gated unit is then embedded
and scored by a logistic model over its 384-d embedding, its neighbour evidence (the K
nearest harmful and benign exemplars, overall and per category), the same neighbour
evidence for its *frame view* (harm objects replaced by "something", ``cues.frame_view``:
what the text does with its topic, since a sentence embedding is mostly topic) and the
lexical cue counts, frame families included (``cues.py``). Without the extra, the cue
counts alone are scored (``patterns`` mode).

Nothing is set by hand: the weights are fitted on the exemplars, and the flag threshold is
the score above which at most ``operating_fpr`` of the benign exemplars fall under
cross-validation in which near-paraphrases share a fold (``model.py``). The measured
recall and false-positive rates on the separate labelled sets are in
``data/harm_eval.json`` (``benchmarks/bench_harm.py``).

Text is scored in units: sentences grouped into windows of up to 40 words, so a harmful
sentence inside a long answer is not diluted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from generator.curate.harm import cues, fit_cache
from generator.curate.harm.exemplars import EXEMPLARS, ExemplarSet, load_exemplars
from generator.curate.harm.model import (
    Params,
    cv_threshold,
    fit_logistic,
    folds,
    logit,
    neighbour_features,
    quantile_bar,
)
from generator.curate.harm.patterns import scan_text

Mode = Literal["embeddings", "patterns"]
Embedder = Callable[[list[str]], np.ndarray]
_WINDOW_WORDS = 40
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_GATE = len(cues.CATEGORIES) + 1  # patterns mode: object counts, then intent
_GATE_BENIGN_PASS = 0.3  # embeddings mode: share of benign exemplars the gate lets through
_GATE_HARMFUL_KEEP = 0.98  # ... and at least this share of harmful ones (cross-validated)
# The cue-only model (patterns mode) is fitted on the exemplar round its cue families were
# written with. Cue counts alone cannot separate the later rounds' harder look-alikes:
# fitted on every round, its recall on the development set fell from 92% to 77% at the
# same operating point, so the fallback keeps its measured round-1 fit.
PATTERNS_ROUNDS = frozenset({1})


@dataclass(frozen=True)
class Verdict:
    """The classifier's decision on one text."""

    flagged: bool
    score: float  # 0-1; 1.0 for a precise-pattern hit
    category: str | None = None
    via: str | None = None  # "pattern" or "classifier"
    evidence: str | None = None  # the matched phrase, or the unit that scored


def units(text: str) -> list[str]:
    """Sentences grouped into windows of up to 40 words."""
    out: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE.split(text):
        words = sentence.split()
        if current and len(current) + len(words) > _WINDOW_WORDS:
            out.append(" ".join(current))
            current = []
        current += words
    if current:
        out.append(" ".join(current))
    return out


class HarmClassifier:
    """Fitted on an exemplar set; scores texts. Build with :func:`fitted` (cached)."""

    def __init__(
        self,
        exemplars: ExemplarSet,
        mode: Mode,
        operating_fpr: float,
        embedder: Embedder | None = None,
        static: Embedder | None = None,
    ) -> None:
        if mode == "embeddings" and (embedder is None or static is None):
            raise ValueError("the embeddings mode needs an embedder and a static embedder")
        texts = self._setup(exemplars, mode, operating_fpr, embedder, static)
        self._cue_x = np.array([cues.cue_features(t, mode == "embeddings") for t in texts])
        y = self._harmful.astype(float)
        if self.embedder is None or self.static is None:
            fold = folds(None, len(y))
            self._params = fit_logistic(self._cue_x, y)
            scorer = self._fit_score(self._cue_x, y)
            self.threshold, _ = cv_threshold(scorer, y, fold, operating_fpr)
            return
        self._emb = self.embedder(texts)
        self._frame = self._frame_embeddings(texts, self._emb)
        fold = folds(self._emb, len(y))
        sims, frame_sims = self._emb @ self._emb.T, self._frame @ self._frame.T
        np.fill_diagonal(sims, -np.inf)  # leave-one-out: never its own neighbour
        np.fill_diagonal(frame_sims, -np.inf)

        def scores_of(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            x_train = self._features(
                sims[train][:, train], frame_sims[train][:, train], train, train
            )
            params = fit_logistic(x_train, y[train])
            x_test = self._features(sims[test][:, train], frame_sims[test][:, train], test, train)
            return logit(params, x_test)

        self.threshold, _ = cv_threshold(scores_of, y, fold, operating_fpr)
        everyone = np.ones(len(y), bool)
        x_all = self._features(sims, frame_sims, everyone, everyone)
        self._params = fit_logistic(x_all, y)
        static_x = np.hstack([self.static(texts), self._cue_x])
        self._gate_params = fit_logistic(static_x, y)
        _, oof = cv_threshold(self._fit_score(static_x, y), y, fold, 0.0)
        self.gate_bar = min(
            quantile_bar(oof[y == 0], _GATE_BENIGN_PASS),
            float(np.quantile(oof[y == 1], 1 - _GATE_HARMFUL_KEEP)),
        )

    def _setup(
        self,
        exemplars: ExemplarSet,
        mode: Mode,
        operating_fpr: float,
        embedder: Embedder | None,
        static: Embedder | None,
    ) -> list[str]:
        """The cheap part of construction, shared with :meth:`restore`: the exemplar
        labels and groups. Returns the texts the model is fitted on."""
        self.exemplars, self.mode, self.operating_fpr = exemplars, mode, operating_fpr
        self.embedder = embedder if mode == "embeddings" else None
        self.static = static if mode == "embeddings" else None
        items = exemplars.items
        if mode == "patterns":  # see PATTERNS_ROUNDS
            items = tuple(e for e in items if e.batch in PATTERNS_ROUNDS) or items
        self._harmful = np.array([e.label == "harmful" for e in items])
        self._category = [e.category for e in items]
        self._group = np.array([cues.CATEGORIES.index(c) if c else -1 for c in self._category])
        return [e.text for e in items]

    def state(self) -> dict[str, np.ndarray]:
        """Everything costly the fit computed, as plain arrays (``harm/fit_cache.py``)."""
        out = {"threshold": np.float64(self.threshold), "cue_x": self._cue_x}
        out |= {f"params_{i}": np.asarray(p) for i, p in enumerate(self._params)}
        if self.mode == "embeddings":
            out |= {"emb": self._emb, "frame": self._frame, "gate_bar": np.float64(self.gate_bar)}
            out |= {f"gate_params_{i}": np.asarray(p) for i, p in enumerate(self._gate_params)}
        return out

    @classmethod
    def restore(
        cls,
        state: dict[str, np.ndarray],
        exemplars: ExemplarSet,
        mode: Mode,
        operating_fpr: float,
        embedder: Embedder | None = None,
        static: Embedder | None = None,
    ) -> HarmClassifier:
        """The classifier whose fit gave ``state`` (:meth:`state`), without fitting.
        Raises KeyError or ValueError if ``state`` does not fit these exemplars."""
        self = cls.__new__(cls)
        n = len(self._setup(exemplars, mode, operating_fpr, embedder, static))

        def params(prefix: str, width: int) -> Params:
            mu, sd, w, b = (state[f"{prefix}_{i}"] for i in range(4))
            if not mu.shape == sd.shape == w.shape == (width,) or b.shape != ():
                raise ValueError(f"{prefix}: shapes do not fit the features")
            return mu, sd, w, float(b)

        self._cue_x, self.threshold = state["cue_x"], float(state["threshold"])
        if self._cue_x.ndim != 2 or self._cue_x.shape[0] != n:
            raise ValueError("the stored fit has another number of exemplars")
        cue_width = self._cue_x.shape[1]
        if mode == "patterns":
            self._params = params("params", cue_width)
            return self
        self._emb, self._frame = state["emb"], state["frame"]
        if self._emb.ndim != 2 or self._emb.shape != self._frame.shape or len(self._emb) != n:
            raise ValueError("the stored embeddings do not match the exemplars")
        dim = self._emb.shape[1]
        self._params = params("params", 10 + dim + cue_width)  # 2 x 5 neighbour features
        self._gate_params = params("gate_params", dim + cue_width)
        self.gate_bar = float(state["gate_bar"])
        return self

    @staticmethod
    def _fit_score(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        def scores_of(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            return logit(fit_logistic(x[train], y[train]), x[test])

        return scores_of

    def _frame_embeddings(self, texts: Sequence[str], emb: np.ndarray) -> np.ndarray:
        """Embeddings of the frame views (``cues.frame_view``); a text without a harm
        object is its own frame view and keeps its embedding (no second pass)."""
        assert self.embedder is not None
        views = [cues.frame_view(t) for t in texts]
        changed = [i for i, (t, v) in enumerate(zip(texts, views, strict=True)) if t != v]
        out = emb.copy()
        if changed:
            out[changed] = self.embedder([views[i] for i in changed])
        return out

    def _features(
        self, sims: np.ndarray, frame_sims: np.ndarray, rows: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """Model input for exemplar ``rows`` against exemplar ``cols`` (boolean masks)."""
        harmful, group = self._harmful[cols], self._group[cols]
        near = neighbour_features(sims, harmful, group)
        frame = neighbour_features(frame_sims, harmful, group)
        return np.hstack([near, frame, self._emb[rows], self._cue_x[rows]])

    def score_units(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text, each text taken as one unit (no splitting)."""
        distinct = list(dict.fromkeys(texts))  # records repeat sentences: score each once
        if len(distinct) < len(texts):
            once = dict(zip(distinct, self.score_units(distinct), strict=True))
            return [once[t] for t in texts]
        verdicts: list[Verdict] = [Verdict(False, 0.0)] * len(texts)
        todo: list[int] = []
        for i, text in enumerate(texts):
            hits = scan_text(text)
            if hits:
                cat, phrase = hits[0]
                verdicts[i] = Verdict(True, 1.0, cat, "pattern", phrase)
            else:
                todo.append(i)
        if self.embedder is not None and self.static is not None:
            if todo:
                gated = [texts[i] for i in todo]
                cue_x = np.array([cues.cue_features(t) for t in gated])
                gate = logit(self._gate_params, np.hstack([self.static(gated), cue_x]))
                todo = [i for n, i in enumerate(todo) if gate[n] >= self.gate_bar]
            if todo:
                self._score_embedded(texts, todo, verdicts)
            return verdicts
        feats = {i: cues.cue_features(texts[i], frames=False) for i in todo}
        todo = [i for i in todo if any(feats[i][:_GATE])]
        if todo:
            logits = logit(self._params, np.array([feats[i] for i in todo]))
            for n, i in enumerate(todo):
                counts = dict(zip(cues.CATEGORIES, feats[i], strict=False))
                category = max(cues.CATEGORIES, key=lambda c: counts[c])
                verdicts[i] = self._verdict(texts[i], float(logits[n]), category)
        return verdicts

    def _score_embedded(self, texts: Sequence[str], todo: list[int], out: list[Verdict]) -> None:
        assert self.embedder is not None
        unit_texts = [texts[i] for i in todo]
        emb = self.embedder(unit_texts)
        sims = emb @ self._emb.T
        frame_sims = self._frame_embeddings(unit_texts, emb) @ self._frame.T
        cue_x = np.array([cues.cue_features(t) for t in unit_texts])
        near = neighbour_features(sims, self._harmful, self._group)
        frame = neighbour_features(frame_sims, self._harmful, self._group)
        x = np.hstack([near, frame, emb, cue_x])
        logits = logit(self._params, x)
        for n, i in enumerate(todo):
            out[i] = self._verdict(texts[i], float(logits[n]), self._category_of(sims[n]))

    def _verdict(self, text: str, value: float, category: str) -> Verdict:
        flagged = value >= self.threshold
        prob = round(1.0 / (1.0 + math.exp(-value)), 4)
        if not flagged:
            return Verdict(False, prob)
        return Verdict(True, prob, category, "classifier", text[:200])

    def _category_of(self, sims: np.ndarray) -> str:
        """The category whose K nearest exemplars are closest on average."""
        best, best_score = "unspecified", -math.inf
        for g, name in enumerate(cues.CATEGORIES):
            cols = sims[self._group == g]
            if len(cols):
                score = float(np.sort(cols)[-5:].mean())
                if score > best_score:
                    best, best_score = name, score
        return best

    def classify(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text: its highest-scoring unit (a flagged one first)."""
        spans: list[tuple[int, int]] = []
        flat: list[str] = []
        for text in texts:
            parts = units(text) or [""]
            spans.append((len(flat), len(flat) + len(parts)))
            flat += parts
        scored = self.score_units(flat)
        return [max(scored[a:b], key=lambda v: (v.flagged, v.score)) for a, b in spans]

    def describe(self) -> dict[str, object]:
        """Identity of the fitted model, for reports and the stored evaluation."""
        return {
            "mode": self.mode,
            "operating_fpr": self.operating_fpr,
            "exemplars_sha256": self.exemplars.sha256,
            "exemplars": len(self.exemplars.items),
            "threshold": round(self.threshold, 6),
        }


# The operating point per mode: the share of benign exemplars (cross-validated) allowed
# above the threshold. The exemplars' benign side is written to be hard (each one a
# look-alike: help-seeking, security teaching, idioms, medical, parenting, history, law,
# and since round 10 games, sport, fiction, first aid, safe storage). Re-checked after
# round 10 (points 1.5-5%, cross-validation, round 10 held out, every labelled set):
# 4% is the lowest point that keeps recall >= 93% on every labelled set; with round 10
# held out it gives 84.7% recall at 3.8% false positives, 2% gives 82.0% at 1.6%. The
# measured figures are in data/harm_eval.json.
DEFAULT_FPR: dict[str, float] = {"embeddings": 0.04, "patterns": 0.03}


@cache
def _embed_exemplars(path: Path, sha256: str, threads: int) -> np.ndarray:
    """Exemplar embeddings, computed once per process and exemplar file version."""
    from generator.curate.semantic_dedup import embed

    return embed([e.text for e in load_exemplars(path).items], 64, 128, threads)


@cache
def fitted(
    mode: Mode = "embeddings",
    operating_fpr: float | None = None,
    path: Path = EXEMPLARS,
    threads: int = 1,
) -> HarmClassifier:
    """The classifier fitted on the exemplar file at ``path``: cached per process, and
    across processes on disk (``fit_cache.py``)."""
    exemplars = load_exemplars(path)
    fpr = DEFAULT_FPR[mode] if operating_fpr is None else operating_fpr
    key = fit_cache.fit_key(exemplars.sha256, mode, fpr, threads)
    if mode == "patterns":
        return fit_cache.load_or_fit(
            key,
            lambda: HarmClassifier(exemplars, mode, fpr),
            lambda state: HarmClassifier.restore(state, exemplars, mode, fpr),
        )
    from generator.curate.semantic_dedup import embed, static_embed

    def embedder(texts: list[str]) -> np.ndarray:
        return embed(texts, batch_size=64, max_tokens=128, threads=threads)

    def fit() -> HarmClassifier:
        cached = _embed_exemplars(path, exemplars.sha256, threads)
        known = {e.text: i for i, e in enumerate(exemplars.items)}

        def exemplar_embedder(texts: list[str]) -> np.ndarray:
            if len(texts) == len(known) and all(known.get(t) == i for i, t in enumerate(texts)):
                return cached
            return embedder(texts)

        return HarmClassifier(exemplars, mode, fpr, exemplar_embedder, static_embed)

    def restore(state: dict[str, np.ndarray]) -> HarmClassifier:
        return HarmClassifier.restore(state, exemplars, mode, fpr, embedder, static_embed)

    return fit_cache.load_or_fit(key, fit, restore)
