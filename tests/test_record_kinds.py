"""Preference and eval records: the pydantic models and the shipped JSON Schemas accept and
reject alike (where a rule is expressible in JSON Schema), and records round-trip."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from generator.record_kinds import EvalRecord, PreferenceRecord
from generator.records import RECORD_TYPES, parse_record, schema_errors
from tests.test_records import _drop, _set

SIDE = {"id": "g1", "origin": "generated", "model": "openai/gpt-4o-mini", "provider": "openai"}
PAIR = {
    "prompt": [{"role": "user", "content": "How many leave days?"}],
    "chosen": "Full-time staff get 25 days.",
    "rejected": "Full-time staff get 32 days.",
    "meta": {"id": "p1", "format": "preference",
             "pair": {"method": "flawed", "chosen": {**SIDE, "origin": "record"},
                      "rejected": {**SIDE, "id": "g2", "flaw": "wrong_figure"}}},
}  # fmt: skip
CITE = {"path": "leave.md", "doc_sha256": "ab" * 32, "chunk_id": "c1", "start": 10, "end": 37,
        "text": "Full-time staff get 25 days"}  # fmt: skip
EVAL = {"question": "How many leave days?", "answer": "25 days.", "citations": [CITE],
        "difficulty": "easy", "hops": 1, "meta": {"id": "e1", "format": "eval"}}  # fmt: skip


CASES = [
    ("preference", "valid", PAIR, True),
    ("preference", "system + user prompt", _set(PAIR, ("prompt",), [
        {"role": "system", "content": "Be brief."}, *PAIR["prompt"]]), True),
    ("preference", "no pair provenance", _drop(PAIR, ("meta", "pair")), False),
    ("preference", "side without id", _drop(PAIR, ("meta", "pair", "chosen", "id")), False),
    ("preference", "unknown method", _set(PAIR, ("meta", "pair", "method"), "coin"), False),
    ("preference", "empty chosen", _set(PAIR, ("chosen",), " "), False),
    ("preference", "no rejected", _drop(PAIR, ("rejected",)), False),
    ("preference", "empty prompt", _set(PAIR, ("prompt",), []), False),
    ("preference", "tool turn in prompt", _set(PAIR, ("prompt", 0, "role"), "tool"), False),
    ("preference", "extra field", _set(PAIR, ("score",), 1), False),
    ("preference", "wrong meta.format", _set(PAIR, ("meta", "format"), "chat"), False),
    ("eval", "valid", EVAL, True),
    ("eval", "two-hop across two chunks", _set(_set(EVAL, ("hops",), 2), ("citations",),
        [CITE, {**CITE, "chunk_id": "c2"}]), True),
    ("eval", "no citations", _set(EVAL, ("citations",), []), False),
    ("eval", "bad difficulty", _set(EVAL, ("difficulty",), "trivial"), False),
    ("eval", "hops 3", _set(EVAL, ("hops",), 3), False),
    ("eval", "citation without offsets", _drop(EVAL, ("citations", 0, "start")), False),
    ("eval", "negative start", _set(EVAL, ("citations", 0, "start"), -1), False),
    ("eval", "empty question", _set(EVAL, ("question",), ""), False),
    ("eval", "offset as string", _set(EVAL, ("citations", 0, "end"), "37"), False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "name", "data", "ok"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_models_and_schemas_agree(fmt: str, name: str, data: dict, ok: bool) -> None:
    try:
        RECORD_TYPES[fmt].model_validate(data)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert model_ok == ok, name
    assert (not schema_errors(fmt, data)) == ok, (name, schema_errors(fmt, data))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_set(PAIR, ("rejected",), PAIR["chosen"]), "same answer"),
        (_set(PAIR, ("prompt",), [{"role": "assistant", "content": "Hi"}]), "prompt must end"),
        (_set(EVAL, ("citations", 0, "end"), 99), "does not match the text length"),
        (_set(EVAL, ("hops",), 2), "two-hop question needs citations from two chunks"),
    ],
)
def test_rules_only_the_model_can_check(data: dict, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        parse_record(data)


@pytest.mark.parametrize("data", [PAIR, EVAL])
def test_round_trip(data: dict) -> None:
    rec = parse_record(data)
    assert isinstance(rec, PreferenceRecord | EvalRecord)
    out = rec.to_dict()
    assert list(out)[-1] == "meta" and {k: v for k, v in out.items() if k != "meta"} == {
        k: v for k, v in data.items() if k != "meta"
    }
    assert {k: v for k, v in out["meta"].items() if v is not None and v != {}} == data["meta"]
    assert parse_record(out) == rec and not schema_errors(rec.FORMAT, out)
