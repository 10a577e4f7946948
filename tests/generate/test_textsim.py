"""ROUGE-L novelty: same tokens, same scores and same decisions as rouge-score."""

from __future__ import annotations

import random

import pytest
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer
from rouge_score import tokenize as rs_tokenize

from generator import textsim
from generator.textsim import (
    NoveltyIndex,
    all_pairs_reference,
    f1_from_lcs,
    novel_mask,
    rouge_l,
    tokenize,
)
from tests.generate.corpus import base_instructions, corpus

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def _rouge(a: str, b: str) -> float:
    return SCORER.score(a, b)["rougeL"].fmeasure


@pytest.mark.parametrize(
    "text",
    [
        'Explain the GDPR\'s Article 17 -- "right to be forgotten"!',
        "Ünïcödé café naïve résumé İstanbul ß ﬁ",
        "tabs\tand\nnewlines  and   spaces",
        "100% of 3.5kg (approx.) == 7,000g?",
        "",
        "!!! ???",
        "日本語のテキスト mixed with English",
    ],
)
def test_tokenize_matches_rouge_score(text: str) -> None:
    assert tokenize(text) == rs_tokenize.tokenize(text, None)


def test_rouge_l_equals_rouge_score_on_many_pairs() -> None:
    texts = corpus(600, seed=3)
    rng = random.Random(0)
    pairs = [(rng.choice(texts), rng.choice(texts)) for _ in range(3000)]
    pairs += [("", "something"), ("a b c", ""), ("!!!", "a")]
    for a, b in pairs:
        assert rouge_l(a, b) == _rouge(a, b), (a, b)


def test_f1_formula_keeps_rouge_score_rounding_at_ties() -> None:
    # 10 vs 10 tokens with LCS 7: exactly 0.7 in exact arithmetic; both must agree bit-for-bit.
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven x y z"
    assert f1_from_lcs(7, 10, 10) == _rouge(a, b)
    idx = NoveltyIndex([b])
    assert idx.is_novel(a) == (_rouge(a, b) <= 0.7)


def test_search_finds_the_best_match_above_threshold() -> None:
    idx = NoveltyIndex(
        [
            "List the steps needed to submit an expense report.",
            "List the steps needed to submit a travel request.",
            "Write a haiku about autumn leaves.",
        ]
    )
    match = idx.search("List the steps needed to submit an expense claim.")
    assert match is not None
    assert match.index == 0
    assert match.text.startswith("List the steps needed to submit an expense")
    assert match.score == _rouge(match.text, "List the steps needed to submit an expense claim.")
    assert idx.search("Describe the life cycle of a butterfly.") is None
    assert idx.is_novel("Describe the life cycle of a butterfly.")


def test_max_rouge_l_is_exact_over_the_whole_pool() -> None:
    texts = corpus(260, seed=5)
    idx = NoveltyIndex(texts[:200])
    for cand in texts[200:]:
        expected = max(_rouge(cand, other) for other in texts[:200])
        got = idx.max_rouge_l(cand)
        assert (got.score if got else 0.0) == expected


def test_empty_and_unknown_token_candidates() -> None:
    idx = NoveltyIndex(["alpha beta gamma"])
    assert idx.is_novel("")
    assert idx.is_novel("!!!")
    assert idx.is_novel("delta epsilon zeta")
    assert not idx.is_novel("Alpha, beta; GAMMA!")
    assert NoveltyIndex().is_novel("anything at all")


def test_add_if_novel_grows_the_pool_only_when_novel() -> None:
    idx = NoveltyIndex()
    assert idx.add_if_novel("Write a polite email asking for two days off.") is None
    blocked = idx.add_if_novel("Write a polite email asking for three days off.")
    assert blocked is not None and blocked.score > 0.7
    assert len(idx) == 1


