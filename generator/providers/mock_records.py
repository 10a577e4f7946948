"""How the mock provider writes its replies: grounded, deterministic, schema-shaped records.

The reply follows the request's JSON schema when there is one:

- record format from the record schema's properties (``instruction``/``output`` → alpaca,
  ``messages`` → chat, ``prompt``/``completion`` → completion);
- the envelope from the top level: an array → a bare list; an object with an array
  property → ``{"<that property>": [...]}``; a single-record schema → one record;
- the number of records from the prompt ("3 records", "five questions"), clamped to the
  array's ``minItems``/``maxItems``; string lengths clamped to ``minLength``/``maxLength``;
- a chat schema whose ``messages`` need 3 or more items (a ``turns:`` template) gets
  conversations: alternating turns, an even number within the limits, each follow-up
  quoting the previous answer and each answer a later sentence of the document;
- a tool template's schema (calls pinned to the catalogue's tools) gets tool conversations
  with arguments valid against each tool's schema (``mock_tools.py``).

Without a schema the format is read from the prompt (``"messages"`` → chat,
``"completion"`` → completion, else alpaca) and the reply is ``{"records": [...]}``.
Sentences come from the ``<document>…</document>`` block (also ``<chunk>``, ``<data>``,
``<context>``), else from the last user message.
"""

from __future__ import annotations

import functools
import json
import random
import re
from typing import Any

from generator.providers.mock_kinds import kind_records
from generator.providers.mock_tools import tool_conversation, tool_variants

