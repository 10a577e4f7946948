"""The OpenAI chat fine-tuning checks catch each bad example, naming its line."""

from __future__ import annotations

import json

import pytest

from generator.errors import ConfigError
from generator.export.openai_validate import default_epochs, training_limit, validate_lines
from generator.tokens import count_tokens

GOOD = {
    "messages": [
        {"role": "system", "content": "You answer from the handbook."},
        {"role": "user", "content": "How many leave days do I get?"},
        {"role": "assistant", "content": "25 days a year.", "weight": 1},
    ]
}

BAD = {  # line content -> the error code the guide names
    "[1, 2]": "data_type",
    "{not json": "data_type",
    json.dumps({"messages": []}): "missing_messages_list",
    json.dumps({"messages": {"role": "user"}}): "missing_messages_list",
    json.dumps(
        {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}
    ): "message_missing_key",
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": "q", "meta": 1},
                {"role": "assistant", "content": "a"},
            ]
        }
    ): "message_unrecognized_key",
    json.dumps(
        {"messages": [{"role": "human", "content": "q"}, {"role": "assistant", "content": "a"}]}
    ): "unrecognized_role",
    json.dumps(
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "a"}]}
    ): "missing_content",
    json.dumps(
        {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]}
    ): "missing_content",
    json.dumps(
        {"messages": [{"role": "user", "content": "q"}]}
    ): "example_missing_assistant_message",
    json.dumps({"messages": GOOD["messages"], "meta": {"id": "x"}}): "unrecognized_key",
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a", "weight": 2},
            ]
        }
    ): "invalid_weight",
}


@pytest.mark.parametrize("bad", list(BAD))
def test_each_bad_example_is_caught_with_its_line(bad: str) -> None:
    lines = [json.dumps(GOOD)] * 11
    lines.insert(6, bad)  # line 7
    rep = validate_lines(lines)
    assert not rep.ok
    assert rep.errors[0].code == BAD[bad]  # (a message without content also lacks a key)
    assert {e.line for e in rep.errors} == {7} and str(rep.errors[0]).startswith("line 7: ")


def test_good_file_passes_with_statistics() -> None:
    rep = validate_lines([json.dumps(GOOD)] * 12, "gpt-4o-mini-2024-07-18")
    assert rep.ok and rep.n_examples == 12 and rep.limit == 65536
    per = 3 + sum(
        3 + count_tokens(m["content"], "gpt-4o") + count_tokens(m["role"], "gpt-4o")
        for m in GOOD["messages"]
    )
    assert rep.tokens["min"] == rep.tokens["max"] == per
    assert rep.billed_tokens_per_epoch == 12 * per
    assert rep.epochs == 8 and rep.training_tokens == 8 * 12 * per  # 100 // 12 (the guide)
    assert rep.n_missing_system == 0 and rep.assistant_tokens["max"] == count_tokens(
        "25 days a year.", "gpt-4o"
    )


def test_too_few_and_too_long_examples() -> None:
    rep = validate_lines([json.dumps(GOOD)] * 9)
    assert [e.code for e in rep.errors] == ["too_few_examples"]
    long = {
        "messages": [
            {"role": "user", "content": "word " * 5000},
            {"role": "assistant", "content": "ok"},
        ]
    }
    rep = validate_lines([json.dumps(GOOD)] * 10 + [json.dumps(long)], "gpt-3.5-turbo-0613")
    assert [(e.line, e.code) for e in rep.errors] == [(11, "too_long")]
    assert rep.n_too_long == 1 and rep.billed_tokens_per_epoch == 10 * rep.tokens["min"] + 4096


def test_epochs_and_limits() -> None:
    assert default_epochs(10) == 10 and default_epochs(1000) == 3 and default_epochs(20000) == 1
    rep = validate_lines([json.dumps(GOOD)] * 10, epochs=2)
    assert rep.epochs == 2 and rep.epochs_source == "--epochs"
    limit, source = training_limit("openai/gpt-4.1-mini")  # not in our table: LiteLLM's map
    assert limit > 100_000 and "LiteLLM" in source
    with pytest.raises(ConfigError, match="no known context size"):
        training_limit("no-such-provider/no-such-model-xyz")


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("gpt-4o-2024-08-06", 65536),
        ("openai/gpt-4o-mini-2024-07-18", 65536),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc", 65536),
        ("gpt-3.5-turbo-1106", 16385),
        ("gpt-3.5-turbo-0613", 4096),
    ],
)
def test_guide_limits_come_from_the_guide_table(model: str, limit: int) -> None:
    assert training_limit(model) == (limit, "OpenAI fine-tuning guide (token limits)")


def test_models_without_a_guide_row_use_litellms_map() -> None:
    # gpt-4-0613 is fine-tunable but the guide's token-limit table has no row for it.
    limit, source = training_limit("gpt-4-0613")
    assert limit == 8192 and "LiteLLM" in source


def test_validation_file_gets_checks_and_distribution_but_no_training_estimate() -> None:
    lines = [json.dumps(GOOD)] * 3  # fewer than 10 is fine: validation files are not trained on
    rep = validate_lines(lines, role="validation", epochs=4)
    assert rep.ok and rep.role == "validation" and not rep.is_training
    assert rep.n_examples == 3 and rep.tokens["min"] == rep.tokens["max"] > 0
    assert rep.billed_tokens_per_epoch is None and rep.epochs is None
    assert rep.training_tokens is None and rep.epochs_source is None
    data = rep.to_dict()
    assert data["role"] == "validation" and data["tokens"] == rep.tokens
    assert not {"billed_tokens_per_epoch", "epochs", "epochs_source", "training_tokens"} & set(data)
    train = validate_lines(lines * 4, epochs=4).to_dict()
    assert train["role"] == "training" and train["epochs"] == 4 and train["training_tokens"] > 0
    bad = validate_lines([*lines, json.dumps({"messages": []})], role="validation")
    assert [(e.line, e.code) for e in bad.errors] == [(4, "missing_messages_list")]
    with pytest.raises(ValueError, match="role"):
        validate_lines(lines, role="test")