@pytest.mark.slow
def test_decisions_equal_all_pairs_rouge_score_on_2000_candidates() -> None:
    """Sequential pool building (seeds first, as Self-Instruct): every decision equal."""
    seeds = base_instructions()[:40]
    # Up to 3 word edits: many pairs near 0.7, a pool small enough for rouge-score's
    # pure-Python LCS to finish in about a minute.
    texts = corpus(2100, seed=1, max_edits=3)
    texts = [t for t in texts if t not in seeds][:2000]
    assert len(texts) == 2000
    ours = novel_mask(texts, 0.7, initial=seeds)
    reference = all_pairs_reference(texts, 0.7, initial=seeds, pretokenize=True)
    assert ours == reference
    # The corpus must exercise both outcomes and the boundary, or agreement proves little.
    kept = sum(ours)
    assert 300 < kept < 1700
    idx = NoveltyIndex(seeds)
    near = ties = 0
    for text, keep in zip(texts, ours, strict=True):
        best = idx.max_rouge_l(text)
        near += best is not None and abs(best.score - 0.7) < 0.05
        ties += best is not None and abs(best.score - 0.7) < 1e-12  # exactly 0.7 in theory
        if keep:
            idx.add(text)
    assert near >= 200
    assert ties >= 5


def test_pruning_skips_most_exact_checks() -> None:
    texts = corpus(1500, seed=2)
    idx = NoveltyIndex()
    pairs = 0
    for text in texts:
        pairs += len(idx)
        idx.add_if_novel(text)
    assert idx.exact_checks < pairs / 20


def test_identical_token_sequence_is_the_first_best_match():
    idx = NoveltyIndex(
        ["Reset a password.", "List the steps to reset a password", "RESET A PASSWORD"]
    )
    match = idx.search("reset, a password!")
    assert match is not None and match.score == 1.0 == _rouge(
        "reset a password", "Reset a password."
    )
    assert match.index == 0  # two pool items tie at 1.0: the first wins, as the scan would pick
    assert idx.search("reset a password now") is not None  # no longer identical: the scan decides
    # Same tokens in another order are not identical: LCS 2 of 3, F1 0.67, novel.
    assert idx.search("password reset a") is None


def test_dense_token_columns_keep_decisions_exact_with_repeated_tokens():
    """A token held by many pool items gets a count column capped at 127. A candidate that
    repeats it more often than that must not lose the match to the capped count."""
    rare = [f"r{i}" for i in range(180)]
    extra = [f"e{i}" for i in range(320)]
    fillers = [f"the x{i}" for i in range(70)]  # "the" is held by 71 items: dense
    target = " ".join(["the"] * 200 + rare + extra)  # F1 against the candidate: 0.7037
    candidate = " ".join(["the"] * 200 + rare)
    index = NoveltyIndex([*fillers, target])
    assert index._dense
    assert _rouge(target, candidate) > 0.7
    match = index.search(candidate)
    assert match is not None and match.text == target
    assert match.score == pytest.approx(_rouge(target, candidate))


@pytest.mark.parametrize("refine", [True, False])  # dense-column bound always, or never
@pytest.mark.parametrize("few", [True, False])  # postings counted in Python up to 256, or never
@pytest.mark.parametrize("vocab", [6, 40, 3000])  # few words: most items reached; many: few
def test_best_match_equals_a_full_scan_with_repeated_tokens(
    vocab: int, few: bool, refine: bool, monkeypatch
) -> None:
    """Candidates that repeat words, against pools where a word is held by almost every
    item (the whole-pool count path) or by few (the counted or sorted paths), with or
    without the dense-column bound before the exact checks: the best match, its score and
    which of equal best items is reported are those of a full scan."""
    if not few:
        monkeypatch.setattr(textsim, "_FEW", 0)
    monkeypatch.setattr(textsim, "_FEW_LEFT", 0 if refine else 10**9)
    rng = random.Random(vocab)
    words = [f"w{i}" for i in range(vocab)]

    def text() -> str:
        return " ".join(
            rng.choice(words[: rng.randint(2, vocab)]) for _ in range(rng.randint(1, 9))
        )

    pool = [text() for _ in range(400)]
    index = NoveltyIndex(pool)
    toks = [tokenize(p) for p in pool]
    for _ in range(300):
        cand = text()
        ct = tokenize(cand)
        for threshold in (0.0, 0.5, 0.7):
            scores = [f1_from_lcs(LCSseq.similarity(ct, t), len(t), len(ct)) for t in toks]
            best = max(scores)
            match = index.search(cand, threshold)
            if best <= threshold:
                assert match is None
            else:
                assert match is not None and match.score == best
                assert match.index == scores.index(best)  # the first of equal best scores