_BLOCK = re.compile(r"<(document|chunk|data|context)\b[^>]*>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_SENT = re.compile(r"(?<=[.!?])\s+|\n+")
_NUM_WORDS = {
    w: i
    for i, w in enumerate(
        ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"], 1
    )
}
_COUNT = re.compile(
    r"\b(\d{1,3}|" + "|".join(_NUM_WORDS) + r")\s+(?:[\w-]+\s+){0,2}?"
    r"(records|examples|tasks|questions|items|conversations|pairs|instructions|prompts|entries)\b",
    re.IGNORECASE,
)
_ASK = (
    "What does the document say about {t}?",
    "Explain {t} as described in the text.",
    "Summarise the point made about {t}.",
    "According to the document, what is true of {t}?",
    "How does the text describe {t}?",
)
_FOLLOW = (
    'You mentioned "{t}". What else applies there?',
    'Following up on "{t}": what does that lead to?',
    'About "{t}" — is there more to it?',
    'Can you expand on "{t}"?',
)
MAX_RECORDS = 20


def _content(m: dict[str, Any]) -> str:
    return str(m.get("content") or "")


def source_text(messages: list[dict[str, Any]]) -> str:
    """The data blocks of the user messages (a system prompt that merely mentions
    ``<document> … </document>`` is not data), else of any message, else the last user
    message."""
    users = [_content(m) for m in messages if m.get("role") == "user"]
    for texts in (users, [_content(m) for m in messages]):
        blocks = [b.group(2) for t in texts for b in _BLOCK.finditer(t)]
        if any(len(b.split()) >= 4 for b in blocks):
            return "\n".join(blocks)
    return users[-1] if users else ""


def sentences(text: str) -> list[str]:
    """Sentences of at least four words, markdown heading marks and bullets removed."""
    return list(_sentences(text))


@functools.lru_cache(maxsize=256)
def _sentences(text: str) -> tuple[str, ...]:
    # cached: a run asks about each chunk several times (records per chunk / per call)
    out = []
    for part in _SENT.split(text):
        s = re.sub(r"^[#>*\-\s\d.)]+", "", part).strip()
        if len(s.split()) >= 4:
            out.append(s)
    return tuple(out) or ("The document contains no full sentences to draw from.",)


def requested_count(messages: list[dict[str, Any]]) -> int | None:
    """The number of records the prompt asks for ("Write 3 records"), if it says (the data
    blocks are not read: a document may well mention "10 questions")."""
    for m in reversed(messages):
        match = _COUNT.search(_BLOCK.sub(" ", _content(m)))
        if match:
            raw = match.group(1).lower()
            return int(raw) if raw.isdigit() else _NUM_WORDS[raw]
    return None


def _record_schema(
    schema: dict[str, Any] | None,
) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
    """(envelope kind, array schema, record schema); kind is list, key:<name>, one or none."""
    if not schema:
        return "key:records", None, None
    if schema.get("type") == "array":
        return "list", schema, schema.get("items") or {}
    for key, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("type") == "array" and key != "messages":
            items = prop.get("items") or {}
            if isinstance(items, dict) and items.get("type", "object") == "object":
                return f"key:{key}", prop, items
    return "one", None, schema


def detect_format(record_schema: dict[str, Any] | None, messages: list[dict[str, Any]]) -> str:
    props = set((record_schema or {}).get("properties") or {})
    if not props:
        text = "\n".join(_content(m) for m in messages)
        props = {k for k in ("messages", "completion", "instruction") if f'"{k}"' in text}
    if "messages" in props:
        return "chat"
    if "completion" in props or "prompt" in props:
        return "completion"
    return "alpaca"


def _topic(sentence: str) -> str:
    words = re.sub(r"[^\w\s'-]", "", sentence).split()
    return " ".join(words[:6]).lower() if words else "this topic"


def _turn_limits(record_schema: dict[str, Any] | None) -> tuple[int, int] | None:
    """(min, max) turns when the schema asks for a conversation (``messages`` with
    ``minItems`` of 3 or more, as a ``turns:`` template writes it), else None."""
    msgs = ((record_schema or {}).get("properties") or {}).get("messages") or {}
    lo = msgs.get("minItems") if isinstance(msgs, dict) else None
    if not isinstance(lo, int) or lo < 3:
        return None
    hi = msgs.get("maxItems")
    return lo, hi if isinstance(hi, int) and hi >= lo else lo + 4


def _conversation(
    sents: list[str], i: int, rng: random.Random, limits: tuple[int, int]
) -> dict[str, Any]:
    """Alternating user/assistant turns ending with the assistant, an even number within
    ``limits``; each follow-up quotes the previous answer, each answer is a later sentence."""
    lo, hi = limits
    evens = list(range(lo + lo % 2, hi + 1, 2)) or [lo + lo % 2]
    n = rng.choice(evens)
    answer = sents[i % len(sents)]
    msgs = [
        {"role": "user", "content": rng.choice(_ASK).format(t=_topic(answer))},
        {"role": "assistant", "content": answer},
    ]
    for k in range(1, n // 2):
        msgs.append({"role": "user", "content": rng.choice(_FOLLOW).format(t=_topic(answer))})
        answer = sents[(i + k) % len(sents)]
        msgs.append({"role": "assistant", "content": answer})
    return {"messages": msgs}


def _one(
    fmt: str, sents: list[str], i: int, rng: random.Random, turns: tuple[int, int] | None = None
) -> dict[str, Any]:
    s = sents[i % len(sents)]
    nxt = sents[(i + 1) % len(sents)]
    if fmt == "chat" and turns is not None:
        return _conversation(sents, i, rng, turns)
    ask = rng.choice(_ASK).format(t=_topic(s))
    if fmt == "chat":
        msgs = [{"role": "user", "content": ask}, {"role": "assistant", "content": s}]
        if rng.random() < 0.5 and nxt != s:
            msgs += [
                {"role": "user", "content": "What else does it say on this?"},
                {"role": "assistant", "content": nxt},
            ]
        return {"messages": msgs}
    if fmt == "completion":
        words = s.split()
        cut = max(2, len(words) // 2)
        return {"prompt": " ".join(words[:cut]), "completion": " " + " ".join(words[cut:])}
    with_input = rng.random() < 0.4 and nxt != s
    return {
        "instruction": ask if not with_input else f"Using the passage, answer: {ask}",
        "input": nxt if with_input else "",
        "output": s,
    }


def _fit(value: Any, schema: dict[str, Any] | None) -> Any:
    """Clamp strings to min/maxLength (recursively through objects and arrays)."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, str):
        hi, lo = schema.get("maxLength"), schema.get("minLength")
        if hi is not None and len(value) > hi:
            value = value[:hi].rstrip() or value[:hi]
        if lo is not None and len(value) < lo:
            value = value + "." * (lo - len(value))
        return value
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        return {k: _fit(v, props.get(k)) for k, v in value.items()}
    if isinstance(value, list):
        if schema.get("maxItems") is not None:
            value = value[: schema["maxItems"]]
        return [_fit(v, schema.get("items")) for v in value]
    return value


def _drop_unknown(record: dict[str, Any], record_schema: dict[str, Any] | None) -> dict[str, Any]:
    props = (record_schema or {}).get("properties")
    if not props or (record_schema or {}).get("additionalProperties", True) is not False:
        return record
    return {k: v for k, v in record.items() if k in props}


def build_records(
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    digest: str,
    count: int | None = None,
    variant: str = "",
) -> tuple[str, list[dict[str, Any]]]:
    """(envelope kind, records) for the request; deterministic from ``digest``."""
    kind, array, record_schema = _record_schema(schema)
    fmt = detect_format(record_schema, messages)
    array = array or {}
    n = count or requested_count(messages) or array.get("maxItems") or array.get("minItems") or 1
    n = max(n, array.get("minItems") or 0)
    if array.get("maxItems") is not None:
        n = min(n, array["maxItems"])
    n = 1 if kind == "one" else max(0, min(int(n), MAX_RECORDS))
    rng = random.Random(digest)
    sents = sentences(source_text(messages))
    start = rng.randrange(len(sents))
    made = kind_records(record_schema, messages, n, rng, variant)  # pairs / evalset schemas
    if made is not None:
        return kind, [_fit(r, record_schema) for r in made]
    turns = _turn_limits(record_schema) if fmt == "chat" else None
    tools = tool_variants(record_schema) if fmt == "chat" else []
    if tools:  # a tool_use: template's schema (mock_tools.py)
        records = [
            tool_conversation(sents, k, rng, tools, _topic(sents[k % len(sents)]))
            for k in range(start, start + n)
        ]
    else:
        records = [_one(fmt, sents, start + i, rng, turns) for i in range(n)]
    records = [_fit(_drop_unknown(r, record_schema), record_schema) for r in records]
    return kind, records


def build_reply(
    messages: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    digest: str,
    count: int | None = None,
    indent: int | None = 1,
    variant: str = "",
) -> str:
    """The JSON text of a well-formed reply (``indent`` None: compact, and much cheaper:
    only then does Python's JSON encoder run in C)."""
    kind, records = build_records(messages, schema, digest, count, variant)
    if kind == "list":
        payload: Any = records
    elif kind == "one":
        payload = records[0]
    else:
        payload = {kind.split(":", 1)[1]: records}
    return json.dumps(payload, ensure_ascii=False, indent=indent)


def malformed_text(reply: str) -> str:
    """Prose with the reply's strings but no parseable JSON (no braces or brackets)."""
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"\s*:\s*"((?:[^"\\]|\\.)*)"', reply)
    body = "\n".join(f"- {k}: {v}" for k, v in strings) or "- (nothing)"
    return "Sure! Here are the records you asked for:\n" + body.replace("{", "(").replace("}", ")")
