"""Contradictions: same questions with disagreeing answers are grouped and sent to review;
paraphrased answers and different questions are left alone."""

from __future__ import annotations

import pytest

from generator.curate.contradictions import ContradictionStep, disagreement
from generator.curate.same_question import QuestionKey, question_groups, same_question
from generator.records import AlpacaRecord, Meta
from tests.curate.template_qa import FAMILIES, one_template_set


def _rec(rid: str, q: str, a: str) -> AlpacaRecord:
    return AlpacaRecord(instruction=q, output=a, meta=Meta(id=rid, format="alpaca"))


RECORDS = [
    _rec(
        "a1",
        "How many vacation days can I carry over into next year?",
        "You can carry over up to 5 unused vacation days into the next year.",
    ),
    _rec(
        "a2",
        "How many vacation days can I carry over into the next year?",
        "Up to 10 unused vacation days can be carried over into the next year.",
    ),
    _rec(
        "b1",
        "Can contractors use the staff VPN from home?",
        "Yes, contractors may use the staff VPN from home with a company laptop.",
    ),
    _rec(
        "b2",
        "Can contractors use the staff VPN from home?",
        "No, contractors may not use the staff VPN from home with a company laptop.",
    ),
    _rec(
        "c1",
        "Who approves travel expenses above 500 EUR?",
        "Travel expenses above 500 EUR must be approved by the department head.",
    ),
    _rec(
        "c2",
        "Who approves travel expenses above 500 EUR?",
        "The department head must approve any travel expense above 500 EUR.",
    ),
    _rec(
        "d1",
        "How do I reset my password for the intranet?",
        "Open the self-service portal and choose Forgot password.",
    ),
    _rec(
        "e1",
        "What is the warranty period of the X200 router?",
        "The X200 router has a warranty period of 24 months from purchase.",
    ),
]


def test_pairwise_rules() -> None:
    assert disagreement("It takes 5 days.", "It takes 10 days.", 0.25) == "numbers"
    assert (
        disagreement("Contractors may use the VPN.", "Contractors may not use the VPN.", 0.25)
        == "negation"
    )
    assert (
        disagreement("Ask the service desk.", "Reboot the router twice and wait.", 0.25)
        == "low_similarity"
    )
    assert disagreement(RECORDS[4].output, RECORDS[5].output, 0.25) is None  # paraphrase


def test_groups_with_conflicts_go_to_review_as_a_whole() -> None:
    step = ContradictionStep()
    kept = [r.meta.id for r in step.run(list(RECORDS))]
    assert kept == ["c1", "c2", "d1", "e1"]
    assert sorted(e.record.meta.id for e in step.excluded) == ["a1", "a2", "b1", "b2"]
    assert {e.destination for e in step.excluded} == {"review"}
    reasons = {e.record.meta.id: e.reason for e in step.excluded}
    assert reasons["a1"] == "contradiction:numbers" and reasons["b1"] == "contradiction:negation"
    groups = step.stats()["groups"]
    assert [sorted(g["records"]) for g in groups] == [["a1", "a2"], ["b1", "b2"]]


def test_judge_can_clear_a_paraphrase_group() -> None:
    seen = []

    def judge(groups):
        seen.extend(q for q, _ in groups)
        return [("VPN" not in q) for q, _ in groups]  # says the VPN group is a paraphrase

    step = ContradictionStep(judge=judge)
    kept = [r.meta.id for r in step.run(list(RECORDS))]
    assert "b1" in kept and "b2" in kept and "a1" not in kept
    assert len(seen) == 2


# --- what counts as the same question (issue 16, item 5) ---------------------------------


def _same(a: str, b: str, threshold: float = 0.7) -> bool:
    return same_question(QuestionKey.of(a), QuestionKey.of(b), threshold)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How many vacation days can I carry over?", "How many vacation days can I carry over?"),
        (
            "How many vacation days can I carry over into next year?",
            "how many vacation day can i carry over into the next year",
        ),
        ("What is the Leave Policy for contractors?", "What is the leave policy for contractors?"),
        (
            "What is the warranty of the X200 router?",
            "What's the warranty period of the X200 router?",
        ),
        (
            "Who approves travel expenses above 500 EUR?",
            "Who approves travel expenses above 500 EUR ?",
        ),
    ],
)
def test_same_question(a: str, b: str) -> None:
    assert _same(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What does the `sync --force` command do?", "What does the `sync --dry-run` command do?"),
        ("What does the `prune --tags` command do?", "What does the `tag --prune` command do?"),
        ("How much does Titan 1.2 cost?", "How much does Titan 2.1 cost?"),
        (
            "How many days of leave does Alice Novak have?",
            "How many days of leave does Omar Novak have?",
        ),
        (
            "How do I configure the retry timeout for the sync worker in production?",
            "How do I configure the retry timeout for the push worker in production?",
        ),
        (
            "Can contractors use the staff VPN from home?",
            "Can contractors not use the staff VPN from home?",
        ),
        ("Can contractors use the staff VPN?", "Can contractors use the staff VPN on Windows?"),
    ],
)
def test_different_questions(a: str, b: str) -> None:
    assert not _same(a, b)


