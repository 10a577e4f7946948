"""Reading data from elsewhere (issue 16, item 8): JSON arrays as well as JSONL, a file that
is mostly bad stops with exit 2, and OpenAI chat lines with tools, tool calls, names and
weights are accepted and kept through curation to the openai-chat export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.curate.config import parse_config
from generator.curate.io import MAX_BAD_SHARE, load_records
from generator.curate.pipeline import curate
from generator.errors import ConfigError
from generator.export.alpaca import AlpacaJsonExporter
from generator.export.convert import LossyConversion, convert
from generator.export.openai_chat import OpenAIChatExporter
from generator.export.openai_validate import validate_lines
from generator.export.sharegpt import ShareGPTExporter
from tests.curate.corpus import as_rows, corpus

FAST = {"steps": ["heuristics", "exact_dedup"], "report": {"plots": False}}


def _alpaca_rows(n: int) -> list[dict]:
    return [
        {k: r[k] for k in ("instruction", "input", "output")} for r in as_rows(corpus(n, 0, seed=3))
    ]


def test_stanford_alpaca_data_json_layout(tmp_path: Path) -> None:
    rows = _alpaca_rows(40)
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps(rows, indent=4, ensure_ascii=False), encoding="utf-8")
    records, report = load_records(path)
    assert report.layout == "json-array" and report.entries == 40 and not report.problems
    assert [r.instruction for r in records] == [r["instruction"] for r in rows]
    assert [r.output for r in records] == [r["output"] for r in rows]


def test_our_alpaca_json_export_reads_back(tmp_path: Path) -> None:
    rows = _alpaca_rows(12)
    exporter = AlpacaJsonExporter()
    path = tmp_path / "train.json"
    exporter.write(((exporter.row(r), None) for r in rows), path)
    records, report = load_records(path)
    assert not report.problems
    assert [(r.instruction, r.input, r.output) for r in records] == [
        (r["instruction"], r["input"], r["output"]) for r in rows
    ]


def test_bad_items_of_an_array_are_reported_by_number(tmp_path: Path) -> None:
    rows: list = _alpaca_rows(6)
    rows[2] = {"text": "no known format"}
    rows[4] = "not an object"
    path = tmp_path / "in.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    records, report = load_records(path)
    assert len(records) == 4
    assert [str(p) for p in report.problems] == [
        "item 3: not a record in any known format (alpaca, chat, completion)",
        "item 5: not a JSON object",
    ]


def test_a_broken_json_array_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text('[{"instruction": "a", "output": "b"},\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="starts like a JSON array but is not valid JSON"):
        load_records(path)


def _mostly_bad(tmp_path: Path, good: int, bad: int) -> Path:
    lines = [json.dumps(r) for r in _alpaca_rows(good)] + [f"garbage {i}" for i in range(bad)]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_mostly_bad_file_stops_with_exit_2(tmp_path: Path) -> None:
    assert MAX_BAD_SHARE == 0.5
    path = _mostly_bad(tmp_path, good=4, bad=5)  # 5 of 9 bad: more than half
    with pytest.raises(ConfigError, match=r"5 of 9 lines are not valid records \(more than 50%\)"):
        load_records(path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps(FAST))
    run = tmp_path / "run"
    res = CliRunner().invoke(
        app, ["curate", "--input", str(path), "--out", str(run), "--config", str(cfg)]
    )
    assert res.exit_code == 2, res.output
    assert "more than 50%" in res.output and "Traceback" not in res.output
    assert not (run / "curation" / "curated.jsonl").exists()  # nothing curated


def test_half_bad_is_still_curated_with_the_lines_reported(tmp_path: Path) -> None:
    path = _mostly_bad(tmp_path, good=5, bad=5)
    records, report = load_records(path)
    assert len(records) == 5 and len(report.problems) == 5


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "leave_balance",
            "description": "Days of leave left for an employee.",
            "parameters": {"type": "object", "properties": {"employee": {"type": "string"}}},
        },
    }
]
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "leave_balance", "arguments": '{"employee": "me"}'},
}
OPENAI_LINES = [
    {
        "messages": [
            {"role": "system", "content": "You are the HR assistant.", "name": "hr_bot"},
            {"role": "user", "content": "How many leave days do I have left?", "name": "dana"},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"days": 12}'},
            {"role": "assistant", "content": "You have 12 days of leave left this year."},
        ],
        "tools": TOOLS,
    },
    {
        "messages": [
            {"role": "user", "content": "Can I carry unused leave into next year?"},
            {"role": "assistant", "content": "No idea, ask someone.", "weight": 0},
            {"role": "user", "content": "Please check the handbook."},
            {
                "role": "assistant",
                "content": "Yes, up to five unused days carry over to the next year.",
                "weight": 1,
            },
        ]
    },
]


def test_openai_chat_extras_are_accepted_and_kept_to_export(tmp_path: Path) -> None:
    src = tmp_path / "chat.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in OPENAI_LINES) + "\n", encoding="utf-8")
    records, report = load_records(src)
    assert not report.problems and len(records) == 2
    curate(
        tmp_path / "run", input_file=src, config=parse_config(FAST | {"split": {"enabled": False}})
    )
    curated = [
        json.loads(x) for x in (tmp_path / "run/curation/curated.jsonl").read_text().splitlines()
    ]
    assert len(curated) == 2
    exporter = OpenAIChatExporter()
    from generator.records import parse_record

    rows = [exporter.row(convert(parse_record(c), "chat")) for c in curated]
    first, second = rows
    assert first["tools"] == TOOLS
    assert first["messages"][0]["name"] == "hr_bot" and first["messages"][1]["name"] == "dana"
    assert first["messages"][2] == {"role": "assistant", "content": None, "tool_calls": [CALL]}
    assert first["messages"][3] == {
        "role": "tool",
        "content": '{"days": 12}',
        "tool_call_id": "call_1",
    }
    assert [m.get("weight") for m in second["messages"]] == [None, 0, None, 1]
    assert "meta" not in first
    lines = [json.dumps(r) for r in rows] * 5  # the API wants at least 10 examples
    assert validate_lines(lines).errors == []


def test_formats_without_a_place_for_tools_refuse_such_records() -> None:
    from generator.records import parse_record

    record = parse_record({**OPENAI_LINES[0], "meta": {"id": "t", "format": "chat"}})
    for target in ("alpaca", "completion"):
        with pytest.raises(LossyConversion, match="tools, tool calls, names or weights"):
            convert(record, target)
    with pytest.raises(LossyConversion, match="sharegpt"):
        ShareGPTExporter().row(convert(record, "chat"))


def test_tool_call_arguments_are_scanned_as_text() -> None:
    from generator.records import parse_record

    record = parse_record({**OPENAI_LINES[0], "meta": {"id": "t", "format": "chat"}})
    fields = dict(record.text_fields())
    assert fields["messages.2.tool_calls.0.function.arguments"] == '{"employee": "me"}'
    record.set_text("messages.2.tool_calls.0.function.arguments", '{"employee": "<PERSON>"}')
    assert record.messages[2].tool_calls[0]["function"]["arguments"] == '{"employee": "<PERSON>"}'


def test_openai_chat_extras_survive_the_export_command(tmp_path: Path) -> None:
    """Through ``run_export`` itself: the gate, the meta sidecar and OpenAI's checker."""
    from generator.export.job import ExportOptions, run_export
    from generator.policies import load_policies
    from tests.export._build import make_run, meta, read_jsonl

    pol = load_policies()["openai"]
    rows = [{**OPENAI_LINES[i % 2], "meta": meta(i, "chat", pol)} for i in range(10)]
    out = tmp_path / "o"
    res = run_export(ExportOptions(make_run(tmp_path, rows), "openai-chat", "evaluation", out))
    assert res.validation["train.jsonl"].ok, res.validation["train.jsonl"].errors
    exported = read_jsonl(out / "train.jsonl")
    assert len(exported) == 10
    assert exported[0]["tools"] == TOOLS
    assert exported[0]["messages"][2]["tool_calls"] == [CALL]
    assert exported[0]["messages"][3]["tool_call_id"] == "call_1"
    assert exported[1]["messages"][1]["weight"] == 0
    assert exported[0]["messages"][1]["name"] == "dana"
