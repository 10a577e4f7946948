"""Turn a model reply into validated record fields, or into reasons it cannot be used.

A reply is expected to hold ``{"records": [...]}``. It may arrive plain, inside a
```json fence, or wrapped in prose; strings may contain raw newlines (llama.cpp grammars
allow them). ``<think>...</think>`` reasoning is cut out first and never parsed as the
answer. A reply cut off by the token limit (finish_reason ``length``) is not trusted.

Each candidate is validated with pydantic (``records.RECORD_TYPES``) and the shipped JSON
Schema (``records.schema_errors``), and, when given, the reply schema's length bounds.
Reasons are short stable codes plus a detail: ``truncated``, ``invalid_json: ...``,
``no_records: ...``, ``schema: output: ...``, and for a conversation template
``conversation:not_alternating`` (``empty_turn``, ``ends_with_user``, ``too_few_turns``,
``too_many_turns``), and for a tool template ``tool_call:invalid_arguments`` (``unknown_tool``,
``unanswered``, ``orphan_result``, ``no_call``, ``no_final_answer`` ...: ``tools.py``).
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import ValidationError

from generator.generate.tools import ToolUse, to_record, tool_problem
from generator.records import RECORD_TYPES, schema_errors, turn_problem

_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder(strict=False)  # strict=False: raw control characters in strings
_DETAIL_MAX = 300


@dataclass(frozen=True)
class Reason:
    """Why something was rejected: a stable ``code`` (for counting) and a human ``detail``."""

    code: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


class Checked(NamedTuple):
    """One candidate record: its format fields when valid, else None and the reason."""

    fields: dict[str, Any] | None
    error: Reason | None


@dataclass
class ParsedReply:
    """Outcome of :func:`parse_reply`.

    ``reason`` is set when the whole reply is unusable (then ``items`` is empty);
    ``reasoning`` holds any thinking text cut out of the reply.
    """

    reason: Reason | None
    items: list[Checked] = field(default_factory=list)
    reasoning: str | None = None

    @property
    def valid(self) -> list[dict[str, Any]]:
        return [c.fields for c in self.items if c.fields is not None]

    @property
    def errors(self) -> list[Reason]:
        found = [self.reason] if self.reason else []
        return found + [c.error for c in self.items if c.error is not None]


def _clip(text: str, limit: int = _DETAIL_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def split_reasoning(text: str) -> tuple[str, str | None]:
    """(answer, reasoning): remove ``<think>`` blocks; an unclosed opening tag makes the
    rest reasoning, a lone closing tag (template-opened thinking) makes what precedes it so."""
    parts: list[str] = []

    def keep(m: re.Match[str]) -> str:
        parts.append(m.group(2).strip())
        return ""

    answer = _THINK_BLOCK.sub(keep, text)
    close = list(_THINK_CLOSE.finditer(answer))
    if close:
        parts.append(answer[: close[-1].start()].strip())
        answer = answer[close[-1].end() :]
    opened = _THINK_OPEN.search(answer)
    if opened:
        parts.append(answer[opened.end() :].strip())
        answer = answer[: opened.start()]
    reasoning = "\n\n".join(p for p in parts if p) or None
    return answer.strip(), reasoning


def extract_json(text: str) -> Any:
    """The first JSON value found in ``text``: whole text, then fenced blocks, then the first
    decodable object or array inside prose (an object with ``records`` preferred).

    Raises ValueError with the decoder's message when nothing decodes.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty reply")
    first_error: str | None = None
    for block in [text, *(m.group(2) for m in _FENCE.finditer(text))]:
        try:
            return _DECODER.decode(block.strip())
        except json.JSONDecodeError as exc:
            first_error = first_error or str(exc)
    fallback: Any = None
    for m in re.finditer(r"[{\[]", text):
        try:
            value, _ = _DECODER.raw_decode(text, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "records" in value:
            return value
        if fallback is None and isinstance(value, dict | list) and value:
            fallback = value
    if fallback is not None:
        return fallback
    raise ValueError(first_error or "no JSON object found")


def candidates(value: Any) -> list[Any]:
    """Candidate record objects in a decoded reply: ``{"records": [...]}``, a bare list or
    a single record object. Raises ValueError when none can be found."""
    if isinstance(value, dict) and "records" in value:
        recs = value["records"]
        if isinstance(recs, dict):
            return [recs]
        if not isinstance(recs, list):
            raise ValueError(f"'records' is {type(recs).__name__}, not a list")
        return recs
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value]
    raise ValueError(f"reply is a JSON {type(value).__name__}, not an object")


def check_record(
    item: Any,
    fmt: str,
    meta: dict[str, Any] | None = None,
    item_schema: dict | None = None,
    schema_key: str | None = None,
    turns: tuple[int, int] | None = None,
    tools: tuple[Any, ToolUse] | None = None,
) -> Checked:
    """Validate one candidate with pydantic, the record JSON Schema and the reply bounds.

    ``meta`` is the provenance to validate with (a placeholder id is used when None); the
    returned fields never include ``meta``: the caller attaches the real one.
    ``schema_key`` is ``item_schema`` as canonical JSON, when the caller already has it.
    ``turns`` (min, max) makes it a conversation: ``records.turn_problem`` is checked
    first, so its reason (``conversation:not_alternating`` ...) is the one reported.
    ``tools`` (catalogue, rules) makes it a tool conversation: ``tools.tool_problem`` is
    checked first (``tool_call:invalid_arguments`` ...), then the reply bounds, and the
    record's fields are the OpenAI shape of ``tools.to_record`` (the catalogue included).
    """
    if not isinstance(item, dict):
        return Checked(None, Reason("schema", f"record is {type(item).__name__}, not an object"))
    if "meta" in item:
        return Checked(None, Reason("schema", "meta: set by instructforge, not by the model"))
    msgs = item.get("messages")
    if turns is not None and isinstance(msgs, list) and all(isinstance(m, dict) for m in msgs):
        problem = turn_problem(msgs, *turns)
        if problem is not None:
            code, _, detail = problem.partition(": ")
            return Checked(None, Reason(f"conversation:{code}", _clip(detail)))
    if tools is not None:
        return _check_tool_record(item, fmt, meta, item_schema, schema_key, tools)
    reason = _record_reason(fmt, {**item, "meta": meta or {"id": "pending", "format": fmt}})
    if reason is not None:
        return Checked(None, reason)
    problems = _bounds_errors(item_schema, item, schema_key) if item_schema is not None else []
    if problems:
        return Checked(None, Reason("schema", _clip(problems[0])))
    return Checked(dict(item), None)


