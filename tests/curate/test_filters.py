"""Length and heuristic filters at their boundaries, with real text."""

from __future__ import annotations

import pytest

from generator.curate.heuristics import HeuristicsConfig, HeuristicsFilter
from generator.curate.length import LengthConfig, LengthFilter, resolve_context
from generator.curate.registry import StepContext
from generator.records import parse_record
from generator.tokens import count_tokens

ANSWER = (
    "Expense claims must be filed within thirty days of the purchase, with the original "
    "receipt attached in the expense app."
)


def rec(
    instruction: str, output: str, input_text: str = "", rid: str = "r", prompt: str | None = None
) -> object:
    meta: dict = {"id": rid, "format": "alpaca"}
    if prompt:
        meta["prompt"] = {"id": prompt, "version": "1.0", "sha256": "0" * 64}
    return parse_record(
        {"instruction": instruction, "input": input_text, "output": output, "meta": meta}
    )


def _words_with_tokens(n: int) -> str:
    """A real-ish text of exactly ``n`` tokens (cl100k): ' leave' is one token."""
    text = "Annual" + " leave" * (n - 1)
    assert count_tokens(text) == n
    return text


@pytest.mark.parametrize(("tokens", "kept"), [(9, False), (10, True)])
def test_output_min_tokens_boundary(tokens, kept):
    step = LengthFilter()
    out = list(
        step.run([rec("How long do I have to file an expense claim?", _words_with_tokens(tokens))])
    )
    assert bool(out) is kept
    if not kept:
        assert step.dropped == {"too_short:output": 1}
    else:
        assert out[0].meta.curation["length"]["tokens"]["output"] == 10


@pytest.mark.parametrize(("tokens", "kept"), [(50, True), (51, False)])
def test_output_max_tokens_boundary(tokens, kept):
    step = LengthFilter(LengthConfig(max_tokens={"output": 50}))
    out = list(step.run([rec("Describe the leave policy.", _words_with_tokens(tokens))]))
    assert bool(out) is kept
    assert step.dropped == ({} if kept else {"too_long:output": 1})


def test_whole_example_against_context():
    r = rec("Summarise the travel policy.", ANSWER)
    total = count_tokens(r.example_text())
    fits = LengthFilter(LengthConfig(context_tokens=total + 10, context_margin=10))
    assert len(list(fits.run([r]))) == 1
    tight = LengthFilter(LengthConfig(context_tokens=total + 9, context_margin=10))
    assert list(tight.run([r])) == []
    assert tight.dropped == {"exceeds_context": 1}


def test_context_default_and_target_model(monkeypatch):
    assert resolve_context(LengthConfig(), None) == 4096
    assert resolve_context(LengthConfig(context_tokens=2048), "openai/gpt-4o") == 2048
    assert resolve_context(LengthConfig(), "mock/x") == 32_768  # the mock provider's window
    step = LengthFilter(LengthConfig(), StepContext(target_model="openai/gpt-4o"))
    assert step.model == "openai/gpt-4o"


def test_unknown_length_field_is_a_config_error():
    from generator.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown fields"):
        LengthFilter(LengthConfig(min_tokens={"answer": 3}))


@pytest.mark.parametrize(
    ("instruction", "output", "input_text", "reason"),
    [
        ("Reset password?", ANSWER, "", "instruction_too_short"),
        (" ".join(["word"] * 151), ANSWER, "", "instruction_too_long"),
        ("Draw a diagram of the approval flow.", ANSWER, "", "instruction_unsuitable_keyword"),
        ("Write a program that checks expense limits.", ANSWER, "", "instruction_banned_prefix"),
        ("- List the steps to file a claim.", ANSWER, "", "instruction_starts_with_punctuation"),
        ("Ésta es la política de viajes.", ANSWER, "", "instruction_starts_non_ascii"),
        ("Summarise the claim rules below.", "...", "", "empty_output"),
        (
            "Translate this sentence into plain English.",
            "Claims are due in 30 days.",
            "Claims are due in 30 days.",
            "output_equals_input",
        ),
        (
            "How long do I have to file an expense claim?",
            "How long do I have to file an expense claim",
            "",
            "output_repeats_instruction",
        ),
        (
            "What is the travel budget for Japan?",
            "As an AI language model, I do not have access to your company's policies.",
            "",
            "refusal",
        ),
        (
            "Share the admin password for the payroll system.",
            "I'm sorry, but I cannot help with that request.",
            "",
            "refusal",
        ),
    ],
)
def test_heuristics_drop_reasons(instruction, output, input_text, reason):
    step = HeuristicsFilter()
    assert list(step.run([rec(instruction, output, input_text, prompt="self-instruct")])) == []
    assert step.dropped == {reason: 1}
    assert step.excluded[0].reason == reason


def test_heuristics_keep_good_records_and_are_configurable():
    good = rec("How do I file a claim for a lost laptop?", ANSWER)
    assert len(list(HeuristicsFilter().run([good]))) == 1  # "file" is not a banned keyword
    strict = HeuristicsFilter(
        HeuristicsConfig(keywords=["file"], min_instruction_words=2, self_instruct_checks="all")
    )
    assert list(strict.run([good])) == []
    assert (
        len(
            list(
                HeuristicsFilter(HeuristicsConfig(min_instruction_words=2)).run(
                    [rec("Reset password?", ANSWER)]
                )
            )
        )
        == 1
    )


PHOTOS = "How should I shoot product photos for the catalogue?"


@pytest.mark.parametrize("prompt", [None, "qa", "chat"])
def test_keyword_and_prefix_checks_spare_document_qa_and_imported_data(prompt):
    # Self-Instruct's keyword list guards instructions a model invented on its own; a
    # question asked about a document or a record imported from elsewhere is fair.
    records = [
        rec(PHOTOS, ANSWER, rid="a", prompt=prompt),
        rec("Write a program that checks expense limits.", ANSWER, rid="b", prompt=prompt),
    ]
    step = HeuristicsFilter()
    assert [r.meta.id for r in step.run(records)] == ["a", "b"]


def test_keyword_check_applies_to_self_instruct_records():
    step = HeuristicsFilter()
    assert list(step.run([rec(PHOTOS, ANSWER, prompt="self-instruct")])) == []
    assert step.dropped == {"instruction_unsuitable_keyword": 1}
    # which templates count as model-invented tasks is configurable
    custom = HeuristicsFilter(HeuristicsConfig(self_instruct_templates=["my-seeded"]))
    assert list(custom.run([rec(PHOTOS, ANSWER, prompt="my-seeded")])) == []
    assert len(list(custom.run([rec(PHOTOS, ANSWER, prompt="self-instruct")]))) == 1
