"""The harmful-content classifier: precise patterns, then a small logistic model over cue
counts (``cues.py``) and, with the ``embeddings`` extra, nearest-exemplar evidence from the
packaged all-MiniLM-L6-v2 model.

Fitting (once per process, cached): the bundled exemplars give the training rows. Their
embedding features are leave-one-out (an exemplar is never its own neighbour), so the
weights learn how far a *new* phrasing lies from the nearest harmful and benign exemplars.
The flag threshold comes from 10-fold cross-validation on the exemplars: the score above
which at most ``operating_fpr`` of the benign look-alike exemplars fall. Nothing is tuned
by hand; the measured recall and false-positive rate on the separate labelled set are in
``data/harm_eval.json`` (``benchmarks/bench_harm.py``).

Text is scored in units: sentences grouped into windows of up to 40 words, so a harmful
sentence inside a long answer is not diluted. Only units with a harm-object or intent cue
go to the model (the gate keeps 10k ordinary records cheap); the rest are clean.
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

from generator.curate.harm import cues
from generator.curate.harm.exemplars import EXEMPLARS, ExemplarSet, load_exemplars
from generator.curate.harm.patterns import scan_text

Mode = Literal["embeddings", "patterns"]
Embedder = Callable[[list[str]], np.ndarray]
_K = 2  # neighbours averaged per side
_WINDOW_WORDS = 40
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_GATE = len(cues.CATEGORIES) + 1  # object counts, then intent


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


def _fit_logistic(x: np.ndarray, y: np.ndarray, lam: float = 1e-2) -> tuple[np.ndarray, ...]:
    """Standardised L2 logistic regression by full-batch gradient descent (deterministic)."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(3000):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = p - y
        w -= 0.3 * (z.T @ g / len(y) + lam * w)
        b -= 0.3 * float(g.mean())
    return mu, sd, w, np.array([b])


