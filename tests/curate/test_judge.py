"""LLM checks: parsing copes with garbage, calls are journaled and never paid twice."""

from __future__ import annotations

from pathlib import Path

from generator.curate.judge import JudgeClient, parse_harmful, parse_quality
from generator.curate.quality import QualityConfig, QualityStep
from generator.errors import ServerError
from generator.providers.base import Completion, CompletionRequest, CompletionUsage, Provider
from generator.records import AlpacaRecord, Meta
from generator.store import Journal


class MockJudgeProvider(Provider):
    """Scripted provider: replies by a keyword of the example; records every call."""

    __test__ = False
    name = "mock-judge"

    def __init__(self, replies: dict[str, str | Exception]) -> None:
        self.replies = replies
        self.calls: list[str] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        text = request.messages[-1]["content"]
        key = next(k for k in self.replies if k in text)
        self.calls.append(key)
        reply = self.replies[key]
        if isinstance(reply, Exception):
            raise reply
        return Completion(
            text=reply,
            finish_reason="stop",
            usage=CompletionUsage(prompt_tokens=100, completion_tokens=20, cost_usd=0.001),
        )


def _rec(rid: str, output: str) -> AlpacaRecord:
    return AlpacaRecord(
        instruction="How long is the notice period?",
        output=output,
        meta=Meta(id=rid, format="alpaca"),
    )


GOOD = '{"accuracy": 9, "relevance": 9, "clarity": 8, "usefulness": 8, "rationale": "exact"}'
LOW = (
    'Sure! ```json\n{"accuracy": 3, "relevance": 6, "clarity": 7, "usefulness": 4, '
    '"rationale": "invents a figure"}\n```'
)


def test_parsers_accept_valid_and_reject_garbage_without_raising() -> None:
    assert parse_quality(GOOD)["score"] == 8.5
    assert parse_quality(LOW)["accuracy"] == 3
    for bad in [
        None,
        "",
        "no json here",
        "{broken",
        '{"accuracy": 11, "relevance": 1, "clarity": 1, "usefulness": 1}',
        '{"accuracy": "high"}',
        "[1, 2]",
    ]:
        assert parse_quality(bad) is None
    assert parse_harmful('{"flagged": false}') == []
    assert parse_harmful(
        '<think>hmm</think>{"flagged": true, "categories": ["violence"], "reason": "threat"}'
    ) == [("violence", "judge: threat")]
    assert parse_harmful('{"flagged": "maybe"}') is None


def test_quality_judge_journals_calls_and_resumes_without_paying_twice(tmp_path: Path) -> None:
    provider = MockJudgeProvider(
        {
            "one month": GOOD,
            "two weeks": LOW,
            "garbage": "I think 7/10",
            "boom": ServerError("upstream 503", status=503),
        }
    )
    records = [
        _rec("a", "The notice period is one month."),
        _rec("b", "The notice period is two weeks."),
        _rec("c", "garbage"),
        _rec("d", "boom"),
    ]
    journal = Journal(tmp_path / "run")
    client = JudgeClient(provider, "mock/judge", journal)
    step = QualityStep(QualityConfig(min_score=0, min_parts={}), judge=client.quality)
    step.check_client = client
    kept = [r.meta.id for r in step.run(records)]
    # b below 7 goes to review; c (unparsable) and d (failed) never pass: review too
    assert kept == ["a"]
    why = {e.record.meta.id: (e.reason, e.destination) for e in step.excluded}
    assert why == {
        "b": ("judge_below_threshold", "review"),
        "c": ("check_failed:quality", "review"),
        "d": ("check_failed:quality", "review"),
    }
    assert records[2].meta.curation["quality"]["check_failed"]
    assert step.stats()["check_failed"] == {
        "records": 2,
        "checks": 4,
        "failed": 1,
        "unparsable": 1,
    }
    assert sorted(provider.calls) == ["boom", "garbage", "one month", "two weeks"]
    spent = client.spent()
    assert spent["calls"] == 4 and spent["failed"] == 1
    assert abs(spent["cost_usd"] - 0.003) < 1e-9

    # a second run on the same journal reuses every successful reply
    provider2 = MockJudgeProvider(
        {"one month": GOOD, "two weeks": LOW, "garbage": "x", "boom": GOOD}
    )
    client2 = JudgeClient(provider2, "mock/judge", Journal(tmp_path / "run"))
    fresh = [
        _rec("a", "The notice period is one month."),
        _rec("b", "The notice period is two weeks."),
        _rec("c", "garbage"),
        _rec("d", "boom"),
    ]
    list(QualityStep(QualityConfig(min_score=0, min_parts={}), judge=client2.quality).run(fresh))
    assert provider2.calls == ["boom"]  # only the call that failed before is made again


def test_harmful_judge_flags_through_the_provider(tmp_path: Path) -> None:
    from generator.curate.harmful import HarmfulContentStep

    provider = MockJudgeProvider(
        {
            "veiled": '{"flagged": true, "categories": ["harassment"], "reason": "intimidation"}',
            "quarterly": '{"flagged": false, "categories": [], "reason": ""}',
        }
    )
    client = JudgeClient(provider, "mock/judge", Journal(tmp_path / "run"))
    step = HarmfulContentStep(checker=client.harmful)
    out = list(
        step.run(
            [
                _rec("x", "A veiled warning to the new hire to keep quiet."),
                _rec("y", "Our quarterly targets are in the planning sheet."),
            ]
        )
    )
    assert [r.meta.id for r in out] == ["y"]
    assert step.excluded[0].reason == "harmful:harassment"
