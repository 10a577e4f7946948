"""Multi-turn conversations (the ``conversation`` template's records) round-trip through
openai-chat, sharegpt and parquet: every turn, in order, back into the chat record model."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generator.export.job import ExportOptions, run_export
from generator.export.sharegpt import FROM_TO_ROLE
from generator.policies import load_policies
from generator.records import ChatRecord, parse_record, turn_problem
from tests.export._build import QUESTIONS, make_run, meta, read_jsonl


@pytest.fixture
def pol():
    return load_policies()["openai"]  # evaluation: allow


def six_turns(i: int, policy, system: str | None = None) -> dict:
    """A 6-turn conversation (3 exchanges; a leading system turn when ``system``)."""
    msgs = [{"role": "system", "content": system}] if system else []
    for t in range(3):
        q, a = QUESTIONS[(i + t) % len(QUESTIONS)]
        follow = q if t == 0 else f"Following up on that: {q[0].lower()}{q[1:]}"
        msgs += [{"role": "user", "content": follow}, {"role": "assistant", "content": a}]
    return {"messages": msgs, "meta": meta(i, "chat", policy, prompt="conversation")}


def _records(pol) -> list[dict]:
    records = [six_turns(i, pol, system="Answer from the handbook." if i % 2 else None)
               for i in range(10)]  # fmt: skip
    for r in records:
        assert turn_problem(r["messages"], 3, 8) is None
        assert sum(m["role"] != "system" for m in r["messages"]) == 6
    return records


def _export(run: Path, out: Path, fmt: str) -> object:
    return run_export(ExportOptions(run, fmt, "evaluation", out))


def _back(rows: list[dict], metas: list[dict]) -> list[dict]:
    return [
        ChatRecord.model_validate({"messages": r["messages"], "meta": m["meta"]}).to_dict()
        for r, m in zip(rows, metas, strict=True)
    ]


def test_six_turn_conversations_round_trip_through_openai_chat(tmp_path, pol) -> None:
    records = _records(pol)
    res = _export(make_run(tmp_path, records), tmp_path / "o", "openai-chat")
    assert res.validation["train.jsonl"].ok, res.validation["train.jsonl"].errors
    rows = read_jsonl(tmp_path / "o" / "train.jsonl")
    assert [len(r["messages"]) for r in rows] == [6, 7] * 5
    assert _back(rows, read_jsonl(tmp_path / "o" / "meta.jsonl")) == [
        parse_record(r).to_dict() for r in records
    ]


def test_six_turn_conversations_round_trip_through_sharegpt(tmp_path, pol) -> None:
    records = _records(pol)
    _export(make_run(tmp_path, records), tmp_path / "o", "sharegpt")
    rows = read_jsonl(tmp_path / "o" / "train.jsonl")
    assert [c["from"] for c in rows[0]["conversations"]] == ["human", "gpt"] * 3
    assert rows[1]["conversations"][0]["from"] == "system"
    as_chat = [
        {"messages": [{"role": FROM_TO_ROLE[c["from"]], "content": c["value"]}
                      for c in r["conversations"]]}
        for r in rows
    ]  # fmt: skip
    assert _back(as_chat, read_jsonl(tmp_path / "o" / "meta.jsonl")) == [
        parse_record(r).to_dict() for r in records
    ]


def test_six_turn_conversations_round_trip_through_parquet(tmp_path, pol) -> None:
    records = _records(pol)
    _export(make_run(tmp_path, records), tmp_path / "o", "parquet")
    table = pq.read_table(tmp_path / "o" / "train.parquet")
    assert table.column_names == ["messages", "meta"]
    rows = table.to_pylist()
    metas = [json.loads(r["meta"]) for r in rows]
    assert [len(r["messages"]) for r in rows] == [6, 7] * 5
    assert _back(rows, metas) == [parse_record(r).to_dict() for r in records]
