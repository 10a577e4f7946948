"""How the mock provider writes tool-calling conversations (a ``tool_use:`` template's reply
schema, :func:`generator.generate.tools.tool_reply_schema`).

Each conversation: a question about a sentence of the document, one call to a tool of the
catalogue with arguments built from that tool's JSON Schema (required properties, enum and
const values, numbers within their bounds, strings from the question's topic), the tool's
result carrying the sentence, and an answer that repeats it: grounded in the document and
answered from the result the record carries.
"""

from __future__ import annotations

import random
from typing import Any

_ASK = (
    "Can you look up what applies to {t}?",
    "I need the rule on {t}: what does it say?",
    "Please check {t} for me.",
)


def tool_variants(record_schema: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """(tool name, arguments schema) of every tool the schema's calls may name; [] when the
    schema is not a tool conversation's."""
    msgs = ((record_schema or {}).get("properties") or {}).get("messages") or {}
    items = msgs.get("items") if isinstance(msgs, dict) else None
    for turn in (items or {}).get("anyOf") or []:
        calls = ((turn.get("properties") or {}).get("tool_calls") or {}).get("items") or {}
        out = []
        for call in calls.get("anyOf") or []:
            props = call.get("properties") or {}
            name = (props.get("name") or {}).get("const")
            if isinstance(name, str):
                out.append((name, props.get("arguments") or {"type": "object"}))
        if out:
            return out
    return []


def example_value(schema: Any, words: str, depth: int = 0) -> Any:
    """A value valid against simple JSON Schemas (no patterns), built from ``words``."""
    if not isinstance(schema, dict) or depth > 6:
        return words
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_value(schema[key][0], words, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {
            k: example_value(props.get(k, {}), words, depth + 1)
            for k in schema.get("required") or list(props)
        }
    if kind == "array":
        n = max(1, int(schema.get("minItems") or 1))
        return [example_value(schema.get("items") or {}, words, depth + 1) for _ in range(n)]
    if kind in ("integer", "number"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        hi = schema.get("maximum", schema.get("exclusiveMaximum", lo + 11) - 1)
        value = min(max(lo, 1), hi)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if schema.get("format") == "date":
        return "2026-01-15"
    text = words[: schema.get("maxLength", 80)].strip() or "x"
    return text + "x" * max(0, int(schema.get("minLength") or 0) - len(text))


def tool_conversation(
    sents: list[str],
    i: int,
    rng: random.Random,
    variants: list[tuple[str, dict[str, Any]]],
    topic: str,
) -> dict[str, Any]:
    """One conversation: question, call, result (the sentence), answer (the sentence)."""
    fact = sents[i % len(sents)]
    name, schema = variants[i % len(variants)]
    call_id = f"call_{i % 1000}_{rng.randrange(10_000)}"
    return {
        "messages": [
            {"role": "user", "content": rng.choice(_ASK).format(t=topic)},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": call_id, "name": name, "arguments": example_value(schema, topic)}
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": fact},
            {"role": "assistant", "content": fact},
        ]
    }
