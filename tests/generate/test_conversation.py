"""The ``conversation`` template: turn rules in the template, the reply schema and the parser,
mock-provider conversations end to end, and bad conversations rejected with their reasons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from generator.errors import PromptFileError
from generator.generate.parsing import parse_reply
from generator.generate.prompts import load_template, render, reply_schema
from generator.providers import mock
from generator.providers.mock_records import build_records
from generator.records import ChatRecord, Chunk, parse_record, turn_problem
from tests.generate.engine_helpers import gen, query, read_jsonl


def _turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


GOOD = _turns(
    ("user", "How many leave days do I get?"),
    ("assistant", "Full-time staff get 25 days a year."),
    ("user", "Can I carry those 25 days over?"),
    ("assistant", "Up to 5 of them carry over to next year."),
)
BAD = {
    "not_alternating": _turns(
        ("user", "How many leave days do I get?"),
        ("user", "And can I carry them over?"),
        ("assistant", "You get 25 days; 5 carry over."),
    ),
    "empty_turn": [*GOOD[:2], {"role": "user", "content": "  "}, GOOD[3]],
    "ends_with_user": GOOD[:3],
    "too_few_turns": GOOD[:2],
    "too_many_turns": GOOD * 2 + GOOD[:2],  # 10 turns
}


def test_template_loads_with_turn_rules_in_its_reply_schema() -> None:
    tpl = load_template("conversation")
    assert tpl.format == "chat" and tpl.turns is not None and tpl.turns.limits == (3, 8)
    msgs = reply_schema(tpl.format, 2, tpl.bounds, tpl.turns)["properties"]["records"]["items"]
    msgs = msgs["properties"]["messages"]
    assert (msgs["minItems"], msgs["maxItems"]) == (3, 8)
    # the plain chat template keeps the chat kind's looser rules
    chat = load_template("chat")
    plain = reply_schema(chat.format, 2, chat.bounds, chat.turns)["properties"]["records"]
    assert chat.turns is None and plain["items"]["properties"]["messages"]["minItems"] == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("format: alpaca\nturns: {min: 3, max: 8}", "turns: only a chat template"),
        ("format: chat\nturns: {min: 6, max: 4}", "turns: Value error, min must not exceed"),
        ("format: chat\nturns: {min: 3, max: 8, most: 5}", "turns.most"),
        ("format: chat\nturns: {min: 5, max: 5}", "cannot start with the user and end"),
    ],
)
def test_bad_turn_rules_fail_at_load_with_path_and_field(
    tmp_path: Path, body: str, error: str
) -> None:
    path = tmp_path / "convo.yaml"
    path.write_text(f"id: convo\nversion: '1'\ndescription: d\nsystem: s\nuser: u\n{body}\n")
    with pytest.raises(PromptFileError) as exc:
        load_template(path)
    assert str(path) in str(exc.value) and error in str(exc.value)


def test_turn_problem_accepts_a_system_turn_and_names_each_fault() -> None:
    assert turn_problem(GOOD, 3, 8) is None
    assert turn_problem([{"role": "system", "content": "Be brief."}, *GOOD], 3, 8) is None
    for code, msgs in BAD.items():
        problem = turn_problem(msgs, 3, 8)
        assert problem is not None and problem.startswith(f"{code}: "), (code, problem)


def test_parser_rejects_bad_conversations_only_for_a_turns_template() -> None:
    reply = json.dumps({"records": [{"messages": GOOD}] + [{"messages": m} for m in BAD.values()]})
    parsed = parse_reply(reply, "chat", turns=(3, 8))
    assert parsed.valid == [{"messages": GOOD}]
    codes = [c.error.code for c in parsed.items if c.error is not None]
    assert codes == [f"conversation:{code}" for code in BAD]
    # the chat kind itself (no turn rules) still takes a two-turn or user-final chat
    loose = parse_reply(json.dumps({"records": [{"messages": BAD["ends_with_user"]}]}), "chat")
    assert len(loose.valid) == 1


def test_mock_writes_grounded_conversations_whose_follow_ups_quote_earlier_answers() -> None:
    tpl = load_template("conversation")
    text = (
        "Full-time staff receive twenty five days of annual leave. Up to five unused days "
        "carry over into the next year. Requests go through the HR portal two weeks ahead. "
        "Managers approve or decline requests within three working days."
    )
    chunk = Chunk(
        id="c1", doc_path="leave.md", doc_sha256="0" * 64, index=0, text=text,
        span=(0, len(text)), heading_path=["Leave"], tokens=50,
    )  # fmt: skip
    messages = render(tpl, chunk, n=3)
    schema = reply_schema(tpl.format, 3, tpl.bounds, tpl.turns)
    lengths = set()
    for digest in ("a", "b", "c", "d", "e"):
        _, records = build_records(messages, schema, digest)
        assert len(records) == 3
        assert records == build_records(messages, schema, digest)[1]  # deterministic
        for rec in records:
            msgs = rec["messages"]
            assert turn_problem(msgs, 3, 8) is None
            lengths.add(len(msgs))
            for k in range(1, len(msgs)):
                if msgs[k]["role"] == "assistant":
                    assert msgs[k]["content"] in text  # grounded: a sentence of the chunk
                elif k > 1:  # a follow-up quotes the words that opened the previous answer
                    quoted = re.search(r'"([^"]+)"', msgs[k]["content"]).group(1)
                    assert msgs[k - 1]["content"].lower().startswith(quoted)
    assert lengths <= {4, 6, 8} and len(lengths) > 1


def test_generate_conversation_end_to_end_with_provenance(docs: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = gen(docs, run, "--template", "conversation")
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    assert len(records) >= 6
    docs_sha = dict(query(run, "SELECT path, sha256 FROM documents"))
    for rec in records:
        parsed = parse_record(rec)
        assert isinstance(parsed, ChatRecord)
        msgs = [m.model_dump() for m in parsed.messages]
        assert turn_problem(msgs, 3, 8) is None and len(msgs) in (4, 6, 8)
        meta = parsed.meta
        assert meta.prompt is not None and meta.prompt.id == "conversation"
        assert meta.source is not None and docs_sha[meta.source.path] == meta.source.doc_sha256
        doc = (docs / meta.source.path).read_text()
        assert all(m["content"] in doc for m in msgs if m["role"] == "assistant")
    assert read_jsonl(run / "rejected.jsonl") == []
    # the same settings with the calls (and checks) in a call process: the same conversations
    again = tmp_path / "again"
    res = gen(docs, again, "--template", "conversation", "--workers", "1")
    assert res.exit_code == 0, res.output
    assert [r["messages"] for r in read_jsonl(again / "records.jsonl")] == [
        r["messages"] for r in records
    ]


def test_bad_conversations_go_to_rejected_jsonl_with_reasons(
    docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = mock.build_reply

    def reply(messages, schema, digest, count=None, indent=1, variant=""):  # type: ignore[no-untyped-def]
        good = json.loads(real(messages, schema, digest, 1))["records"]
        # a short follow-up is natural in a conversation: the instruction filters (min 4
        # words) judge the opening question only
        msgs = good[0]["messages"]
        msgs[2]["content"] = f"Why {msgs[1]['content'].split()[0].lower()}?"
        bad = [{"messages": m} for m in BAD.values()]
        return json.dumps({"records": good + bad})

    monkeypatch.setattr(mock, "build_reply", reply)
    run = tmp_path / "run"
    res = gen(docs, run, "--template", "conversation", "--workers", "0")  # patched here
    assert res.exit_code == 0, res.output
    records = read_jsonl(run / "records.jsonl")
    units = query(run, "SELECT COUNT(*) FROM gen_units")[0][0]
    assert len(records) == units  # the one good conversation of every reply
    assert all(len(r["messages"][2]["content"].split()) == 2 for r in records)
    rejected = read_jsonl(run / "rejected.jsonl")
    assert len(rejected) == units * len(BAD)
    reasons = {r["reason"] for r in rejected}
    assert reasons == {f"conversation:{code}" for code in BAD}
    assert all(r["detail"] and r["raw"] for r in rejected)
    too_many = next(r for r in rejected if r["reason"] == "conversation:too_many_turns")
    assert "10 turns, at most 8" in too_many["detail"]