def _logit(params: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    mu, sd, w, b = params
    return ((x - mu) / sd) @ w + b[0]


class HarmClassifier:
    """Fitted on an exemplar set; scores texts. Build with :func:`fitted` (cached)."""

    def __init__(
        self,
        exemplars: ExemplarSet,
        mode: Mode,
        operating_fpr: float,
        embedder: Embedder | None = None,
    ) -> None:
        if mode == "embeddings" and embedder is None:
            raise ValueError("the embeddings mode needs an embedder")
        self.exemplars, self.mode, self.operating_fpr = exemplars, mode, operating_fpr
        self.embedder = embedder if mode == "embeddings" else None
        items = exemplars.items
        self._harmful = np.array([e.label == "harmful" for e in items])
        self._category = [e.category for e in items]
        self._texts = [e.text for e in items]
        cue_x = np.array([cues.cue_features(t) for t in self._texts])
        x = cue_x
        if self.embedder is not None:
            self._emb = self.embedder(self._texts)
            sims = self._emb @ self._emb.T
            np.fill_diagonal(sims, -np.inf)  # leave-one-out: never its own neighbour
            x = np.hstack([self._neighbour_features(sims), cue_x])
        y = self._harmful.astype(float)
        self._params = _fit_logistic(x, y)
        self.threshold = self._cv_threshold(x, y, operating_fpr)
        # A cue-only model picks which units are worth embedding: below a generous bar
        # (where 30% of the benign exemplars still pass) a unit is clean without the model.
        self._cue_params = _fit_logistic(cue_x, y) if self.embedder is not None else None
        self._cue_bar = self._cv_threshold(cue_x, y, 0.3) if self.embedder is not None else 0.0

    def _neighbour_features(self, sims: np.ndarray) -> np.ndarray:
        harm = np.sort(sims[:, self._harmful], 1)[:, -_K:].mean(1)
        benign = np.sort(sims[:, ~self._harmful], 1)[:, -_K:].mean(1)
        return np.stack([harm - benign, harm], 1)

    def _cv_threshold(self, x: np.ndarray, y: np.ndarray, fpr: float, folds: int = 10) -> float:
        order = np.random.default_rng(0).permutation(len(y))
        scores = np.zeros(len(y))
        for part in np.array_split(order, folds):
            train = np.ones(len(y), bool)
            train[part] = False
            scores[part] = _logit(_fit_logistic(x[train], y[train]), x[part])
        benign = np.sort(scores[y == 0])[::-1]
        allowed = int(fpr * len(benign))
        return float(benign[allowed]) + 1e-9  # strictly above the (allowed+1)-th benign

    def score_units(self, texts: Sequence[str]) -> list[Verdict]:
        """One verdict per text, each text taken as one unit (no splitting)."""
        distinct = list(dict.fromkeys(texts))  # records repeat sentences: score each once
        if len(distinct) < len(texts):
            once = dict(zip(distinct, self.score_units(distinct), strict=True))
            return [once[t] for t in texts]
        verdicts: list[Verdict | None] = [None] * len(texts)
        gated: list[int] = []
        feats: list[list[float]] = []
        for i, text in enumerate(texts):
            hits = scan_text(text)
            if hits:
                cat, phrase = hits[0]
                verdicts[i] = Verdict(True, 1.0, cat, "pattern", phrase)
                continue
            f = cues.cue_features(text)
            if any(f[:_GATE]):
                gated.append(i)
                feats.append(f)
            else:
                verdicts[i] = Verdict(False, 0.0)
        if gated and self._cue_params is not None:
            low = _logit(self._cue_params, np.array(feats)) < self._cue_bar
            for n in np.nonzero(low)[0]:
                verdicts[gated[n]] = Verdict(False, 0.0)
            gated = [i for n, i in enumerate(gated) if not low[n]]
            feats = [f for n, f in enumerate(feats) if not low[n]]
        if gated:
            x = np.array(feats)
            nearest: list[int] = []
            if self.embedder is not None:
                sims = self.embedder([texts[i] for i in gated]) @ self._emb.T
                nearest = [int(j) for j in np.argmax(np.where(self._harmful, sims, -np.inf), 1)]
                x = np.hstack([self._neighbour_features(sims), x])
            logits = _logit(self._params, x)
            for n, i in enumerate(gated):
                flagged = bool(logits[n] >= self.threshold)
                category = self._category_of(feats[n], nearest[n] if nearest else None)
                prob = 1.0 / (1.0 + math.exp(-float(logits[n])))
                verdicts[i] = Verdict(
                    flagged,
                    round(prob, 4),
                    category if flagged else None,
                    "classifier" if flagged else None,
                    texts[i][:200] if flagged else None,
                )
        return [v for v in verdicts if v is not None]

    def _category_of(self, feats: list[float], nearest: int | None) -> str:
        counts = dict(zip(cues.CATEGORIES, feats, strict=False))
        if nearest is not None:
            near = self._category[nearest]
            if near and (counts.get(near) or not any(counts.values())):
                return near
        best = max(cues.CATEGORIES, key=lambda c: counts[c])
        if counts[best]:
            return best
        return self._category[nearest] or "unspecified" if nearest is not None else "unspecified"

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
# look-alike), so a few percent there is well under 2% on ordinary look-alike text; the
# measured figures are in data/harm_eval.json.
DEFAULT_FPR: dict[str, float] = {"embeddings": 0.06, "patterns": 0.03}


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
    """The classifier fitted on the exemplar file at ``path`` (cached per process)."""
    exemplars = load_exemplars(path)
    fpr = DEFAULT_FPR[mode] if operating_fpr is None else operating_fpr
    embedder: Embedder | None = None
    if mode == "embeddings":
        from generator.curate.semantic_dedup import embed

        cached = _embed_exemplars(path, exemplars.sha256, threads)
        known = {e.text: i for i, e in enumerate(exemplars.items)}

        def embedder(texts: list[str]) -> np.ndarray:
            if len(texts) == len(known) and all(known.get(t) == i for i, t in enumerate(texts)):
                return cached
            return embed(texts, batch_size=64, max_tokens=128, threads=threads)

    return HarmClassifier(exemplars, mode, fpr, embedder)
