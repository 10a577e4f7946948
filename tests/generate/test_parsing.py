"""Reply parsing: JSON extraction, reasoning, truncation, validation, re-ask."""

from __future__ import annotations

import copy
import json

import pytest

from generator.generate.parsing import (
    Reason,
    extract_json,
    parse_reply,
    reask_messages,
    split_reasoning,
    summarise,
)
from generator.generate.prompts import reply_schema

REC = {"instruction": "How many leave days?", "input": "", "output": "25 days."}
REPLY = json.dumps({"records": [REC]})


@pytest.mark.parametrize(
    "text",
    [
        REPLY,
        f"```json\n{REPLY}\n```",
        f"```\n{REPLY}\n```",
        f"Sure! Here are the records:\n\n{REPLY}\n\nLet me know if you need more.",
        f"Here you go:\n```json\n{REPLY}\n```\nThanks.",
        f'<think>The user wants JSON like {{"records": []}}. Fine.</think>\n{REPLY}',
        f"{{not json}} and then {REPLY}",
    ],
)
def test_reply_shapes_yield_the_record(text: str) -> None:
    parsed = parse_reply(text, "alpaca")
    assert parsed.reason is None
    assert parsed.valid == [REC]


def test_raw_newlines_inside_strings_are_accepted() -> None:
    text = '{"records": [{"instruction": "Steps?", "input": "", "output": "1. Ask\n2. Wait"}]}'
    parsed = parse_reply(text, "alpaca")
    assert parsed.valid == [{"instruction": "Steps?", "input": "", "output": "1. Ask\n2. Wait"}]


def test_think_block_is_never_parsed_as_the_answer() -> None:
    inner = json.dumps({"records": [{"instruction": "Fake?", "input": "", "output": "Fake."}]})
    parsed = parse_reply(f"<think>draft: {inner}</think>\n{REPLY}", "alpaca")
    assert parsed.valid == [REC]
    assert parsed.reasoning is not None and "Fake?" in parsed.reasoning
    # Only reasoning, no answer: nothing is taken from the thinking.
    only = parse_reply(f"<think>{inner}</think>", "alpaca")
    assert only.reason == Reason("empty", "no answer outside the reasoning")
    unclosed = parse_reply(f"<think>{inner}", "alpaca")
    assert unclosed.reason is not None and unclosed.reason.code == "empty"
    assert unclosed.valid == []


def test_template_opened_thinking_with_only_a_closing_tag() -> None:
    answer, reasoning = split_reasoning('I should list one. {"x": 1}</think>' + REPLY)
    assert answer == REPLY
    assert reasoning == 'I should list one. {"x": 1}'


def test_truncated_reply_is_not_trusted_even_if_it_parses() -> None:
    parsed = parse_reply(REPLY, "alpaca", finish_reason="length")
    assert parsed.reason is not None and str(parsed.reason) == "truncated: finish_reason=length"
    assert parsed.valid == []
    assert parse_reply(REPLY, "alpaca", finish_reason="stop").valid == [REC]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"records": [{"instruction": "A", "output": "B"', "invalid_json"),
        ("I cannot help with that.", "invalid_json"),
        ("", "empty"),
        ('{"records": []}', "no_records"),
        ('{"records": "none"}', "no_records"),
        ("42", "no_records"),
    ],
)
def test_unusable_replies_get_a_stable_code(text: str, code: str) -> None:
    parsed = parse_reply(text, "alpaca")
    assert parsed.reason is not None
    assert parsed.reason.code == code
    assert summarise(parsed) == parsed.reason


def test_invalid_json_detail_names_the_decoder_error() -> None:
    parsed = parse_reply('{"records": [{"instruction": "A" "output": "B"}]}', "alpaca")
    assert str(parsed.reason).startswith("invalid_json: Expecting ','")


def test_each_record_validated_separately() -> None:
    records = [
        REC,
        {"instruction": "Q?", "input": ""},  # no output
        {"instruction": "  ", "input": "", "output": "x"},  # blank instruction
        {"instruction": "Q?", "input": "", "output": "A", "extra": 1},
        {"instruction": "Q?", "input": "", "output": "A", "meta": {"id": "x"}},
        "just a string",
    ]
    parsed = parse_reply(json.dumps({"records": records}), "alpaca")
    assert parsed.reason is None
    assert [c.fields for c in parsed.items] == [REC, None, None, None, None, None]
    errors = [str(c.error) for c in parsed.items[1:]]
    assert errors[0].startswith("schema: output")
    assert errors[1].startswith("schema: instruction")
    assert errors[2].startswith("schema: extra")
    assert errors[3].startswith("schema: meta")
    assert errors[4] == "schema: record is str, not an object"
    assert summarise(parsed) is None  # one valid record: the reply is usable


def test_chat_and_completion_records() -> None:
    chat = {
        "messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    }
    bad_chat = {"messages": [{"role": "user", "content": "Hi?"}]}
    parsed = parse_reply(json.dumps({"records": [chat, bad_chat]}), "chat")
    assert parsed.valid == [chat]
    assert parsed.items[1].error is not None and parsed.items[1].error.code == "schema"
    comp = parse_reply(json.dumps([{"prompt": "The", "completion": "end."}]), "completion")
    assert comp.valid == [{"prompt": "The", "completion": "end."}]


def test_reply_schema_bounds_apply_when_given() -> None:
    long = {**REC, "output": "x" * 50}
    schema = reply_schema("alpaca", 2, None)
    schema["properties"]["records"]["items"]["properties"]["output"]["maxLength"] = 10
    parsed = parse_reply(json.dumps({"records": [long]}), "alpaca", schema=schema)
    assert parsed.valid == []
    assert str(parsed.items[0].error).startswith("schema: output:")
    assert "too long" in str(parsed.items[0].error)
    assert parse_reply(json.dumps({"records": [long]}), "alpaca").valid == [long]


def test_meta_is_validated_with_the_record() -> None:
    parsed = parse_reply(REPLY, "alpaca", meta={"id": "r1", "format": "chat"})
    assert parsed.valid == []
    parsed = parse_reply(REPLY, "alpaca", meta={"id": "r1", "format": "alpaca"})
    assert parsed.valid == [REC]


def test_summarise_counts_record_errors() -> None:
    parsed = parse_reply(json.dumps({"records": [{"instruction": "Q"}, {"output": "A"}]}), "alpaca")
    reason = summarise(parsed)
    assert reason is not None and reason.code == "schema"
    assert reason.detail.endswith("(+1 more)")


def test_extract_json_prefers_the_records_object() -> None:
    text = 'Config: {"a": 1}. Answer: {"records": [1]}'
    assert extract_json(text) == {"records": [1]}
    with pytest.raises(ValueError):
        extract_json("no json here")


def test_reask_copies_the_messages() -> None:
    original = [
        {"role": "system", "content": "You write data."},
        {"role": "user", "content": "Write 2 records."},
    ]
    snapshot = copy.deepcopy(original)
    fixed = reask_messages(original, "not json", Reason("invalid_json", "Expecting value"))
    assert original == snapshot
    assert fixed is not original
    assert fixed[:2] == original and fixed[0] is not original[0]
    assert fixed[2] == {"role": "assistant", "content": "not json"}
    assert fixed[3]["role"] == "user"
    assert "invalid_json: Expecting value" in fixed[3]["content"]
    fixed[0]["content"] = "changed"
    assert original[0]["content"] == "You write data."
