"""Curation of multi-turn conversations: dedup keys on the whole conversation, PII on every
turn, length per conversation, contradictions on the first exchange only."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from generator.curate.contradictions import ContradictionStep, first_exchange
from generator.curate.exact_dedup import ExactDedupStep
from generator.curate.heuristics import HeuristicsFilter
from generator.curate.length import LengthConfig, LengthFilter
from generator.curate.near_dedup import NearDedupConfig, NearDedupStep
from generator.curate.pii import PiiStep
from generator.records import ChatRecord

OPEN_Q = "How many days of annual leave do full-time staff get each year?"
OPEN_A = "Full-time staff get 25 days of annual leave each calendar year."
FOLLOW_UPS = [
    (
        "Can any of those 25 days be carried over into the next year?",
        "Up to 5 unused days carry over and must be taken by the end of March.",
    ),
    (
        "Who has to approve a request that uses those 25 days?",
        "Your line manager approves leave requests in the HR portal within 3 working days.",
    ),
    (
        "Do part-time staff get a share of those 25 days?",
        "Part-time staff get a share in proportion to their contracted hours.",
    ),
]


def convo(rid: str, *pairs: tuple[str, str], system: str | None = None) -> ChatRecord:
    msgs = [{"role": "system", "content": system}] if system else []
    for q, a in pairs:
        msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    return ChatRecord.model_validate({"messages": msgs, "meta": {"id": rid, "format": "chat"}})


def _ids(records) -> list[str]:
    return [r.meta.id for r in records]


def test_conversations_sharing_an_opening_are_not_duplicates_but_a_copy_is() -> None:
    records = [
        convo("c0", (OPEN_Q, OPEN_A), FOLLOW_UPS[0]),
        convo("c1", (OPEN_Q, OPEN_A), FOLLOW_UPS[1]),
        convo("c2", (OPEN_Q, OPEN_A), FOLLOW_UPS[2]),
        convo("copy", (OPEN_Q.upper(), OPEN_A), FOLLOW_UPS[0]),  # c0, up to case
    ]
    exact = ExactDedupStep()
    assert _ids(exact.run(records)) == ["c0", "c1", "c2"]
    assert [(e.record.meta.id, e.duplicate_of) for e in exact.excluded] == [("copy", "c0")]
    # near dedup on the instruction side also reads every user turn, not only the first
    near = NearDedupStep(NearDedupConfig(on="instruction"))
    assert _ids(near.run(records[:3])) == ["c0", "c1", "c2"]
    same_user_turns = convo("same", (OPEN_Q, "Staff get 25 days."), (FOLLOW_UPS[0][0], "Five."))
    out = list(ExactDedupStep().run([records[0], same_user_turns]))
    assert _ids(out) == ["c0"]  # every user turn the same: the same conversation asked


def test_pii_in_a_later_turn_is_found_and_redacted() -> None:
    late = (
        "Who do I write to if the portal is down?",
        "Write to the HR desk at jane.doe@northwind-example.com or call +44 20 7946 0958.",
    )
    record = convo("p", (OPEN_Q, OPEN_A), FOLLOW_UPS[0], late)
    step = PiiStep(key=b"k" * 32)
    [out] = list(step.run([record]))
    blob = json.dumps(out.to_dict())
    assert "jane.doe@northwind-example.com" not in blob and "7946" not in blob
    assert "<EMAIL>" in out.messages[5].content and "<PHONE>" in out.messages[5].content
    assert out.messages[0].content == OPEN_Q  # the clean turns are untouched
    assert out.meta.curation["pii"]["found"] == {"EMAIL": 1, "PHONE": 1}


def test_length_counts_the_whole_conversation() -> None:
    record = convo("l", (OPEN_Q, OPEN_A), *FOLLOW_UPS)
    cfg = LengthConfig(max_tokens={"instruction": 40, "input": 4096, "output": 2048})
    assert LengthFilter(cfg).keep(record) == (False, "too_long:instruction")  # 4 user turns
    short = convo("s", (OPEN_Q, OPEN_A))
    assert LengthFilter(cfg).keep(short) is True
    roomy = LengthFilter(LengthConfig(context_tokens=100, context_margin=0))
    assert roomy.keep(record) == (False, "exceeds_context")
    assert roomy.keep(short) is True
    counts = record.meta.curation["length"]["tokens"]
    assert counts["example"] > counts["instruction"] > 40 and counts["output"] > 60


def test_instruction_heuristics_judge_the_opening_question_not_the_follow_ups() -> None:
    long_follow_up = "And if I also " + " ".join(["travel abroad for work"] * 18) + "?"
    record = convo(
        "h",
        (OPEN_Q, OPEN_A),
        ("Why is that?", "It is the statutory minimum of 20 days plus 5 company days."),
        (long_follow_up, "Work travel does not change the number of leave days you get."),
        (long_follow_up.replace("And", "But"), "No, travel days are counted separately."),
    )
    assert len(record.instruction_text().split()) > 150  # all user turns, for dedup and length
    assert HeuristicsFilter().keep(record) is True
    bad_opening = convo("b", ("Leave?", OPEN_A), FOLLOW_UPS[0])
    assert HeuristicsFilter().keep(bad_opening) == (False, "instruction_too_short")


def test_contradictions_compare_first_exchanges_of_conversations() -> None:
    records = [
        convo("c0", (OPEN_Q, OPEN_A), FOLLOW_UPS[0]),
        # same opening, same first answer, a follow-up with other figures: no contradiction
        convo("c1", (OPEN_Q, OPEN_A), FOLLOW_UPS[1]),
        convo("c2", (OPEN_Q, OPEN_A), FOLLOW_UPS[2], system="Answer from the handbook."),
    ]
    step = ContradictionStep()
    assert _ids(step.run(records)) == ["c0", "c1", "c2"] and step.groups == []
    assert first_exchange(records[2]) == (OPEN_Q, OPEN_A)
    # a different figure in the first answer to the same opening question is flagged
    wrong = convo("w", (OPEN_Q, "Full-time staff get 30 days of annual leave."), FOLLOW_UPS[0])
    step = ContradictionStep()
    kept = list(step.run([records[0], wrong]))
    assert kept == [] and len(step.groups) == 1
    assert {e.reason for e in step.excluded} == {"contradiction:numbers"}
    # c1 copies c0's first answer but goes on differently: reviewed with the group, not
    # dropped as a duplicate; an exact copy of c0 still leaves as c0's duplicate
    copy = convo("copy", (OPEN_Q, OPEN_A), FOLLOW_UPS[0])
    step = ContradictionStep()
    assert list(step.run([records[0], wrong, records[1], copy])) == []
    fate = {e.record.meta.id: (e.reason, e.destination, e.duplicate_of) for e in step.excluded}
    assert fate["c1"] == ("contradiction:numbers", "review", None)
    assert fate["copy"] == ("duplicate_in_contradiction_group", "excluded", "c0")


def test_curate_command_keeps_conversations_that_share_an_opening(tmp_path: Path) -> None:
    rows = [convo(f"c{i}", (OPEN_Q, OPEN_A), fu).to_dict() for i, fu in enumerate(FOLLOW_UPS)] + [
        convo("copy", (OPEN_Q, OPEN_A), FOLLOW_UPS[0]).to_dict()
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["curate", "--input", str(src), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    cur = tmp_path / "run" / "curation"
    kept = [
        json.loads(line)["meta"]["id"]
        for name in ("train.jsonl", "validation.jsonl")
        if (cur / name).exists()
        for line in (cur / name).read_text().splitlines()
    ]
    assert sorted(kept) == ["c0", "c1", "c2"], res.output
