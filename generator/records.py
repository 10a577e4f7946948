"""The data types every stage shares: Document, Chunk, and the one record type per format.

A record carries the format's own fields at the top level and all provenance, scores and
decisions under ``meta`` (PRODUCT.md). The same formats ship as JSON Schema files in
``generator/schemas/``; ``tests/test_records.py`` proves both accept and reject alike.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
    StringConstraints,
    model_serializer,
    model_validator,
)

FORMATS = ("alpaca", "chat", "completion", "preference", "eval")  # last two: record_kinds.py
USES = ("evaluation", "internal-fine-tune", "commercial", "competing-model", "public-release")
Format = Literal["alpaca", "chat", "completion", "preference", "eval"]
Use = Literal["evaluation", "internal-fine-tune", "commercial", "competing-model", "public-release"]

NonEmpty = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
# Numbers in provenance are strict (no "5" -> 5), as in the JSON Schema files.
StrictNumber = Annotated[float, Strict()]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- documents and chunks


class Heading(_Strict):
    """A heading in a document: level 1-6, its text and its character offset."""

    level: int = Field(ge=1, le=6)
    text: str
    offset: int = Field(ge=0)


class Document(_Strict):
    """One ingested file: its text (normalised to plain text with markdown-style headings)
    plus everything needed to cite it."""

    path: str  # relative to the ingested folder, POSIX separators
    sha256: str  # of the file's bytes
    type: str  # reader name: txt, md, html, pdf, docx
    title: str
    text: str
    headings: list[Heading] = Field(default_factory=list)
    # (page number starting at 1, character offset where the page starts) for paged formats
    pages: list[tuple[int, int]] = Field(default_factory=list)
    size_bytes: int = 0
    encoding: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)  # dates, author, front matter


class Chunk(_Strict):
    """A token-bounded span of a document, following its structure."""

    id: str  # stable: hash of doc sha256, settings and span
    doc_path: str
    doc_sha256: str
    index: int = Field(ge=0)
    text: str
    span: tuple[int, int]  # [start, end) character offsets in Document.text
    heading_path: list[str] = Field(default_factory=list)
    tokens: int = Field(ge=0)
    pages: list[int] = Field(default_factory=list)


# ---------------------------------------------------------------- provenance


class Ref(_Strict):
    """Identity of a versioned data file (policy or prompt template)."""

    id: str
    version: str
    sha256: str


class SourceRef(_Strict):
    path: str
    doc_sha256: str
    chunk_id: str
    span: tuple[StrictInt, StrictInt]


class Usage(_Strict):
    prompt_tokens: StrictInt = 0
    completion_tokens: StrictInt = 0
    cost_usd: StrictNumber | None = 0.0


class Meta(BaseModel):
    """Provenance and curation data of a record.

    ``id`` and ``format`` are always present. Generated records carry every provenance
    field; records imported from elsewhere may lack them (None). Curation writes its scores
    and decisions under ``curation``; unknown keys (foreign data) are kept.
    """

    model_config = ConfigDict(extra="allow")

    id: NonEmpty
    format: Format
    provider: str | None = None
    model: str | None = None
    policy: Ref | None = None
    prompt: Ref | None = None
    source: SourceRef | None = None
    created_at: str | None = None
    usage: Usage | None = None
    curation: dict[str, Any] = Field(default_factory=dict)


# ---------------------------------------------------------------- records


class _Record(_Strict):
    FORMAT: ClassVar[str] = ""
    meta: Meta

    @model_validator(mode="after")
    def _format_matches(self) -> _Record:
        # the schema pins meta.format to the file's format; the model must agree
        if self.meta.format != self.FORMAT:
            raise ValueError(f"meta.format is {self.meta.format!r}, expected {self.FORMAT!r}")
        return self

    def text_fields(self) -> list[tuple[str, str]]:
        """Every free-text field as (field path, text), for filters and scanners."""
        raise NotImplementedError

    def instruction_text(self) -> str:
        raise NotImplementedError

    def output_text(self) -> str:
        raise NotImplementedError

    def input_text(self) -> str:
        return ""

    def example_text(self) -> str:
        """The whole example as one string (for dedup and token counts)."""
        return "\n".join(t for _, t in self.text_fields())

    def set_text(self, field: str, value: str) -> None:
        """Replace the text at a path returned by :meth:`text_fields` (for redaction)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the format's fields first and ``meta`` last (PRODUCT.md)."""
        data = self.model_dump(mode="json")
        data["meta"] = data.pop("meta")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


