"""Heuristic quality and grounding scores on real text; judge failures never crash."""

from __future__ import annotations

from generator.curate.quality import QualityConfig, QualityStep, grounding, quality_of, repetition
from generator.records import AlpacaRecord, Meta

SOURCE = (
    "Employees may carry over up to 5 unused vacation days into the next calendar year. "
    "Carried-over days expire on 31 March. Requests to carry over more than 5 days need "
    "written approval from the department head and HR."
)


def _rec(output: str, rid: str = "r") -> AlpacaRecord:
    return AlpacaRecord(
        instruction="How many vacation days can I carry over?",
        output=output,
        meta=Meta(id=rid, format="alpaca"),
    )


GOOD = (
    "You may carry over up to 5 unused vacation days into the next calendar year; they "
    "expire on 31 March, and carrying over more needs written approval from the department "
    "head and HR."
)
INVENTED = (
    "You can carry over up to 12 days, which never expire, and your team lead can "
    "approve 20 more on request via the travel portal."
)


def test_grounding_separates_supported_from_invented_answers() -> None:
    assert grounding(GOOD, SOURCE) > 0.8
    assert grounding(INVENTED, SOURCE) < 0.5


def test_repetition_penalises_loops() -> None:
    assert repetition(GOOD) == 1.0
    assert repetition("the policy applies " * 20) < 0.2


def test_step_scores_keeps_good_and_drops_bad_with_reason() -> None:
    step = QualityStep(source_text=lambda _r: SOURCE)
    records = [
        _rec(GOOD, "good"),
        _rec(INVENTED, "invented"),
        _rec("Yes.", "short"),
        _rec("As an AI language model, I cannot help with that request today.", "refusal"),
    ]
    kept = list(step.run(records))
    assert [r.meta.id for r in kept] == ["good"]
    assert kept[0].meta.curation["quality"]["score"] > 0.8
    reasons = {e.record.meta.id: e.reason for e in step.excluded}
    assert reasons["invented"] == "low_quality:grounding"
    assert reasons["short"].startswith("low_quality:")
    assert reasons["refusal"].startswith("low_quality:")
    assert quality_of(kept[0]) == kept[0].meta.curation["quality"]["score"]


def test_judge_low_score_and_unusable_verdicts_go_to_review() -> None:
    replies = {
        "a": {"score": 9, "rationale": "accurate"},
        "b": {"score": 4, "rationale": "vague"},
        "c": None,
    }
    step = QualityStep(
        QualityConfig(min_score=0),
        source_text=lambda _r: SOURCE,
        judge=lambda batch: [replies[r.meta.id] for r, _ in batch],
    )
    kept = list(step.run([_rec(GOOD, "a"), _rec(GOOD, "b"), _rec(GOOD, "c")]))
    assert [r.meta.id for r in kept] == ["a"]  # c: the judge gave nothing, never a pass
    assert [(e.record.meta.id, e.reason, e.destination) for e in step.excluded] == [
        ("b", "judge_below_threshold", "review"),
        ("c", "check_failed:quality", "review"),
    ]
    assert step.excluded[1].record.meta.curation["quality"]["judge"] == {"status": "failed"}
    assert quality_of(kept[0]) == 0.9
