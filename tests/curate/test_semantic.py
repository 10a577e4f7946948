"""Semantic dedup with the packaged all-MiniLM-L6-v2 (skipped only without the extra)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from generator.curate import semantic_dedup as sd
from generator.curate.semantic_dedup import SemanticDedupConfig, SemanticDedupStep
from generator.records import parse_record

needs_extra = pytest.mark.skipif(
    not sd.embeddings_available(),
    reason="the [embeddings] extra is not installed (pip install torch==2.13.0, then "
    "pip install -e '.[embeddings]')",
)

# (question, answer) pairs; each paraphrase below rewords one of the first four.
ORIGINALS = [
    (
        "What is the deadline for submitting expense reports?",
        "Expense reports must be submitted within 30 days of the purchase.",
    ),
    (
        "How do I reset my password?",
        "Go to the login page, click Forgot password and follow the emailed link.",
    ),
    (
        "Who approves purchase orders above $5,000?",
        "Purchase orders above $5,000 need approval from the finance controller.",
    ),
    (
        "How do I report a phishing email?",
        "Use the Report Phish button so the security team gets a copy.",
    ),
    (
        "How many vacation days do new employees get?",
        "New employees get 25 days of paid vacation per year.",
    ),
    (
        "How many sick days do new employees get?",
        "New employees get 10 days of paid sick leave per year.",
    ),
    (
        "Where can visitors park?",
        "Visitors park in the north lot; reception hands out a day permit.",
    ),
]
PARAPHRASES = [
    (
        "What's the deadline to submit expense reports?",
        "Expense reports have to be submitted within 30 days of the purchase.",
    ),
    (
        "How can I reset my password?",
        "Open the login page, click Forgot password, and follow the link in the email.",
    ),
    (
        "Who must approve a purchase order over $5,000?",
        "Purchase orders over $5,000 require approval by the finance controller.",
    ),
    (
        "How should I report a phishing email?",
        "Press the Report Phish button so that the security team receives a copy.",
    ),
]


def _records():
    rows = [(f"o{i}", q, a) for i, (q, a) in enumerate(ORIGINALS)]
    rows += [(f"p{i}", q, a) for i, (q, a) in enumerate(PARAPHRASES)]
    return [
        parse_record({"instruction": q, "output": a, "meta": {"id": rid, "format": "alpaca"}})
        for rid, q, a in rows
    ]


@pytest.mark.embeddings
@needs_extra
def test_paraphrases_are_grouped_and_distinct_records_stay():
    step = SemanticDedupStep()
    kept = [r.meta.id for r in step.run(_records())]
    assert kept == [f"o{i}" for i in range(len(ORIGINALS))]  # similar topics (sick vs
    # vacation days) are not merged at 0.95
    assert sorted((e.record.meta.id, e.duplicate_of) for e in step.excluded) == [
        (f"p{i}", f"o{i}") for i in range(len(PARAPHRASES))
    ]
    assert all(
        e.reason == "semantic_duplicate" and e.details["cosine"] >= 0.95 for e in step.excluded
    )


@pytest.mark.embeddings
@needs_extra
def test_clustered_search_finds_the_same_pairs_as_exact_search():
    texts = [r.example_text() for r in _records()] * 1
    emb = sd.embed(texts)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(300, emb.shape[1])).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    allv = np.vstack([emb, noise])
    exact = sd.similar_pairs(allv, 0.95)
    bucketed = sd.similar_pairs(allv, 0.95, exact_max=10, probes=3)
    assert [(i, j) for i, j, _ in exact] == [(i, j) for i, j, _ in bucketed]
    assert len(exact) == len(PARAPHRASES)


def test_without_the_extra_the_step_passes_records_and_says_how_to_install(monkeypatch, caplog):
    monkeypatch.setattr(sd, "embeddings_available", lambda: False)
    step = SemanticDedupStep(SemanticDedupConfig())
    with caplog.at_level(logging.WARNING):
        kept = list(step.run(_records()))
    assert len(kept) == len(ORIGINALS) + len(PARAPHRASES)
    assert "pip install torch==2.13.0" in caplog.text
    assert "embeddings" in step.stats()["warnings"][0]
