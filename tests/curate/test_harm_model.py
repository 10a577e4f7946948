"""The numeric parts of the harmful-content classifier: the logistic fit, neighbour
features, paraphrase-aware folds and cross-validated thresholds."""

from __future__ import annotations

import numpy as np

from generator.curate.harm.model import (
    FOLDS,
    cv_threshold,
    fit_logistic,
    folds,
    logit,
    neighbour_features,
    quantile_bar,
)


def _blobs(n: int = 200, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(float)
    x = rng.normal(size=(n, 5)) + y[:, None] * np.array([2.0, 0, 0, 0, 0])
    return x, y


def test_logistic_fit_separates_and_is_deterministic() -> None:
    x, y = _blobs()
    a, b = fit_logistic(x, y), fit_logistic(x, y)
    assert all(np.array_equal(p, q) for p, q in zip(a[:3], b[:3], strict=True)) and a[3] == b[3]
    accuracy = float(((logit(a, x) > 0) == (y == 1)).mean())
    assert accuracy > 0.8
    assert abs(a[2][0]) > 5 * float(np.abs(a[2][1:]).max())  # weight on the informative axis


def test_class_balance_keeps_a_rare_class_visible() -> None:
    x, y = _blobs(400)
    keep = (y == 0) | (np.arange(400) % 10 == 1)  # about 1 harmful in 10
    params = fit_logistic(x[keep], y[keep])
    recall = float((logit(params, x[keep][y[keep] == 1]) > 0).mean())
    assert recall > 0.75


def test_neighbour_features_prefer_the_closer_side() -> None:
    harmful = np.array([True, True, False, False])
    groups = np.array([0, 1, -1, -1])
    sims = np.array([[0.9, 0.8, 0.1, 0.2], [0.1, 0.2, 0.9, 0.8]])
    feats = neighbour_features(sims, harmful, groups)
    assert feats.shape == (2, 5)
    assert feats[0, 0] > 0 > feats[1, 0]  # harmful minus benign
    assert feats[0, 4] == np.float64(0.9 - 0.2)


def test_near_paraphrases_share_a_fold() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 16))
    twins = base + 0.01 * rng.normal(size=base.shape)
    emb = np.vstack([base, twins])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    fold = folds(emb, len(emb))
    assert all(fold[i] == fold[i + 30] for i in range(30))
    assert len(set(fold.tolist())) == FOLDS
    assert np.array_equal(fold, folds(emb, len(emb)))  # deterministic


def test_cv_threshold_keeps_the_benign_share_at_the_operating_point() -> None:
    x, y = _blobs(300)
    fold = folds(None, len(y))

    def scores_of(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        return logit(fit_logistic(x[train], y[train]), x[test])

    for fpr in (0.02, 0.1):
        threshold, oof = cv_threshold(scores_of, y, fold, fpr)
        above = float((oof[y == 0] >= threshold).mean())
        assert above <= fpr
    assert quantile_bar([3.0, 2.0, 1.0, 0.0], 0.25) > 2.0