def test_template_questions_naming_different_entities_are_not_grouped() -> None:
    records = [
        _rec(
            "f", "What does the `sync --force` command do?", "It overwrites the remote copy in 5 s."
        ),
        _rec("d", "What does the `sync --dry-run` command do?", "It only lists changes, 0 writes."),
    ]
    step = ContradictionStep()
    assert [r.meta.id for r in step.run(records)] == ["f", "d"]
    assert step.excluded == []


def test_groups_are_sets_of_mutually_same_questions_not_chains() -> None:
    # b adds "period" to a and c adds "length" to a: a~b, a~c, but b and c each add a word
    # the other lacks, so they are different questions and cannot share a group.
    qs = [
        "What is the warranty of the X200 router?",
        "What is the warranty period of the X200 router?",
        "What is the warranty length of the X200 router?",
    ]
    keys = [QuestionKey.of(q) for q in qs]
    assert same_question(keys[0], keys[1], 0.6) and same_question(keys[0], keys[2], 0.6)
    assert not same_question(keys[1], keys[2], 0.6)
    groups = question_groups(qs, 0.6)
    assert groups == [[0, 1]]
    for g in groups:
        assert all(same_question(keys[i], keys[j], 0.6) for i in g for j in g)


def test_question_threshold_is_used() -> None:
    qs = [
        "What is the warranty of the X200 router?",
        "What is the warranty period of the X200 router?",
    ]
    assert question_groups(qs, 0.7) == [[0, 1]]  # content words 3 of 4: Jaccard 0.75
    assert question_groups(qs, 1.0) == []


def test_answers_differing_in_case_whitespace_or_punctuation_agree() -> None:
    assert disagreement("Ask HR.", "ask  hr", 0.25) is None
    assert disagreement("Yes - five days!", "yes, five days", 0.9) is None
    records = [
        _rec("x1", "Who approves a refund?", "The FINANCE controller approves it."),
        _rec("x2", "Who approves a refund?", "the finance controller approves it"),
    ]
    step = ContradictionStep()
    assert [r.meta.id for r in step.run(records)] == ["x1", "x2"]


def test_duplicates_are_removed_before_contradictions_are_sought() -> None:
    records = [
        _rec("a", "How many days can I carry over?", "You can carry over 5 days."),
        _rec("a-copy", "How many days can I carry over?", "you can carry over 5 days"),
        _rec("b", "How many days can I carry over?", "You can carry over 10 days."),
        _rec("c", "Where is the office?", "On the 3rd floor."),
    ]
    step = ContradictionStep()
    assert [r.meta.id for r in step.run(records)] == ["c"]
    by_id = {e.record.meta.id: e for e in step.excluded}
    assert by_id["a"].destination == by_id["b"].destination == "review"
    # the copy does not stay in the data behind the review, nor count as a third answer
    assert by_id["a-copy"].destination == "excluded"
    assert by_id["a-copy"].duplicate_of == "a"
    (group,) = step.stats()["groups"]
    assert group["records"] == ["a", "b"] and len(group["conflicts"]) == 1


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_one_template_set_of_distinct_pairs_rarely_goes_to_review(family: str) -> None:
    records = one_template_set(family, 1000)
    assert len({r.instruction for r in records}) == 1000
    step = ContradictionStep()
    kept = list(step.run(records))
    share = len(step.excluded) / len(records)
    print(f"{family}: {len(step.excluded)} of 1000 to review ({share:.1%})")
    assert share <= 0.01
    assert len(kept) + len(step.excluded) == 1000


def test_real_contradictions_in_a_template_set_are_still_caught() -> None:
    records = one_template_set("commands", 1000)
    planted = []
    for k, base in enumerate(records[::100]):  # 10 questions asked again, answered otherwise
        question = base.instruction.replace("What does the", "what does").rstrip("?")
        planted.append(_rec(f"p{k}", question, base.output.replace("after", "after 99999 or")))
    step = ContradictionStep()
    list(step.run(records + planted))
    groups = step.stats()["groups"]
    assert len(groups) == 10
    assert sorted(e.record.meta.id for e in step.excluded) == sorted(
        [r.meta.id for r in records[::100]] + [p.meta.id for p in planted]
    )
    assert all({c["why"] for c in g["conflicts"]} == {"numbers"} for g in groups)
