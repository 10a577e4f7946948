"""Contradictions: same questions with disagreeing answers are grouped and sent to review;
paraphrased answers and different questions are left alone."""

from __future__ import annotations

from generator.curate.contradictions import ContradictionStep, disagreement
from generator.records import AlpacaRecord, Meta


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
