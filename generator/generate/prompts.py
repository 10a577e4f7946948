"""Prompt templates as data: ``prompts/<id>.yaml`` files validated at load, rendered in a
Jinja2 sandbox, with the JSON Schema of the reply they ask for.

A template's identity is ``Ref(id, version, sha256 of the file's bytes)``; every record
stores it. Files load with a safe YAML loader (no Python tags) into :class:`PromptTemplate`
(``extra="forbid"``) and are trial-rendered at load, so a bad file fails with its path and
field before any call is made. The user folder ``INSTRUCTFORGE_PROMPTS`` is searched before
the shipped ``prompts/``.

Variables a template sees: ``document`` (the chunk inside a ``<document>`` block, delimiter
neutralised), ``text``, ``path``, ``heading``, ``n`` (records asked for), ``examples`` (list
of dicts with instruction/input/output), ``format``, ``reply_shape`` (a JSON example) and
``tools`` (the ``--tools`` catalogue as JSON, ``[]`` without one).

Layout for prefix caching: providers cache the longest prompt prefix seen before (OpenAI
automatically, Anthropic up to a ``cache_control`` mark). So every static part of a shipped
template (role, rules, reply shape) sits in the system block, and the user message holds
only what changes per call, in this order: examples, the document, the count ``n``. Two
calls of a run then share the whole system block as a prefix (tested).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from generator import config
from generator.errors import PromptFileError
from generator.generate.grounding import Grounding
from generator.generate.tools import ToolUse
from generator.records import Chunk, Ref
from generator.yamlfile import read_yaml

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sampling(_Strict):
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(2048, ge=16, le=200_000)


class SeedSettings(_Strict):
    """Self-Instruct in-context examples: k in all, n_from_pool machine-made once available."""

    k: int = Field(8, ge=0, le=64)
    n_from_seeds: int = Field(6, ge=0)
    n_from_pool: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _sums_to_k(self) -> SeedSettings:
        if self.n_from_seeds + self.n_from_pool != self.k:
            raise ValueError("n_from_seeds + n_from_pool must equal k")
        return self


class Bounds(_Strict):
    """Length limits (characters) written into the reply schema: small models need them."""

    instruction: int = Field(600, ge=10)
    input: int = Field(2000, ge=0)
    output: int = Field(3000, ge=10)
    message: int = Field(2000, ge=10)  # one chat turn
    max_turns: int = Field(8, ge=2, le=64)
    prompt: int = Field(2000, ge=10)
    completion: int = Field(3000, ge=10)


class Turns(_Strict):
    """A multi-turn conversation template's rules (chat format only): user and assistant
    turns alternate from a user turn, none empty, the assistant has the last word, and
    there are ``min`` to ``max`` of them. Checked on every record (``records.turn_problem``)
    and written into the reply schema's ``minItems``/``maxItems``."""

    min: int = Field(3, ge=2)
    max: int = Field(8, ge=2, le=64)

    @model_validator(mode="after")
    def _ordered(self) -> Turns:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.min == self.max and self.min % 2:
            # from a user turn to an assistant turn is always an even number of turns
            raise ValueError(
                f"{self.min} turns cannot start with the user and end with the assistant"
            )
        return self

    @property
    def limits(self) -> tuple[int, int]:
        return self.min, self.max


