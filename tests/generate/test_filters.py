"""The paper's instruction filters, with their defaults and configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from generator.generate.filters import BLACKLIST, InstructionFilter, InstructionFilterConfig

F = InstructionFilter()


@pytest.mark.parametrize(
    ("instruction", "reason"),
    [
        ("Summarize the leave policy briefly.", None),
        ("Explain sick leave.", "too_short"),  # 3 words: the paper drops <= 3
        ("Explain sick leave rules.", None),
        (" ".join(["word"] * 151), "too_long"),
        (" ".join(["word"] * 150), None),
        ("Describe the image attached to the email.", "blacklisted:image"),
        ("Describe the IMAGES attached to the email.", "blacklisted:images"),
        ("Please go to the intranet and find the form.", "blacklisted:go to"),
        ("Plot the monthly sales figures as a chart.", "blacklisted:plot"),
        ("Write a program that sorts numbers quickly.", "banned_prefix"),
        ("- List the steps to submit expenses.", "leading_punctuation"),
        ('"Summarize" the following paragraph please.', "leading_punctuation"),
        ("Écrivez un résumé de la politique.", "non_english_start"),
        ("¿Cuántos días de vacaciones tengo?", "non_english_start"),
    ],
)
def test_default_filters(instruction: str, reason: str | None) -> None:
    assert F.check(instruction) == (reason is None, reason)


def test_blacklist_matches_whole_words_only() -> None:
    # "mapping", "profile", "imagery" contain blacklisted words but are not them.
    assert F.check("Explain the mapping between roles and permissions.") == (True, None)
    assert F.check("Update the profile settings for a new employee.") == (True, None)
    assert len(BLACKLIST) == 18


def test_output_copying_the_instruction_is_rejected() -> None:
    inst = "Name the three approval levels."
    assert F.check(inst, "name the three  approval levels.") == (False, "output_copies_instruction")
    assert F.check(inst, "Team lead, director, CFO.") == (True, None)


def test_configuration_changes_every_check() -> None:
    loose = InstructionFilter(
        InstructionFilterConfig(
            min_words=1,
            max_words=5,
            blacklist=["payroll"],
            banned_prefixes=[],
            reject_leading_punctuation=False,
            reject_non_ascii_start=False,
            reject_output_copies_instruction=False,
        )
    )
    assert loose.check("Why?") == (True, None)
    assert loose.check("one two three four five six") == (False, "too_long")
    assert loose.check("Check the payroll run.") == (False, "blacklisted:payroll")
    assert loose.check("Draw a diagram.") == (True, None)
    assert loose.check("Write a program now.") == (True, None)
    assert loose.check("- dash start") == (True, None)
    assert loose.check("Écrivez un résumé.") == (True, None)
    assert loose.check("Same text here.", "Same text here.") == (True, None)
    off = InstructionFilter(InstructionFilterConfig(enabled=False))
    assert off.check("") == (True, None)


def test_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        InstructionFilterConfig(min_word=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        InstructionFilterConfig(max_words=0)


def test_blacklist_applies_to_self_instruct_only() -> None:
    # Issue 16, item 6: the keyword list guards tasks a model invents from a few examples;
    # a question about a document is fair.
    from generator.generate.prompts import load_template
    from generator.generate.setup import _filter_for

    for template in ("qa", "chat", "completion"):
        check = _filter_for(load_template(template)).check
        assert check("How should I shoot product photos for the catalogue?") == (True, None)
        assert check("Which file holds the travel policy for Japan?") == (True, None)
    invented = _filter_for(load_template("self-instruct")).check
    assert invented("Which file holds the travel policy for Japan?") == (False, "blacklisted:file")
