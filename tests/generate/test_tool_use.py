"""The ``tool-use`` template: the ``--tools`` catalogue (validated on load), the checks of each
tool conversation, mock-provider tool conversations end to end, and invalid arguments
rejected and re-asked like any malformed output."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from generator.errors import ConfigError
from generator.generate.parsing import parse_reply
from generator.generate.tool_schema import tool_reply_schema
from generator.generate.tools import ToolUse, load_catalogue, tool_problem
from generator.providers import mock
from generator.records import ChatRecord, parse_record
from tests.generate.engine_helpers import gen, query, read_jsonl

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "tools" / "handbook.json"
SEARCH = {
    "type": "object",
    "properties": {"query": {"type": "string", "minLength": 3}, "limit": {"type": "integer"}},
    "required": ["query"],
    "additionalProperties": False,
}
FUNCTION = {"name": "search", "description": "", "parameters": SEARCH}
TOOLS = ({"type": "function", "function": FUNCTION},)
RULES = ToolUse()


def _convo(args: object = None, **change: object) -> list[dict]:
    msgs = [
        {"role": "user", "content": "How many leave days do I get?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "name": "search", "arguments": args or {"query": "annual leave"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Full-time staff get 25 days."},
        {"role": "assistant", "content": "You get 25 days of annual leave."},
    ]
    for key, value in change.items():
        i, field = key.split("_", 1)
        msgs[int(i[1:])][field] = value
    return msgs


# ---------------------------------------------------------------- the catalogue


def test_catalogue_loads_both_shapes_and_yaml(tmp_path: Path) -> None:
    cat = load_catalogue(SAMPLE)
    assert [t["function"]["name"] for t in cat.tools] == ["search_policies", "get_policy_section"]
    assert all(t["type"] == "function" for t in cat.tools)  # bare entries normalised
    yml = tmp_path / "tools.yaml"
    yml.write_text("tools:\n  - name: ping\n    description: Is it up?\n")
    one = load_catalogue(yml)
    assert one.tools[0]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert one.sha256 != cat.sha256


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("[]", "expected a non-empty list of functions"),
        ('{"name": "x"}', "expected a non-empty list"),
        ('[{"name": "a b"}]', "tools[0]: name: must be 1-64 letters"),
        ('[{"name": "a"}, {"name": "a"}]', "tools[1]: name 'a' appears twice"),
        ('[{"name": "a", "params": {}}]', "tools[0]: unknown key(s) params"),
        ('[{"type": "tool", "function": {"name": "a"}}]', 'tools[0]: expected {"type": "function"'),
        ('[{"name": "a", "parameters": {"type": "string"}}]', "parameters: must be a JSON Schema"),
        (
            '[{"name": "a", "parameters": {"type": "object", "properties": '
            '{"x": {"type": "strin"}}}}]',
            "parameters: not a valid JSON Schema at properties/x/type",
        ),
        ("[{", "not valid JSON"),
    ],
)
def test_a_bad_catalogue_fails_on_load_with_path_entry_and_field(
    tmp_path: Path, body: str, error: str
) -> None:
    path = tmp_path / "tools.json"
    path.write_text(body)
    with pytest.raises(ConfigError) as exc:
        load_catalogue(path)
    assert str(path) in str(exc.value) and error in str(exc.value), str(exc.value)


def test_cli_refuses_a_missing_wrong_or_bad_catalogue(docs: Path, tmp_path: Path) -> None:
    res = gen(docs, tmp_path / "a", "--template", "tool-use")
    assert res.exit_code == 2 and "give the tool catalogue with --tools FILE" in res.output
    res = gen(docs, tmp_path / "b", "--template", "qa", "--tools", str(SAMPLE))
    assert res.exit_code == 2 and "--tools applies to a tool-calling template" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text('[{"name": "x", "parameters": {"type": "object", "required": 3}}]')
    res = gen(docs, tmp_path / "c", "--template", "tool-use", "--tools", str(bad))
    assert res.exit_code == 2 and "not a valid JSON Schema" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "c" / "records.jsonl").exists()  # refused before any call


# ---------------------------------------------------------------- one conversation


def test_tool_problem_names_each_fault() -> None:
    schemas = {"search": SEARCH}
    assert tool_problem(_convo(), schemas, RULES) is None
    cases = {
        "invalid_arguments": _convo({"query": "x"}),  # minLength 3
        "unknown_tool": _convo(m1_tool_calls=[{"id": "c1", "name": "delete", "arguments": {}}]),
        "orphan_result": _convo(m2_tool_call_id="c9"),
        "empty_result": _convo(m2_content=" "),
        "no_final_answer": _convo()[:3],
        "starts_without_user": _convo()[1:],
    }
    extra = _convo({"query": "leave", "mood": "happy"})  # additionalProperties: false
    assert tool_problem(extra, schemas, RULES).startswith("invalid_arguments: search: ")
    unanswered = [*_convo()[:2], {"role": "assistant", "content": "Done."}]
    assert tool_problem(unanswered, schemas, RULES).startswith("unanswered: ")
    no_call = [_convo()[0], _convo()[3]]
    assert tool_problem(no_call, schemas, RULES).startswith("no_call: 0 tool calls")
    assert tool_problem(no_call, schemas, ToolUse(min_calls=0)) is None
    for code, msgs in cases.items():
        problem = tool_problem(msgs, schemas, RULES)
        assert problem is not None and problem.startswith(f"{code}: "), (code, problem)


def test_parser_turns_a_good_conversation_into_openai_shape_and_rejects_bad_arguments() -> None:
    schema = tool_reply_schema(2, TOOLS, RULES, 1200)
    good, bad = _convo(), _convo({"query": 42})
    reply = json.dumps({"records": [{"messages": good}, {"messages": bad}]})
    parsed = parse_reply(reply, "chat", schema=schema, tools=(TOOLS, RULES))
    assert len(parsed.valid) == 1
    rec = parsed.valid[0]
    call = rec["messages"][1]["tool_calls"][0]
    assert call == {
        "id": "c1",
        "type": "function",
        "function": {"name": "search", "arguments": '{"query": "annual leave"}'},
    }
    assert rec["tools"] == list(TOOLS)
    result = {"role": "tool", "tool_call_id": "c1", "content": good[2]["content"]}
    assert rec["messages"][2] == result
    parse_record({**rec, "meta": {"id": "x", "format": "chat"}})  # a valid chat record
    errors = [c.error for c in parsed.items if c.error is not None]
    assert [e.code for e in errors] == ["tool_call:invalid_arguments"]
    assert "42 is not of type 'string'" in errors[0].detail


# ---------------------------------------------------------------- end to end, with the mock


def _check_tool_records(records: list[dict], docs: Path) -> None:
    catalogue = load_catalogue(SAMPLE)
    schemas = catalogue.schemas()
    for rec in records:
        parsed = parse_record(rec)
        assert isinstance(parsed, ChatRecord) and parsed.tools == list(catalogue.tools)
        assert parsed.meta.prompt is not None and parsed.meta.prompt.id == "tool-use"
        msgs = parsed.messages
        calls = [c for m in msgs for c in (m.tool_calls or [])]
        assert calls and all(c["type"] == "function" for c in calls)
        for c in calls:  # arguments are a JSON string valid against the tool's schema
            args = json.loads(c["function"]["arguments"])
            jsonschema.validate(args, schemas[c["function"]["name"]])
        results = [m for m in msgs if m.role == "tool"]
        assert {m.tool_call_id for m in results} == {c["id"] for c in calls}
        answer = msgs[-1]
        assert answer.role == "assistant" and answer.tool_calls is None
        # answered from the result the record carries, which holds a fact of the document
        assert any(answer.content in m.content for m in results)
        assert answer.content in (docs / parsed.meta.source.path).read_text()


def test_generate_tool_use_end_to_end_with_the_mock(docs: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = gen(docs, run, "--template", "tool-use", "--tools", str(SAMPLE))
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    assert len(records) >= 6
    _check_tool_records(records, docs)
    names = {
        json.loads(json.dumps(c))["function"]["name"]
        for r in records
        for m in r["messages"]
        for c in m.get("tool_calls", [])
    }
    assert names == {"search_policies", "get_policy_section"}  # both tools used
    assert {r["reason"] for r in read_jsonl(run / "rejected.jsonl")} <= {"not_novel"}
    # the calls (and the argument checks) in a call process give the same records
    again = tmp_path / "again"
    res = gen(docs, again, "--template", "tool-use", "--tools", str(SAMPLE), "--workers", "1")
    assert res.exit_code == 0, res.output
    assert [r["messages"] for r in read_jsonl(again / "records.jsonl")] == [
        r["messages"] for r in records
    ]
    config = json.loads((run / "config.json").read_text())
    assert config["tools"] == str(SAMPLE)
    assert config["tools_sha256"] == load_catalogue(SAMPLE).sha256
    # another catalogue on the same run changes what is asked: refused like other settings
    other = tmp_path / "other.json"
    other.write_text(SAMPLE.read_text().replace("Search the staff", "Search the"))
    res = gen(docs, run, "--template", "tool-use", "--tools", str(other))
    assert res.exit_code == 2 and "tools_sha256" in res.output


def test_invalid_arguments_are_rejected_and_reasked(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = mock.build_reply

    def reply(messages, schema, digest, count=None, indent=1, **kw):  # type: ignore[no-untyped-def]
        text = real(messages, schema, digest, count, indent, **kw)
        if "invalid_arguments" in messages[-1]["content"]:
            return text  # the re-ask, which names the error: a good reply
        data = json.loads(text)
        for rec in data["records"]:
            call = rec["messages"][1]["tool_calls"][0]
            call["arguments"] = {"query": 7} if call["name"] == "search_policies" else {}
        return json.dumps(data)

    monkeypatch.setattr(mock, "build_reply", reply)
    run = tmp_path / "run"
    res = gen(docs, run, "--template", "tool-use", "--tools", str(SAMPLE), "--workers", "0")
    assert res.exit_code == 0, res.output
    units = query(run, "SELECT COUNT(*) FROM gen_units")[0][0]
    reasks = query(run, "SELECT COUNT(*) FROM gen_calls WHERE kind='reask' AND status='ok'")[0][0]
    assert reasks == units  # every first reply was malformed, every one re-asked once
    rejected = read_jsonl(run / "rejected.jsonl")
    first = [r for r in rejected if r["reason"] == "tool_call:invalid_arguments"]
    assert len(first) == units and all(r["reasked"] for r in first)
    assert any("7 is not of type 'string'" in r["detail"] for r in first)
    assert any("'topic' is a required property" in r["detail"] for r in first)
    records = read_jsonl(run / "records.jsonl")
    assert records
    _check_tool_records(records, docs)


def test_a_call_turn_may_carry_text_or_null_beside_its_calls() -> None:
    schema = tool_reply_schema(2, TOOLS, RULES, 1200)
    with_text, with_null = _convo(m1_content="Let me look that up."), _convo(m1_content=None)
    reply = json.dumps({"records": [{"messages": with_text}, {"messages": with_null}]})
    parsed = parse_reply(reply, "chat", schema=schema, tools=(TOOLS, RULES))
    assert len(parsed.valid) == 2, [c.error for c in parsed.items]
    assert parsed.valid[0]["messages"][1]["content"] == "Let me look that up."
    assert "content" not in parsed.valid[1]["messages"][1]  # OpenAI's shape: no text, no key
