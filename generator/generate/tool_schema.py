"""The reply schema of a ``tool_use:`` template: each call's ``name`` pinned to a tool of the
catalogue and its ``arguments`` to that tool's JSON Schema (the parser checks them again with
jsonschema, ``tools.tool_problem``); the mock provider reads the same schema to write tool
conversations (``providers/mock_tools.py``)."""

from __future__ import annotations

import json
from typing import Any

from generator.generate.tools import ToolUse


def _embeddable(params: dict[str, Any]) -> dict[str, Any]:
    """The tool's schema for the reply schema; one with ``$ref`` would point into the wrong
    document once embedded, so it becomes "an object" there (the parser still checks it)."""
    blob = json.dumps(params)
    return {"type": "object"} if '"$ref"' in blob or '"$defs"' in blob else params


def tool_reply_schema(
    n: int, tools: tuple[dict[str, Any], ...] | list, rules: ToolUse, message_limit: int
) -> dict[str, Any]:
    """JSON Schema of the reply ``{"records": [{"messages": [...]}]}`` of a tool template:
    each call's ``name`` pinned to a tool and its ``arguments`` to that tool's schema."""

    def text() -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": message_limit}

    def obj(props: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": props,
            "required": list(props),
            "additionalProperties": False,
        }

    calls = [
        obj(
            {
                "id": {"type": "string", "minLength": 1, "maxLength": 64},
                "name": {"const": t["function"]["name"]},
                "arguments": _embeddable(t["function"]["parameters"]),
            }
        )
        for t in tools
    ]
    call_turn = {  # text beside the calls is optional (null or a string)
        "type": "object",
        "properties": {
            "role": {"const": "assistant"},
            "content": {"type": ["string", "null"], "maxLength": message_limit},
            "tool_calls": {
                "type": "array",
                "minItems": 1,
                "maxItems": rules.max_calls,
                "items": {"anyOf": calls},
            },
        },
        "required": ["role", "tool_calls"],
        "additionalProperties": False,
    }
    turn = {
        "anyOf": [
            obj({"role": {"const": "user"}, "content": text()}),
            obj({"role": {"const": "assistant"}, "content": text()}),
            call_turn,
            obj({"role": {"const": "tool"}, "tool_call_id": {"type": "string"}, "content": text()}),
        ]
    }
    least = 4 if rules.min_calls else 2  # user, call, result, answer
    msgs = {"type": "array", "minItems": least, "maxItems": rules.max_turns, "items": turn}
    item = obj({"messages": msgs})
    records = {"type": "array", "minItems": 1, "maxItems": max(1, n), "items": item}
    return obj({"records": records})
