"""Tool-calling data: the user's tool catalogue (``generate --tools FILE``), the rules of a
``tool_use:`` template, and the checks every tool conversation must pass (its reply schema
is in ``tool_schema.py``).

The catalogue is a JSON or YAML file holding a list of functions (or ``{"tools": [...]}``),
each in OpenAI's shape ``{"type": "function", "function": {"name", "description",
"parameters"}}`` or bare ``{"name", "description", "parameters"}``; ``parameters`` is a JSON
Schema of an object. It is validated on load (names, duplicates, each schema checked with
jsonschema's meta-schema) and a bad file fails with its path, the entry and the field.

The model writes each conversation in a compact shape (arguments as a JSON object, not a
string of JSON)::

    {"role": "user", "content": "..."}
    {"role": "assistant", "tool_calls": [{"id": "call_1", "name": "...", "arguments": {...}}]}
    {"role": "tool", "tool_call_id": "call_1", "content": "the result, from the document"}
    {"role": "assistant", "content": "the answer, from that result"}

:func:`tool_problem` says why a conversation is not acceptable (``unknown_tool``,
``invalid_arguments`` against the tool's schema, ``unanswered`` call, ``orphan_result``,
``no_call``, ``too_many_calls``, ``no_final_answer`` ...) and :func:`to_record` turns a good
one into the record's OpenAI fine-tuning shape (``tool_calls[].function.arguments`` as a
JSON string, the catalogue as the record's ``tools``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from generator.errors import ConfigError
from generator.yamlfile import SafeYamlLoader, yaml_problem

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_FUNCTION_KEYS = {"name", "description", "parameters", "strict"}
_EMPTY_PARAMS: dict[str, Any] = {"type": "object", "properties": {}}


class ToolUse(BaseModel):
    """A tool-calling template's rules (``tool_use:`` in its YAML; chat format only)."""

    model_config = ConfigDict(extra="forbid")

    min_calls: int = Field(1, ge=0, le=16)  # tool calls a conversation must make
    max_calls: int = Field(4, ge=1, le=16)
    max_turns: int = Field(12, ge=3, le=64)  # messages, tool turns included

    @model_validator(mode="after")
    def _ordered(self) -> ToolUse:
        if self.min_calls > self.max_calls:
            raise ValueError("min_calls must not exceed max_calls")
        return self


@dataclass(frozen=True)
class Catalogue:
    """The tools of a run, in OpenAI's ``tools`` shape, and the file they came from."""

    path: str
    sha256: str
    tools: tuple[dict[str, Any], ...]

    def schemas(self) -> dict[str, dict[str, Any]]:
        """Tool name -> its parameters schema."""
        return {t["function"]["name"]: t["function"]["parameters"] for t in self.tools}


