"""Tool-calling records exported as OpenAI chat fine-tuning data (``tools``, ``tool_calls``,
checked by ``openai_validate``) and as TRL tool-calling conversations (loaded back with
Hugging Face ``datasets``); formats with no place for tools refuse them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.export.job import ExportOptions, run_export
from generator.export.openai_chat import OpenAIChatExporter
from generator.export.openai_validate import validate_lines
from generator.export.trl_chat import TRLChatExporter
from generator.policies import load_policies
from generator.records import ChatRecord, parse_record
from tests.export._build import make_run, meta, read_jsonl, run_datasets_child

SEARCH = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 3}},
    "required": ["query"],
    "additionalProperties": False,
}
SECTION = {
    "type": "object",
    "properties": {"topic": {"enum": ["leave", "travel"]}, "page": {"type": "integer"}},
    "required": ["topic"],
}
TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "", "parameters": SEARCH}},
    {"type": "function", "function": {"name": "section", "description": "", "parameters": SECTION}},
]


def tool_record(i: int, policy) -> dict:
    name, args = (
        ("search", {"query": f"leave rule {i}"})
        if i % 2
        else ("section", {"page": i, "topic": "leave"})
    )
    cid = f"call_{i}"
    msgs = [
        {"role": "user", "content": f"What is leave rule {i}?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": cid,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": cid, "content": f"Rule {i}: 25 days a year."},
        {"role": "assistant", "content": f"Rule {i} gives 25 days a year."},
    ]
    return {"messages": msgs, "tools": TOOLS, "meta": meta(i, "chat", policy, prompt="tool-use")}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    pol = load_policies()["openai"]  # evaluation: allow
    return make_run(tmp_path, [tool_record(i, pol) for i in range(12)])


def _export(run: Path, fmt: str, out: Path):
    return run_export(ExportOptions(run, fmt, "evaluation", out))


def test_openai_chat_keeps_tools_and_calls_passes_the_check_and_round_trips(
    run: Path, tmp_path: Path
) -> None:
    res = _export(run, "openai-chat", tmp_path / "o")
    assert res.n_exported == 12 and res.validation["train.jsonl"].ok
    rows = read_jsonl(tmp_path / "o" / "train.jsonl")
    originals = read_jsonl(run / "records.jsonl")
    for row, rec in zip(rows, originals, strict=True):
        assert row["tools"] == TOOLS
        call_turn = row["messages"][1]
        assert (
            call_turn["content"] is None
            and call_turn["tool_calls"] == rec["messages"][1]["tool_calls"]
        )
        back = parse_record({**row, "meta": rec["meta"]})  # the record model takes it back
        assert isinstance(back, ChatRecord)
        assert {**back.to_dict(), "meta": None} == {**rec, "meta": None}


def _issues(example: dict) -> list[str]:
    line = json.dumps(example)
    return [i.code for i in validate_lines([line] * 10).errors]


def test_openai_check_catches_bad_tool_calls(run: Path) -> None:
    rec = read_jsonl(run / "records.jsonl")[1]  # a search call
    row = OpenAIChatExporter().row({k: v for k, v in rec.items() if k != "meta"})
    good = json.loads(json.dumps(row))
    assert _issues(good) == []
    bad_args = json.loads(json.dumps(row))
    bad_args["messages"][1]["tool_calls"][0]["function"]["arguments"] = '{"query": "x"}'
    assert set(_issues(bad_args)) == {"invalid_arguments"}
    as_object = json.loads(json.dumps(row))
    as_object["messages"][1]["tool_calls"][0]["function"]["arguments"] = {"query": "leave"}
    assert set(_issues(as_object)) == {"invalid_tool_call"}
    unknown = json.loads(json.dumps(row))
    unknown["messages"][1]["tool_calls"][0]["function"]["name"] = "delete_everything"
    assert set(_issues(unknown)) == {"unknown_function"}
    orphan = json.loads(json.dumps(row))
    orphan["messages"][2]["tool_call_id"] = "call_nobody"
    assert {"unknown_tool_call_id", "unanswered_tool_call"} <= set(_issues(orphan))
    broken_tools = json.loads(json.dumps(row))
    broken_tools["tools"] = [{"name": "search"}]
    assert "invalid_tools" in _issues(broken_tools)
    # a call the example ends on needs no result (it teaches the call itself)
    ends_on_call = json.loads(json.dumps(row))
    ends_on_call["messages"] = ends_on_call["messages"][:2]
    assert _issues(ends_on_call) == []
    # the tool definitions count towards an example's tokens
    no_tools = json.loads(json.dumps(row))
    del no_tools["tools"]
    with_t = validate_lines([json.dumps(good)] * 10).tokens["max"]
    assert with_t > validate_lines([json.dumps(no_tools)] * 10).tokens["max"]


def test_trl_chat_rows_use_object_arguments_and_name_the_tool_turn(
    run: Path, tmp_path: Path
) -> None:
    _export(run, "trl-chat", tmp_path / "t")
    rows = read_jsonl(tmp_path / "t" / "train.jsonl")
    assert len(rows) == 12
    row = rows[0]  # section(topic, page)
    assert row["tools"] == TOOLS
    call = row["messages"][1]["tool_calls"][0]
    assert call == {
        "type": "function",
        "function": {"name": "section", "arguments": {"page": 0, "topic": "leave"}},
        "id": "call_0",
    }
    assert row["messages"][1]["content"] == ""
    assert row["messages"][2] == {
        "role": "tool",
        "content": "Rule 0: 25 days a year.",
        "name": "section",
        "tool_call_id": "call_0",
    }


_LOAD = """
import json, socket, sys
def refuse(self, address):
    raise OSError(f"network access blocked: {address!r}")
socket.socket.connect = refuse
import datasets
out, cache = sys.argv[1], sys.argv[2]
ds = datasets.load_dataset("json", data_dir=out, cache_dir=cache)["train"]
calls = [ex["messages"][1]["tool_calls"][0]["function"] for ex in ds]
tools = [[t["function"]["name"] for t in ex["tools"]] for ex in ds]
print(json.dumps({"n": len(ds), "calls": calls, "tools": tools}))
"""


def test_trl_chat_loads_with_datasets_keeping_each_calls_own_arguments(
    run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t"
    _export(run, "trl-chat", out)
    got = run_datasets_child(_LOAD, out, tmp_path)
    assert got["n"] == 12
    for i, fn in enumerate(got["calls"]):
        # no null-padded keys of the other tool's arguments (Arrow's struct union)
        want = {"query": f"leave rule {i}"} if i % 2 else {"page": i, "topic": "leave"}
        assert fn["arguments"] == want, fn
    assert all(t == ["search", "section"] for t in got["tools"])


@pytest.mark.parametrize("fmt", ["sharegpt", "alpaca", "prompt-completion", "parquet"])
def test_formats_without_tools_refuse_tool_records(run: Path, tmp_path: Path, fmt: str) -> None:
    from generator.errors import ConfigError

    with pytest.raises(ConfigError) as exc:
        _export(run, fmt, tmp_path / fmt)
    assert "tools, tool calls" in str(exc.value)


def test_trl_chat_refuses_turn_weights() -> None:
    from generator.export.convert import LossyConversion

    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "weight": 0},
        ]
    }
    with pytest.raises(LossyConversion):
        TRLChatExporter().row(row)
