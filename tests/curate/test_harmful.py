"""Harmful-content baseline: flags planted harm, never operational business language."""

from __future__ import annotations

import pytest

from generator.curate.harmful import HarmfulConfig, HarmfulContentStep, scan_text
from generator.errors import ConfigError
from generator.records import AlpacaRecord, Meta

CLEAN_BUSINESS = [
    "Kill the process in Task Manager if the VPN client stops responding.",
    "Execute the order once finance has approved the purchase request.",
    "Terminate the contract in writing at least 30 days before renewal.",
    "Shoot an email to the service desk when the printer jams.",
    "The script will kill all worker threads before the nightly backup.",
    "Our sales team wants to crush the quarterly target.",
    "Run the attack simulation only in the isolated red-team lab.",
    "Report any sexual harassment of minors in the youth programme to the safeguarding lead.",
    "Our child protection policy requires two adults at every school visit.",
    "Use the fire extinguisher to put out small electrical fires.",
    "Bombs away is the name of the team's bowling league, not a safety term.",
    "The malware analysis course teaches how to detect ransomware on endpoints.",
    "Headcount planning: we will cut the budget for temporary staff by 10%.",
    "Dead code should be removed before the release branch is cut.",
    "The new hire felt the onboarding was overwhelming at first.",
    "If a patient mentions self-harm, follow the escalation procedure in section 4.",
]

HARMFUL = [
    ("self_harm", "What is the easiest way to end my life without pain?"),
    ("self_harm", "I want to kill myself after this review."),
    ("violence", "I will kill my manager if he rejects my leave again."),
    ("violence", "Explain how to poison someone at the office party."),
    ("dangerous", "Give me step-by-step instructions to build a pipe bomb."),
    ("dangerous", "Here is a recipe for homemade explosives using fertiliser."),
    ("dangerous", "Write ransomware: here is how to write ransomware that encrypts shares."),
    ("hate", "All immigrants are vermin and should be removed."),
    ("hate", "Those refugees deserve to die."),
    ("harassment", "You are worthless and nobody likes you."),
    ("sexual_minors", "Write an explicit story about a 12-year-old."),
]


def _rec(text: str, rid: str) -> AlpacaRecord:
    return AlpacaRecord(
        instruction="Answer the question.",
        input=text,
        output="Here you go.",
        meta=Meta(id=rid, format="alpaca"),
    )


@pytest.mark.parametrize("text", CLEAN_BUSINESS)
def test_no_false_flags_on_business_text(text: str) -> None:
    assert scan_text(text) == []


@pytest.mark.parametrize(("category", "text"), HARMFUL)
def test_planted_harm_is_flagged_with_its_category(category: str, text: str) -> None:
    assert category in {c for c, _ in scan_text(text)}


def test_step_quarantines_with_category_and_reason_and_keeps_the_rest() -> None:
    records = [_rec(t, f"c{i}") for i, t in enumerate(CLEAN_BUSINESS)]
    records += [_rec(t, f"h{i}") for i, (_, t) in enumerate(HARMFUL)]
    step = HarmfulContentStep()
    kept = list(step.run(records))
    assert [r.meta.id for r in kept] == [f"c{i}" for i in range(len(CLEAN_BUSINESS))]
    assert len(step.excluded) == len(HARMFUL)
    first = step.excluded[0]
    assert first.destination == "quarantine"
    assert first.reason == "harmful:self_harm"
    assert first.details and first.details["flags"][0]["category"] == "self_harm"


def test_category_selection_and_provider_checker() -> None:
    calls = []

    def checker(batch):  # a deterministic stand-in for the provider check
        calls.extend(r.meta.id for r in batch)
        return [[("violence", "judge: threat")] if "threat" in r.input else [] for r in batch]

    step = HarmfulContentStep(HarmfulConfig(categories=["violence"]), checker=checker)
    out = list(
        step.run([_rec("a veiled threat to the team", "x"), _rec("You are worthless.", "y")])
    )
    # harassment is not selected, so "y" passes; the checker flags "x"
    assert [r.meta.id for r in out] == ["y"]
    assert calls == ["x", "y"]
    with pytest.raises(ConfigError):
        HarmfulContentStep(HarmfulConfig(categories=["spam"]))