class AlpacaRecord(_Record):
    FORMAT: ClassVar[str] = "alpaca"
    instruction: NonEmpty
    input: str = ""
    output: NonEmpty

    def text_fields(self) -> list[tuple[str, str]]:
        fields = [("instruction", self.instruction)]
        if self.input:
            fields.append(("input", self.input))
        fields.append(("output", self.output))
        return fields

    def instruction_text(self) -> str:
        return self.instruction

    def input_text(self) -> str:
        return self.input

    def output_text(self) -> str:
        return self.output

    def set_text(self, field: str, value: str) -> None:
        setattr(self, field, value)


class Message(_Strict):
    """One chat turn. Besides role and content, the optional keys of OpenAI's chat
    fine-tuning format are kept: ``name``, ``weight`` (0 or 1: whether the assistant turn is
    trained on), ``tool_calls`` (an assistant turn calling tools; its content may then be
    empty) and ``tool_call_id`` (a ``tool`` turn answering one). Absent keys stay absent."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    name: str | None = None
    weight: Annotated[int, Strict(), Field(ge=0, le=1)] | None = None  # 0 or 1, not a bool
    tool_calls: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_or_call(self) -> Message:
        if self.tool_calls is not None and self.role != "assistant":
            raise ValueError("only an assistant turn can have tool_calls")
        if self.tool_calls is None and (self.content is None or not self.content.strip()):
            raise ValueError("content must be a non-empty string (or the turn must call a tool)")
        return self

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: Any) -> dict[str, Any]:
        # Keys the turn does not have are left out, so a plain turn stays {role, content}.
        return {k: v for k, v in handler(self).items() if v is not None}

    def openai_extras(self) -> bool:
        """Whether the turn uses anything beyond role and content."""
        return self.role == "tool" or any(
            v is not None for v in (self.name, self.weight, self.tool_calls, self.tool_call_id)
        )


class ChatRecord(_Record):
    FORMAT: ClassVar[str] = "chat"
    messages: list[Message] = Field(min_length=2)
    tools: list[dict[str, Any]] | None = None  # OpenAI's tool definitions, kept as given

    @model_validator(mode="after")
    def _needs_user_and_assistant(self) -> ChatRecord:
        roles = {m.role for m in self.messages}
        if "user" not in roles or "assistant" not in roles:
            raise ValueError("messages need at least one user and one assistant turn")
        return self

    @model_serializer(mode="wrap")
    def _drop_absent_tools(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        if data.get("tools") is None:
            data.pop("tools", None)
        return data

    def openai_extras(self) -> bool:
        """Whether the conversation uses tools, names or weights (OpenAI's extras)."""
        return self.tools is not None or any(m.openai_extras() for m in self.messages)

    def text_fields(self) -> list[tuple[str, str]]:
        # Tool-call arguments are text the model is trained to write: scanned like content.
        fields = []
        for i, m in enumerate(self.messages):
            if m.content:
                fields.append((f"messages.{i}.content", m.content))
            for j, call in enumerate(m.tool_calls or []):
                args = (call.get("function") or {}).get("arguments")
                if isinstance(args, str) and args:
                    fields.append((f"messages.{i}.tool_calls.{j}.function.arguments", args))
        return fields

    def instruction_text(self) -> str:
        # Every user turn, not only the first: two conversations that open alike but ask
        # different follow-ups are different examples (dedup, length and novelty use this).
        return "\n".join(m.content for m in self.messages if m.role == "user" and m.content)

    def output_text(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "assistant" and m.content)

    def first_exchange(self) -> tuple[str, str]:
        """(opening question, the first answer to it): the first user turn and the first
        assistant turn with text after it ("" when there is none)."""
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        start = next((k for k, m in enumerate(turns) if m.role == "user"), 0)
        answers = (m.content for m in turns[start:] if m.role == "assistant" and m.content)
        return (turns[start].content or "").strip(), next(answers, "")

    def set_text(self, field: str, value: str) -> None:
        parts = field.split(".")
        message = self.messages[int(parts[1])]
        if parts[2] == "content":
            message.content = value
        else:  # messages.i.tool_calls.j.function.arguments
            message.tool_calls[int(parts[3])]["function"]["arguments"] = value  # type: ignore[index]


class CompletionRecord(_Record):
    FORMAT: ClassVar[str] = "completion"
    prompt: NonEmpty
    completion: NonEmpty

    def text_fields(self) -> list[tuple[str, str]]:
        return [("prompt", self.prompt), ("completion", self.completion)]

    def instruction_text(self) -> str:
        return self.prompt

    def output_text(self) -> str:
        return self.completion

    def set_text(self, field: str, value: str) -> None:
        setattr(self, field, value)


def turn_problem(messages: list[dict[str, Any]], min_turns: int, max_turns: int) -> str | None:
    """Why ``messages`` is not a well-formed conversation, or None.

    Well-formed: an optional leading system turn, then user and assistant turns alternating
    from a user turn, every turn non-empty, the last by the assistant, and ``min_turns`` to
    ``max_turns`` user and assistant turns (the system turn is not counted). The chat record
    type itself is looser (imported data may hold tools); templates opt in to this check.
    """
    turns = list(messages)
    if turns and turns[0].get("role") == "system":
        turns = turns[1:]
    for i, m in enumerate(messages):
        content = m.get("content")
        if not isinstance(content, str) or not content.strip():
            return f"empty_turn: message {i} ({m.get('role')}) has no text"
    for i, m in enumerate(turns):
        want = "user" if i % 2 == 0 else "assistant"
        if m.get("role") != want:
            return f"not_alternating: turn {i + 1} is {m.get('role')!r}, expected {want!r}"
    if len(turns) < min_turns:
        return f"too_few_turns: {len(turns)} turns, at least {min_turns} needed"
    if len(turns) > max_turns:
        return f"too_many_turns: {len(turns)} turns, at most {max_turns} allowed"
    if turns[-1].get("role") != "assistant":
        return "ends_with_user: the last turn must be the assistant's answer"
    return None


Record = AlpacaRecord | ChatRecord | CompletionRecord
RECORD_TYPES: dict[str, type[_Record]] = {
    "alpaca": AlpacaRecord,
    "chat": ChatRecord,
    "completion": CompletionRecord,
}


import generator.record_kinds  # noqa: E402,F401 - adds preference and eval to RECORD_TYPES


def detect_format(data: dict[str, Any]) -> str | None:
    """Which of our formats a JSON object is in, by its fields (meta.format wins)."""
    meta = data.get("meta")
    if isinstance(meta, dict) and meta.get("format") in RECORD_TYPES:
        return meta["format"]
    if "messages" in data:
        return "chat"
    if "instruction" in data and "output" in data:
        return "alpaca"
    if "prompt" in data and "completion" in data:
        return "completion"
    return None


def parse_record(data: dict[str, Any]) -> Record:
    """Validate a JSON object (with ``meta``) into the record type its format names."""
    fmt = detect_format(data)
    if fmt is None:
        raise ValueError("not a record in any known format (alpaca, chat, completion)")
    return RECORD_TYPES[fmt].model_validate(data)  # type: ignore[return-value]


def record_id(*parts: str) -> str:
    """A stable record id from the parts that define it (chunk, prompt, call, index)."""
    return sha256_text("\x1f".join(parts))[:24]


# ---------------------------------------------------------------- JSON Schema files

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@cache
def json_schema(fmt: str) -> dict[str, Any]:
    """The shipped JSON Schema of a record format."""
    return json.loads((SCHEMA_DIR / f"{fmt}.schema.json").read_text(encoding="utf-8"))


@cache
def _validator(fmt: str) -> Any:
    import jsonschema

    schema = json_schema(fmt)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@cache
def _fast_validator(fmt: str) -> Any:
    import jsonschema_rs

    return jsonschema_rs.validator_for(json_schema(fmt))


def schema_errors(fmt: str, data: Any) -> list[str]:
    """Messages of every JSON Schema violation of ``data`` against ``fmt``'s schema.

    jsonschema-rs answers "valid?" about 500x faster than jsonschema (1.5 ms a record was
    the largest cost of generation); the messages of an invalid record still come from
    jsonschema, the reference implementation.
    """
    if _fast_validator(fmt).is_valid(data):
        return []
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(_validator(fmt).iter_errors(data), key=lambda e: list(e.absolute_path))
    ]
