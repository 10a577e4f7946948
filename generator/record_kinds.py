"""Record types beyond instruction data: preference pairs and evaluation items.

They are records like the others (``records.RECORD_TYPES``: the same ``meta``, the same
curation, review and export machinery) with their own fields at the top level:

* ``preference``: ``prompt`` (the turns before the answer, ending with the user's),
  ``chosen`` and ``rejected`` (two assistant answers to it). ``meta.pair`` says how the
  pair was made (``judge``: two generations ranked by a judge model with a rubric;
  ``review-edit``: a reviewer's edit chosen over the original; ``flawed``: a generated
  answer chosen over a deliberately flawed one) and carries each side's own provenance
  (``meta.pair.chosen`` / ``meta.pair.rejected``: the journaled record id, model, policy
  tag...). The licence gate judges both sides from the run's journal (stricter wins),
  and for a judge-ranked pair the judge the run journaled (``pair_judges``), never
  ``meta.pair.judge``.
* ``eval``: ``question``, reference ``answer``, ``citations`` (character spans into the
  source document: ``text`` is exactly ``document.text[start:end]``, checked when the item
  is made and again at export), ``difficulty`` and ``hops`` (1: one chunk; 2: the answer
  needs two chunks, and the citations come from both).

The shipped JSON Schema files (``schemas/preference.schema.json``, ``eval.schema.json``)
accept and reject alike (``tests/test_record_kinds.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from generator.records import RECORD_TYPES, Message, NonEmpty, Ref, Usage, _Record

PAIR_METHODS = ("judge", "review-edit", "flawed")


class Side(BaseModel):
    """Provenance of one answer of a pair: ``id`` is the record the run journaled for it
    (``gen_records``), so the gate can look its model up instead of trusting this copy."""

    model_config = ConfigDict(extra="allow")

    id: NonEmpty
    origin: Literal["generated", "record", "reviewer"]
    model: str | None = None
    provider: str | None = None
    policy: Ref | None = None
    usage: Usage | None = None


class Pair(BaseModel):
    """``meta.pair`` of a preference record."""

    model_config = ConfigDict(extra="allow")

    method: Literal["judge", "review-edit", "flawed"]
    chosen: Side
    rejected: Side


class PreferenceRecord(_Record):
    FORMAT: ClassVar[str] = "preference"
    prompt: list[Message] = Field(min_length=1)
    chosen: NonEmpty
    rejected: NonEmpty

    @model_validator(mode="after")
    def _well_formed(self) -> PreferenceRecord:
        if self.prompt[-1].role != "user":
            raise ValueError("prompt must end with the user's turn")
        if any(m.role == "tool" or m.tool_calls or m.tool_call_id for m in self.prompt):
            raise ValueError("prompt turns must be plain system/user/assistant text")
        if self.chosen.strip() == self.rejected.strip():
            raise ValueError("chosen and rejected are the same answer")
        Pair.model_validate((self.meta.model_extra or {}).get("pair"))
        return self

    @property
    def pair(self) -> Pair:
        return Pair.model_validate((self.meta.model_extra or {})["pair"])

    def text_fields(self) -> list[tuple[str, str]]:
        fields = [(f"prompt.{i}.content", m.content or "") for i, m in enumerate(self.prompt)]
        return [*fields, ("chosen", self.chosen), ("rejected", self.rejected)]

    def instruction_text(self) -> str:
        return "\n".join(m.content for m in self.prompt if m.role == "user" and m.content)

    def output_text(self) -> str:
        return self.chosen

    def set_text(self, field: str, value: str) -> None:
        if field.startswith("prompt."):
            self.prompt[int(field.split(".")[1])].content = value
        else:
            setattr(self, field, value)


class Citation(BaseModel):
    """A span of a source document: ``text == document.text[start:end]``."""

    model_config = ConfigDict(extra="forbid")

    path: str
    doc_sha256: NonEmpty
    chunk_id: NonEmpty
    start: Annotated[StrictInt, Field(ge=0)]
    end: StrictInt
    text: NonEmpty

    @model_validator(mode="after")
    def _span(self) -> Citation:
        if self.end - self.start != len(self.text):
            raise ValueError(f"span [{self.start}, {self.end}) does not match the text length")
        return self


class EvalRecord(_Record):
    FORMAT: ClassVar[str] = "eval"
    question: NonEmpty
    answer: NonEmpty
    citations: list[Citation] = Field(min_length=1)
    difficulty: Literal["easy", "medium", "hard"]
    hops: Literal[1, 2]

    @model_validator(mode="after")
    def _hops_match(self) -> EvalRecord:
        chunks = {c.chunk_id for c in self.citations}
        if self.hops == 2 and len(chunks) < 2:
            raise ValueError("a two-hop question needs citations from two chunks")
        return self

    def text_fields(self) -> list[tuple[str, str]]:
        return [("question", self.question), ("answer", self.answer)]

    def instruction_text(self) -> str:
        return self.question

    def output_text(self) -> str:
        return self.answer

    def documents(self) -> set[str]:
        """sha256 of every document the item draws on."""
        docs = {c.doc_sha256 for c in self.citations}
        if self.meta.source is not None:
            docs.add(self.meta.source.doc_sha256)
        return docs

    def set_text(self, field: str, value: str) -> None:
        setattr(self, field, value)


def side_of(meta: dict[str, Any], origin: str, **extra: Any) -> dict[str, Any]:
    """A :class:`Side` (as JSON) from a journaled record's meta."""
    keep = ("id", "model", "provider", "policy", "usage", "api_base", "source_info")
    side = {k: meta[k] for k in keep if meta.get(k) is not None}
    return {**side, "origin": origin, **extra}


RECORD_TYPES.update({"preference": PreferenceRecord, "eval": EvalRecord})