class PromptTemplate(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str = Field(min_length=1)
    description: str = Field(min_length=1)
    # preference and eval templates drive `instructforge pairs` / `evalset`, not `generate`
    format: Literal["alpaca", "chat", "completion", "preference", "eval"]
    system: str = Field(min_length=1)
    user: str = Field(min_length=1)
    records_per_call: int = Field(5, ge=1, le=50)
    sampling: Sampling = Field(default_factory=Sampling)
    seeds: SeedSettings | None = None
    bounds: Bounds = Field(default_factory=Bounds)
    turns: Turns | None = None
    tool_use: ToolUse | None = None  # a tool-calling template (needs generate --tools)
    grounding: Grounding | None = None  # a few related chunks of one document per call

    @model_validator(mode="after")
    def _turns_need_chat(self) -> PromptTemplate:
        if self.turns is not None and self.format != "chat":
            raise ValueError("turns: only a chat template can set turn rules")
        if self.tool_use is not None and (self.format != "chat" or self.turns is not None):
            raise ValueError("tool_use: only a chat template without turns: can call tools")
        return self

    _path: Path | None = PrivateAttr(default=None)
    _sha256: str = PrivateAttr(default="")

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def ref(self) -> Ref:
        """Identity stored in every record: id, version and sha256 of the file content."""
        return Ref(id=self.id, version=self.version, sha256=self._sha256)


# ---------------------------------------------------------------- loading


def _search_dirs() -> list[Path]:
    dirs = []
    user = config.env("INSTRUCTFORGE_PROMPTS")
    if user:
        dirs.append(Path(user))
    dirs.append(config.prompts_dir())
    return dirs


def _find(template_id: str) -> Path:
    for folder in _search_dirs():
        for ext in (".yaml", ".yml"):
            path = folder / f"{template_id}{ext}"
            if path.is_file():
                return path
    known = ", ".join(sorted({r.id for r, _, _ in list_templates()})) or "none"
    raise PromptFileError(f"prompt template {template_id!r} not found (known: {known})")


def load_template(id_or_path: str | Path) -> PromptTemplate:
    """Load, validate and trial-render a template by id or file path.

    Raises PromptFileError naming the path and the failing field.
    """
    text = str(id_or_path)
    is_path = isinstance(id_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text
    path = Path(text) if is_path else _find(text)
    if not path.is_file():
        raise PromptFileError(f"{path}: prompt template file not found")
    raw, data = read_yaml(path, PromptFileError, "not valid YAML")
    if not isinstance(data, dict):
        raise PromptFileError(f"{path}: expected a mapping of fields at the top level")
    try:
        tpl = PromptTemplate.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "<root>"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise PromptFileError(f"{path}: {field}: {err['msg']}{more}") from exc
    if not is_path and tpl.id != text:
        raise PromptFileError(f"{path}: id: {tpl.id!r} does not match the file name {text!r}")
    tpl._path = path
    tpl._sha256 = hashlib.sha256(raw).hexdigest()
    _trial_render(tpl, path)
    return tpl


def _trial_render(tpl: PromptTemplate, path: Path) -> None:
    """Render with a sample chunk so syntax errors, unknown variables and sandbox
    violations fail at load time, not mid-run."""
    sample = Chunk(
        id="c0", doc_path="sample.md", doc_sha256="0" * 64, index=0, text="Sample text.",
        span=(0, 12), heading_path=["Sample"], tokens=3,
    )  # fmt: skip
    example = {"instruction": "Summarise the text.", "input": "", "output": "A summary."}
    for field in ("system", "user"):
        try:
            _ENV.from_string(getattr(tpl, field)).render(_variables(tpl, sample, [example], 1))
        except TemplateError as exc:  # includes sandbox SecurityError and UndefinedError
            raise PromptFileError(f"{path}: {field}: {type(exc).__name__}: {exc}") from exc


def list_templates() -> list[tuple[Ref, str, Path]]:
    """(ref, description, path) of every loadable template; user files shadow shipped ones."""
    seen: dict[str, tuple[Ref, str, Path]] = {}
    for folder in _search_dirs():
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            if path.stem in seen:
                continue
            tpl = load_template(path)
            if tpl.id != path.stem:
                raise PromptFileError(f"{path}: id: {tpl.id!r} does not match the file name")
            seen[path.stem] = (tpl.ref, tpl.description, path)
    return sorted(seen.values(), key=lambda item: item[0].id)


# ---------------------------------------------------------------- rendering

_DELIM = re.compile(r"<(\s*/?\s*document)", re.IGNORECASE)


def neutralise(text: str) -> str:
    """Make any ``<document`` / ``</document`` inside data harmless (``&lt;document``)."""
    return _DELIM.sub(r"&lt;\1", text)


def _attr(value: str) -> str:
    return neutralise(value).replace("&", "&amp;").replace('"', "&quot;").replace("\n", " ")


def document_block(chunk: Chunk) -> str:
    """The chunk as a delimited data block; nothing inside can close it."""
    heading = " > ".join(chunk.heading_path)
    return (
        f'<document path="{_attr(chunk.doc_path)}" heading="{_attr(heading)}">\n'
        f"{neutralise(chunk.text)}\n</document>"
    )


_SHAPES = {
    "alpaca": {"instruction": "...", "input": "", "output": "..."},
    "chat": {
        "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]
    },
    "completion": {"prompt": "...", "completion": "..."},
    "preference": {"answer": "..."},
    "eval": {"question": "...", "answer": "...", "quotes": ["..."], "difficulty": "easy"},
}


def _as_dict(example: Any) -> dict[str, Any]:
    """An example as a dict: plain mappings and ``seeding.Example`` both work."""
    return example.as_dict() if hasattr(example, "as_dict") else dict(example)


def _variables(
    tpl: PromptTemplate, chunk: Chunk, examples: Sequence[Any], n: int, tools: Sequence = ()
) -> dict:
    return {
        "document": document_block(chunk),
        "text": neutralise(chunk.text),
        "path": chunk.doc_path,
        "heading": " > ".join(chunk.heading_path),
        "n": n,
        # Pool examples are machine-made from documents: neutralise them like the chunk.
        "examples": [{k: neutralise(str(v)) for k, v in _as_dict(e).items()} for e in examples],
        "format": tpl.format,
        "reply_shape": json.dumps({"records": [_SHAPES[tpl.format]]}, ensure_ascii=False),
        # the --tools catalogue (OpenAI's tools list) as JSON; "[]" without one
        "tools": json.dumps(list(tools), ensure_ascii=False, indent=1),
    }


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> Any:
    """Compile a template source once (compiling costs about a millisecond per render)."""
    return _ENV.from_string(source)


def render(
    template: PromptTemplate,
    chunk: Chunk,
    examples: Sequence[Any] | None = None,
    n: int = 0,
    tools: Sequence[dict[str, Any]] = (),
) -> list[dict[str, str]]:
    """Messages (system, user) asking for ``n`` records (default: records_per_call).

    ``examples`` are dicts with instruction/input/output (or ``seeding.Example``); ``tools``
    the run's tool catalogue (a ``tool_use:`` template shows it)."""
    vars_ = _variables(template, chunk, examples or [], n or template.records_per_call, tools)
    return [
        {"role": "system", "content": _compiled(template.system).render(vars_).strip()},
        {"role": "user", "content": _compiled(template.user).render(vars_).strip()},
    ]


def reply_schema(
    fmt: str, n: int, bounds: Bounds | None = None, turns: Turns | None = None
) -> dict[str, Any]:
    """JSON Schema of the reply ``{"records": [...]}`` with 1..n items and length limits
    (and, for a conversation template, its turn count)."""
    b = bounds or Bounds()

    def text(limit: int, min_length: int = 1) -> dict[str, Any]:
        return {"type": "string", "minLength": min_length, "maxLength": limit}

    if fmt == "alpaca":
        props = {
            "instruction": text(b.instruction),
            "input": text(b.input, 0),
            "output": text(b.output),
        }
        item = {
            "type": "object",
            "properties": props,
            "required": ["instruction", "input", "output"],
        }
    elif fmt == "chat":
        turn = {
            "type": "object",
            "properties": {"role": {"enum": ["user", "assistant"]}, "content": text(b.message)},
            "required": ["role", "content"],
            "additionalProperties": False,
        }
        lo, hi = turns.limits if turns is not None else (2, b.max_turns)
        msgs = {"type": "array", "minItems": lo, "maxItems": hi, "items": turn}
        item = {"type": "object", "properties": {"messages": msgs}, "required": ["messages"]}
    elif fmt == "completion":
        props = {"prompt": text(b.prompt), "completion": text(b.completion)}
        item = {"type": "object", "properties": props, "required": ["prompt", "completion"]}
    else:
        raise ValueError(f"unknown record format {fmt!r}")
    item["additionalProperties"] = False
    return records_envelope(item, n)


def records_envelope(item: dict[str, Any], n: int) -> dict[str, Any]:
    """The reply schema ``{"records": [...]}`` holding 1..n items of schema ``item``."""
    records = {"type": "array", "minItems": 1, "maxItems": max(1, n), "items": item}
    return {
        "type": "object",
        "properties": {"records": records},
        "required": ["records"],
        "additionalProperties": False,
    }
