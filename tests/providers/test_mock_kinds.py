"""The mock provider's replies to the derive stages' schemas (evalset, pairs)."""

from __future__ import annotations

import json
import random

from generator.derive.evalset import item_schema
from generator.derive.pairs import ANSWER_SCHEMA, FLAW_SCHEMA, RANK_SCHEMA
from generator.providers.mock_kinds import _VAGUE, kind_records
from generator.providers.mock_records import build_reply

DOC_A = (
    "<document>Full-time staff get 25 days of leave. Requests go through the HR portal.</document>"
)
DOC_B = "<document>Unused leave of up to 5 days carries over to the next year.</document>"


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "rules"}, {"role": "user", "content": text}]


def test_eval_items_quote_the_document_verbatim() -> None:
    reply = json.loads(build_reply(_user(DOC_A + "\nWrite 2 questions."), item_schema(2, 1), "d"))
    assert len(reply["records"]) == 2
    for item in reply["records"]:
        assert all(q in DOC_A for q in item["quotes"]) and item["difficulty"] in ("easy", "medium")
    two = json.loads(build_reply(_user(DOC_A + DOC_B), item_schema(1, 2), "d"))["records"][0]
    assert two["quotes"][0] in DOC_A and two["quotes"][1] in DOC_B


def test_answers_differ_by_model_and_setting() -> None:
    msgs = _user(DOC_A + "<question>How many days of leave?</question>")
    texts = {
        json.loads(build_reply(msgs, ANSWER_SCHEMA, "d", variant=v))["answer"]
        for v in ("c:0.7", "d:0.7")
    }
    assert texts == {"Full-time staff get 25 days of leave.", _VAGUE}  # grounded vs vague


def test_flawed_and_ranked() -> None:
    flawed = kind_records(FLAW_SCHEMA, _user(DOC_A + "<answer>You get 25 days.</answer>"), 1,
                          random.Random(0))[0]  # fmt: skip
    assert flawed == {"answer": "You get 32 days.", "flaw": "wrong_figure"}
    both = (
        "<answer n=1>\nIt depends.\n</answer><answer n=2>\nFull-time staff get 25 days.\n</answer>"
    )
    assert kind_records(RANK_SCHEMA, _user(DOC_A + both), 1, random.Random(0))[0]["better"] == "2"
    same = "<answer n=1>\nStaff get leave.\n</answer><answer n=2>\nStaff get leave.\n</answer>"
    assert kind_records(RANK_SCHEMA, _user(DOC_A + same), 1, random.Random(0))[0]["better"] == "tie"
