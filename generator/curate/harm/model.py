"""The numeric parts of the harmful-content classifier: a deterministic logistic
regression, neighbour features over exemplar similarities, and cross-validated thresholds.

All numpy, no randomness beyond a fixed seed: the same exemplar file gives the same model.
Cross-validation keeps near-paraphrases together (exemplars with cosine >= 0.8 share a
fold) and recomputes neighbour features from the training folds only, so a threshold is
set from scores on text the model has not seen, not from its own neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Params = tuple[np.ndarray, np.ndarray, np.ndarray, float]
K = 5  # neighbours averaged per side
FOLDS = 10


def fit_logistic(x: np.ndarray, y: np.ndarray, lam: float = 0.1, steps: int = 25) -> Params:
    """Standardised, class-balanced L2 logistic regression by Newton's method (exact,
    deterministic, a few dozen linear solves)."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    penalty = np.full(z.shape[1], lam)
    penalty[-1] = 0.0  # the intercept is not shrunk
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ ((p - y) * weight) / len(y) + penalty * w
        hess = (z * (weight * p * (1 - p))[:, None]).T @ z / len(y) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return mu, sd, w[:-1], float(w[-1])


def logit(params: Params, x: np.ndarray) -> np.ndarray:
    mu, sd, w, b = params
    return ((x - mu) / sd) @ w + b


def neighbour_features(sims: np.ndarray, harmful: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per row of ``sims`` (text x exemplar cosine): mean of the K nearest harmful minus
    benign, each of those, the best per-category mean minus benign, and nearest harmful
    minus nearest benign. ``groups`` gives each exemplar's category index (-1: benign)."""
    k_h = min(K, int(harmful.sum()))
    k_b = min(K, int((~harmful).sum()))
    harm = np.sort(sims[:, harmful], 1)[:, -k_h:].mean(1)
    benign = np.sort(sims[:, ~harmful], 1)[:, -k_b:].mean(1)
    per_cat = []
    for g in np.unique(groups[groups >= 0]):
        cols = sims[:, groups == g]
        per_cat.append(np.sort(cols, 1)[:, -min(K, cols.shape[1]) :].mean(1))
    best_cat = np.max(per_cat, 0)
    nearest = sims[:, harmful].max(1) - sims[:, ~harmful].max(1)
    return np.stack([harm - benign, harm, benign, best_cat - benign, nearest], 1)


def folds(emb: np.ndarray | None, n: int) -> np.ndarray:
    """Fold index per exemplar; near-paraphrases (cosine >= 0.8) share a fold."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if emb is not None:
        sims = emb @ emb.T
        for i, j in zip(*np.nonzero(np.triu(sims >= 0.8, 1)), strict=True):
            parent[root(int(i))] = root(int(j))
    roots = sorted({root(i) for i in range(n)})
    order = np.random.default_rng(0).permutation(len(roots))
    fold_of = {r: int(order[k]) % FOLDS for k, r in enumerate(roots)}
    return np.array([fold_of[root(i)] for i in range(n)])


def cv_threshold(
    scores_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    y: np.ndarray,
    fold: np.ndarray,
    fpr: float,
) -> tuple[float, np.ndarray]:
    """(threshold, out-of-fold scores): the score above which at most ``fpr`` of the
    benign rows fall when each fold is scored by a model fitted on the others.
    ``scores_of(train_mask, test_mask)`` fits and scores."""
    oof = np.zeros(len(y))
    for f in np.unique(fold):
        test = fold == f
        oof[test] = scores_of(~test, test)
    return quantile_bar(oof[y == 0], fpr), oof


def quantile_bar(benign_scores: Sequence[float] | np.ndarray, share: float) -> float:
    """Just above the score of the (share * n + 1)-th highest benign score."""
    ranked = np.sort(np.asarray(benign_scores))[::-1]
    return float(ranked[min(int(share * len(ranked)), len(ranked) - 1)]) + 1e-9