def _record_reason(fmt: str, data: dict[str, Any]) -> Reason | None:
    """Why ``data`` (fields and meta) is not a record of ``fmt``: our model first, then the
    shipped JSON Schema; None when it is one."""
    try:
        RECORD_TYPES[fmt].model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        return Reason("schema", _clip(f"{loc}: {err['msg']}"))
    problems = schema_errors(fmt, data)
    return Reason("schema", _clip(problems[0])) if problems else None


def _check_tool_record(
    item: dict[str, Any],
    fmt: str,
    meta: dict[str, Any] | None,
    item_schema: dict | None,
    schema_key: str | None,
    tools: tuple[Any, ToolUse],
) -> Checked:
    catalogue, rules = tools
    msgs = item.get("messages")
    if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
        return Checked(None, Reason("schema", "messages: must be a list of objects"))
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in catalogue}
    problem = tool_problem(msgs, schemas, rules)
    if problem is not None:
        code, _, detail = problem.partition(": ")
        return Checked(None, Reason(f"tool_call:{code}", _clip(detail)))
    problems = _bounds_errors(item_schema, item, schema_key) if item_schema is not None else []
    if problems:
        return Checked(None, Reason("schema", _clip(problems[0])))
    fields = to_record(item, catalogue)
    reason = _record_reason(fmt, {**fields, "meta": meta or {"id": "pending", "format": fmt}})
    return Checked(None, reason) if reason is not None else Checked(fields, None)


@functools.lru_cache(maxsize=64)
def _bounds_validator(schema_json: str) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_json))


@functools.lru_cache(maxsize=64)
def _fast_bounds_validator(schema_json: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(json.loads(schema_json))


def _bounds_errors(
    schema: dict[str, Any], item: dict[str, Any], key: str | None = None
) -> list[str]:
    # Building a validator costs more than validating a record: build one per schema. The
    # Rust validator decides; jsonschema words the errors of the (rare) invalid ones.
    key = key or json.dumps(schema, sort_keys=True)
    if _fast_bounds_validator(key).is_valid(item):
        return []
    validator = _bounds_validator(key)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(item)
    ]


def parse_reply(
    text: str | None,
    fmt: str,
    *,
    finish_reason: str | None = None,
    meta: dict[str, Any] | None = None,
    schema: dict[str, Any] | None = None,
    turns: tuple[int, int] | None = None,
    tools: tuple[Any, ToolUse] | None = None,
) -> ParsedReply:
    """Parse and validate a whole reply. ``schema`` is :func:`prompts.reply_schema`'s
    result; its item schema (length bounds) then applies to every record. ``turns``: a
    conversation template's (min, max) turns (see :func:`check_record`)."""
    answer, reasoning = split_reasoning(text or "")
    if finish_reason == "length":
        return ParsedReply(Reason("truncated", "finish_reason=length"), reasoning=reasoning)
    if not answer:
        return ParsedReply(Reason("empty", "no answer outside the reasoning"), reasoning=reasoning)
    try:
        value = extract_json(answer)
    except ValueError as exc:
        return ParsedReply(Reason("invalid_json", _clip(str(exc))), reasoning=reasoning)
    try:
        items = candidates(value)
    except ValueError as exc:
        return ParsedReply(Reason("no_records", _clip(str(exc))), reasoning=reasoning)
    if not items:
        return ParsedReply(Reason("no_records", "'records' is empty"), reasoning=reasoning)
    item_schema = key = None
    if schema is not None:
        item_schema = schema["properties"]["records"]["items"]
        key = json.dumps(item_schema, sort_keys=True)  # once per reply, not per record
    checked = [check_record(item, fmt, meta, item_schema, key, turns, tools) for item in items]
    return ParsedReply(None, checked, reasoning)


def reask_messages(
    messages: list[dict[str, Any]], bad_reply: str, error: Reason | str
) -> list[dict[str, Any]]:
    """A COPY of ``messages`` plus the bad reply and a user turn naming the error.

    The caller's list and its dicts are never modified.
    """
    fixed = copy.deepcopy(messages)
    fixed.append({"role": "assistant", "content": bad_reply or "(empty reply)"})
    fixed.append(
        {
            "role": "user",
            "content": (
                f"Your reply could not be used ({error}). Reply again with only the JSON "
                'object {"records": [...]} following the required schema, no other text.'
            ),
        }
    )
    return fixed


def summarise(parsed: ParsedReply) -> Reason | None:
    """One reason for a reply with no valid record (for the re-ask and rejected.jsonl)."""
    if parsed.valid:
        return None
    if parsed.reason is not None:
        return parsed.reason
    errs = parsed.errors
    first = errs[0]
    extra = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
    return Reason(first.code, first.detail + extra)
