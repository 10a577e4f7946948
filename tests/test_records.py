"""The pydantic record models and the shipped JSON Schema files accept and reject alike."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from generator.records import RECORD_TYPES, json_schema, parse_record, schema_errors

FULL_META: dict[str, Any] = {
    "provider": "openai",
    "model": "openai/gpt-4o-mini",
    "policy": {"id": "openai", "version": "2026-01", "sha256": "ab" * 32},
    "prompt": {"id": "qa", "version": "1", "sha256": "cd" * 32},
    "source": {
        "path": "handbook/leave.md",
        "doc_sha256": "ef" * 32,
        "chunk_id": "c1",
        "span": [0, 1234],
    },
    "created_at": "2026-03-01T10:00:00Z",
    "usage": {"prompt_tokens": 812, "completion_tokens": 95, "cost_usd": 0.0004},
    "curation": {"quality": 0.9},
}

VALID: dict[str, dict[str, Any]] = {
    "alpaca": {
        "instruction": "How many leave days?",
        "input": "",
        "output": "Thirty.",
        "meta": {"id": "r1", "format": "alpaca"},
    },
    "chat": {
        "messages": [
            {"role": "system", "content": "Answer from the handbook."},
            {"role": "user", "content": "How many leave days?"},
            {"role": "assistant", "content": "Thirty."},
        ],
        "meta": {"id": "r2", "format": "chat"},
    },
    "completion": {
        "prompt": "Leave per year:",
        "completion": " thirty days.",
        "meta": {"id": "r3", "format": "completion"},
    },
}
TEXT_FIELDS = {
    "alpaca": [("instruction",), ("output",)],
    "chat": [("messages", 1, "content"), ("messages", 2, "content")],
    "completion": [("prompt",), ("completion",)],
}
REQUIRED = {
    "alpaca": [("instruction",), ("output",), ("meta",), ("meta", "id"), ("meta", "format")],
    "chat": [
        ("messages",),
        ("meta",),
        ("meta", "id"),
        ("meta", "format"),
        ("messages", 0, "role"),
        ("messages", 1, "content"),
    ],
    "completion": [("prompt",), ("completion",), ("meta",), ("meta", "id")],
}


_CALL_ITEM = {"id": "c1", "type": "function", "function": {"name": "days", "arguments": "{}"}}
_CALL = {"role": "assistant", "content": None, "tool_calls": [_CALL_ITEM]}
_RESULT = {"role": "tool", "tool_call_id": "c1", "content": "30"}


def _set(data: dict, path: tuple, value: Any) -> dict:
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _drop(data: dict, path: tuple) -> dict:
    data = copy.deepcopy(data)
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def cases() -> list[tuple[str, str, dict, bool]]:
    out: list[tuple[str, str, dict, bool]] = []
    for fmt, valid in VALID.items():
        out.append((fmt, "valid minimal", valid, True))
        out.append(
            (fmt, "valid full meta", _set(valid, ("meta",), {**valid["meta"], **FULL_META}), True)
        )
        out.append((fmt, "foreign meta key kept", _set(valid, ("meta", "origin"), "crm"), True))
        for path in REQUIRED[fmt]:
            out.append((fmt, f"missing {path}", _drop(valid, path), False))
        for path in TEXT_FIELDS[fmt]:
            out.append((fmt, f"empty {path}", _set(valid, path, ""), False))
            out.append((fmt, f"whitespace {path}", _set(valid, path, " \n\t"), False))
            out.append((fmt, f"int {path}", _set(valid, path, 42), False))
            out.append((fmt, f"null {path}", _set(valid, path, None), False))
            out.append((fmt, f"list {path}", _set(valid, path, ["a"]), False))
        out += [
            (fmt, "extra top-level key", _set(valid, ("extra",), "x"), False),
            (fmt, "meta not an object", _set(valid, ("meta",), "m"), False),
            (fmt, "empty meta id", _set(valid, ("meta", "id"), ""), False),
            (fmt, "unknown format", _set(valid, ("meta", "format"), "sharegpt"), False),
            (
                fmt,
                "format of another type",
                _set(valid, ("meta", "format"), "completion" if fmt != "completion" else "chat"),
                False,
            ),
            (
                fmt,
                "extra key in policy ref",
                _set(valid, ("meta", "policy"), {**FULL_META["policy"], "url": "x"}),
                False,
            ),
            (
                fmt,
                "policy ref missing hash",
                _set(valid, ("meta", "policy"), {"id": "openai", "version": "1"}),
                False,
            ),
            (
                fmt,
                "span of three",
                _set(valid, ("meta", "source"), {**FULL_META["source"], "span": [0, 1, 2]}),
                False,
            ),
            (
                fmt,
                "span of strings",
                _set(valid, ("meta", "source"), {**FULL_META["source"], "span": ["0", "9"]}),
                False,
            ),
            (
                fmt,
                "tokens as string",
                _set(valid, ("meta", "usage"), {"prompt_tokens": "5"}),
                False,
            ),
            (fmt, "tokens as bool", _set(valid, ("meta", "usage"), {"prompt_tokens": True}), False),
            (
                fmt,
                "span of fractions",
                _set(valid, ("meta", "source"), {**FULL_META["source"], "span": [0.5, 2]}),
                False,
            ),
            (fmt, "whitespace meta id", _set(valid, ("meta", "id"), "  "), False),
            (fmt, "cost as string", _set(valid, ("meta", "usage"), {"cost_usd": "0.1"}), False),
            (fmt, "unknown cost", _set(valid, ("meta", "usage"), {"cost_usd": None}), True),
            (fmt, "provider as number", _set(valid, ("meta", "provider"), 3), False),
            (fmt, "curation not an object", _set(valid, ("meta", "curation"), []), False),
            (fmt, "record is a list", [valid], False),  # type: ignore[list-item]
        ]
    alpaca, chat, comp = VALID["alpaca"], VALID["chat"], VALID["completion"]
    msgs = chat["messages"]
    out += [
        ("alpaca", "input missing (defaults to empty)", _drop(alpaca, ("input",)), True),
        ("alpaca", "input whitespace is allowed", _set(alpaca, ("input",), "  "), True),
        ("alpaca", "input as number", _set(alpaca, ("input",), 3), False),
        ("alpaca", "input null", _set(alpaca, ("input",), None), False),
        ("chat", "wrong role", _set(chat, ("messages", 1, "role"), "bot"), False),
        ("chat", "role in capitals", _set(chat, ("messages", 1, "role"), "User"), False),
        ("chat", "tool role", _set(chat, ("messages", 1, "role"), "tool"), False),
        ("chat", "no assistant turn", _set(chat, ("messages",), msgs[:2]), False),
        ("chat", "no user turn", _set(chat, ("messages",), [msgs[0], msgs[2]]), False),
        ("chat", "only one message", _set(chat, ("messages",), [msgs[1]]), False),
        ("chat", "no messages", _set(chat, ("messages",), []), False),
        ("chat", "multi-turn", _set(chat, ("messages",), [*msgs, msgs[1], msgs[2]]), True),
        ("chat", "without system", _set(chat, ("messages",), msgs[1:]), True),
        ("chat", "extra key in a message", _set(chat, ("messages", 1, "mood"), "jo"), False),
        # OpenAI's optional chat keys (issue 16, item 8)
        ("chat", "name on a turn", _set(chat, ("messages", 1, "name"), "jo"), True),
        ("chat", "weight 0", _set(chat, ("messages", 2, "weight"), 0), True),
        ("chat", "weight 2", _set(chat, ("messages", 2, "weight"), 2), False),
        ("chat", "weight true", _set(chat, ("messages", 2, "weight"), True), False),
        ("chat", "tools", _set(chat, ("tools",), [{"type": "function"}]), True),
        ("chat", "tools not a list", _set(chat, ("tools",), {"type": "function"}), False),
        (
            "chat",
            "tool-call turn",
            _set(chat, ("messages",), [*msgs[:2], _CALL, _RESULT, msgs[2]]),
            True,
        ),
        (
            "chat",
            "user with tool_calls",
            _set(chat, ("messages", 1, "tool_calls"), [_CALL_ITEM]),
            False,
        ),
        ("chat", "empty tool_calls", _set(_CALLS, ("messages", 2, "tool_calls"), []), False),
        ("chat", "content null, no call", _set(chat, ("messages", 2, "content"), None), False),
        ("chat", "content missing, no call", _drop(chat, ("messages", 2, "content")), False),
        ("chat", "message not an object", _set(chat, ("messages", 1), "hi"), False),
        ("chat", "messages not a list", _set(chat, ("messages",), {"role": "user"}), False),
        ("chat", "alpaca fields in chat", _set(chat, ("instruction",), "x"), False),
        ("completion", "completion as list", _set(comp, ("completion",), ["a", "b"]), False),
    ]
    return out


_CALLS = {**VALID["chat"], "messages": [*VALID["chat"]["messages"][:2], _CALL, _RESULT]}
CASES = cases()


@pytest.mark.parametrize(
    ("fmt", "name", "data", "expected"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_models_and_schemas_agree(fmt: str, name: str, data: Any, expected: bool):
    try:
        RECORD_TYPES[fmt].model_validate(data)
        model_ok = True
    except ValidationError:
        model_ok = False
    errors = schema_errors(fmt, data)
    assert model_ok == expected, f"pydantic {'accepted' if model_ok else 'rejected'} {name}"
    assert (not errors) == expected, f"schema disagrees on {name}: {errors}"


def test_there_are_enough_cases_of_each_kind():
    for fmt in VALID:
        kinds = [c for c in CASES if c[0] == fmt]
        assert sum(c[3] for c in kinds) >= 4 and sum(not c[3] for c in kinds) >= 25


@pytest.mark.parametrize("fmt", list(VALID))
def test_round_trip_through_json(fmt: str):
    data = _set(VALID[fmt], ("meta",), {**VALID[fmt]["meta"], **FULL_META})
    record = parse_record(data)
    assert record.to_dict() == data
    assert list(record.to_dict())[-1] == "meta"
    assert not schema_errors(fmt, record.to_dict())
    assert json_schema(fmt)["additionalProperties"] is False