def _read(path: Path) -> tuple[bytes, Any]:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--tools {path}: cannot read: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            return raw, json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--tools {path}: not valid JSON: {exc}") from exc
    try:  # YAML is a superset of JSON: one loader for .yaml, .yml and anything else
        return raw, yaml.load(text, Loader=SafeYamlLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--tools {path}: not valid YAML: {yaml_problem(exc)}") from exc


def _function(entry: Any, where: str) -> dict[str, Any]:
    """The ``function`` object of one catalogue entry, checked (raises ConfigError)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object, got {type(entry).__name__}")
    if "function" in entry or "type" in entry:
        if entry.get("type") != "function" or not isinstance(entry.get("function"), dict):
            raise ConfigError(f'{where}: expected {{"type": "function", "function": {{...}}}}')
        extra = set(entry) - {"type", "function"}
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        entry = entry["function"]
    extra = set(entry) - _FUNCTION_KEYS
    if extra:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(extra))} (a function has name, "
            "description, parameters)"
        )
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{where}: name: must be 1-64 letters, digits, _ or -, got {name!r}")
    desc = entry.get("description", "")
    if not isinstance(desc, str):
        raise ConfigError(f"{where} ({name}): description: must be a string")
    params = entry.get("parameters", _EMPTY_PARAMS)
    if not isinstance(params, dict) or params.get("type") != "object":
        raise ConfigError(
            f'{where} ({name}): parameters: must be a JSON Schema with "type": "object"'
        )
    import jsonschema

    try:
        jsonschema.validators.validator_for(params).check_schema(params)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(p) for p in exc.absolute_path) or "<root>"
        raise ConfigError(
            f"{where} ({name}): parameters: not a valid JSON Schema at {at}: {exc.message}"
        ) from exc
    fn: dict[str, Any] = {"name": name, "description": desc, "parameters": params}
    if "strict" in entry:
        fn["strict"] = bool(entry["strict"])
    return fn


def load_catalogue(path: str | Path) -> Catalogue:
    """Load and validate a tool catalogue (see the module docstring); ConfigError (exit 2)
    names the file, the entry and the field of the first problem."""
    path = Path(path)
    raw, data = _read(path)
    if isinstance(data, dict) and set(data) == {"tools"}:
        data = data["tools"]
    if not isinstance(data, list) or not data:
        raise ConfigError(
            f'--tools {path}: expected a non-empty list of functions (or {{"tools": [...]}})'
        )
    tools: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, entry in enumerate(data):
        fn = _function(entry, f"--tools {path}: tools[{i}]")
        if fn["name"] in seen:
            raise ConfigError(f"--tools {path}: tools[{i}]: name {fn['name']!r} appears twice")
        seen.add(fn["name"])
        tools.append({"type": "function", "function": fn})
    return Catalogue(str(path), hashlib.sha256(raw).hexdigest(), tuple(tools))


# ---------------------------------------------------------------- checking a conversation


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def argument_errors(schema: dict[str, Any], arguments: Any) -> list[str]:
    """Every violation of ``schema`` by ``arguments`` ("path: message"), jsonschema's words."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    ]


def _text(m: dict[str, Any]) -> str:
    content = m.get("content")
    return content.strip() if isinstance(content, str) else ""


def _call_problem(call: Any, schemas: dict[str, dict[str, Any]], ids: set[str]) -> str | None:
    if not isinstance(call, dict):
        return "invalid_call: a tool call is not an object"
    cid, name, args = call.get("id"), call.get("name"), call.get("arguments")
    if not isinstance(cid, str) or not cid.strip():
        return f"invalid_call: call to {name!r} has no id"
    if cid in ids:
        return f"invalid_call: call id {cid!r} used twice"
    if name not in schemas:
        return f"unknown_tool: {name!r} is not in the catalogue ({', '.join(sorted(schemas))})"
    if isinstance(args, str):  # the OpenAI habit of a JSON string: read it, then judge it
        try:
            args = json.loads(args)
        except ValueError:
            return f"invalid_arguments: {name}: arguments are not JSON"
    if not isinstance(args, dict):
        return f"invalid_arguments: {name}: arguments must be an object"
    errors = argument_errors(schemas[name], args)
    if errors:
        return f"invalid_arguments: {name}: {errors[0]}"
    return None


def tool_problem(
    messages: list[dict[str, Any]], schemas: dict[str, dict[str, Any]], rules: ToolUse
) -> str | None:
    """Why a tool conversation (the model's compact shape) is not acceptable, as
    ``"code: detail"``, or None (see the module docstring for the codes)."""
    turns = list(messages)
    if turns and turns[0].get("role") == "system":
        turns = turns[1:]
    if not turns or turns[0].get("role") != "user":
        return "starts_without_user: the first turn must be the user's"
    if len(messages) > rules.max_turns:
        return f"too_many_turns: {len(messages)} messages, at most {rules.max_turns} allowed"
    pending: dict[str, str] = {}  # call id -> tool name, until its result comes
    ids: set[str] = set()
    calls = 0
    for i, m in enumerate(turns, start=1):
        role = m.get("role")
        if role in ("user", "assistant") and pending:
            return f"unanswered: call {next(iter(pending))!r} has no tool result before turn {i}"
        if role == "user" or (role == "assistant" and not m.get("tool_calls")):
            if not _text(m):
                return f"empty_turn: turn {i} ({role}) has no text"
        elif role == "assistant":
            tool_calls = m["tool_calls"]
            if not isinstance(tool_calls, list):
                return f"invalid_call: turn {i}: tool_calls must be a list"
            for call in tool_calls:
                problem = _call_problem(call, schemas, ids)
                if problem is not None:
                    return problem
                ids.add(call["id"])
                pending[call["id"]] = call["name"]
                calls += 1
        elif role == "tool":
            cid = m.get("tool_call_id")
            if cid not in pending:
                return f"orphan_result: turn {i} answers {cid!r}, which no open call made"
            if not _text(m):
                return f"empty_result: the result of {cid!r} ({pending[cid]}) is empty"
            del pending[cid]
        else:
            return f"bad_role: turn {i} has role {role!r}"
    if pending:
        return f"unanswered: call {next(iter(pending))!r} has no tool result"
    last = turns[-1]
    if last.get("role") != "assistant" or last.get("tool_calls") or not _text(last):
        return "no_final_answer: the last turn must be the assistant answering from the results"
    if calls < rules.min_calls:
        return f"no_call: {calls} tool calls, at least {rules.min_calls} needed"
    if calls > rules.max_calls:
        return f"too_many_calls: {calls} tool calls, at most {rules.max_calls} allowed"
    return None


def to_record(item: dict[str, Any], tools: tuple[dict[str, Any], ...] | list) -> dict[str, Any]:
    """A checked conversation (compact shape) as record fields in OpenAI's fine-tuning shape,
    with the catalogue as ``tools``."""
    out: list[dict[str, Any]] = []
    for m in item["messages"]:
        if m["role"] == "assistant" and m.get("tool_calls"):
            turn: dict[str, Any] = {"role": "assistant"}
            if _text(m):
                turn["content"] = m["content"]
            turn["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {
                        "name": c["name"],
                        "arguments": c["arguments"]
                        if isinstance(c["arguments"], str)
                        else json.dumps(c["arguments"], ensure_ascii=False),
                    },
                }
                for c in m["tool_calls"]
            ]
            out.append(turn)
        elif m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return {"messages": out, "tools": list(tools)}
