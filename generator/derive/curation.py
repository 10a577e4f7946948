"""The model-free per-record curation steps over the texts a derive stage made.

A preference pair holds two answers and an evaluation item a question and a reference
answer that no ``curate`` run has seen (curation runs before the pairs / evalset stages,
and on training records only). So the stage runs the per-record steps that need no model
over each new record before writing it: ``pii`` (every text field: the prompt and both
sides of a pair, the question and the answer of an item; redacted, pseudonymised or
dropped as the defaults say), ``harmful`` (the offline classifier on every text field;
no provider check) and ``length`` (curation's defaults; for a pair both answers, but a
short rejected answer is kept, and an item's reference answer has no minimum: a short
answer is what those may be). A record a step removes is
written to the stage's ``excluded.jsonl`` with its step and reason (``meta.curation``),
never dropped silently; the steps' counts and warnings go to the stage's report. Steps
that need a model (quality judge, contradictions) or the whole set (dedup, split) are not
run here, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from generator.curate.base import Exclusion, Filter
from generator.curate.registry import StepContext, build_step, specs
from generator.record_kinds import PreferenceRecord
from generator.records import Record, parse_record
from generator.store import Journal

STEPS = ("pii", "harmful", "length")
NOT_RUN = "quality, contradictions, dedup and split: they need a model or the whole set"


def _both_sides(step: Filter, records: Iterable[Record]) -> Iterator[Record]:
    """A filter that reads the answer (``length``) judges a pair's rejected side too."""
    for rec in step.run(records):
        if isinstance(rec, PreferenceRecord):
            view = rec.model_copy(update={"chosen": rec.rejected}, deep=True)
            verdict = step.keep(view)
            ok, why = verdict if isinstance(verdict, tuple) else (verdict, step.name)
            # a short rejected answer is what a pair may teach against; too long is not
            if not ok and not why.startswith("too_short"):
                step.kept -= 1
                step.exclude(rec, f"{why} (rejected side)")
                continue
        yield rec


def _config(name: str, short_answers: bool) -> Any:
    config = specs()[name].config_model()
    if name == "length" and short_answers:  # a reference answer may be a figure or a name
        config.min_tokens = {**config.min_tokens, "output": 0}
    return config


def curate_new(
    rows: list[dict[str, Any]], run: Path, journal: Journal, short_answers: bool = False
) -> tuple[list[dict[str, Any]], list[Exclusion], dict[str, Any]]:
    """(records kept, the exclusions with their step and reason, the report's part).
    ``short_answers``: no minimum answer length (evaluation items' reference answers)."""
    ctx = StepContext(run_dir=run, journal=journal)
    steps = [build_step(n, _config(n, short_answers), ctx) for n in STEPS]
    excluded: list[Exclusion] = []
    for step in steps:
        step.bind(excluded.append)
    stream: Iterable[Record] = (parse_record(r) for r in rows)
    for step in steps:
        stream = _both_sides(step, stream) if isinstance(step, Filter) else step.run(stream)
    kept = [r.to_dict() for r in stream]
    report = {
        "steps": [s.stats() for s in steps],
        "warnings": [w for s in steps for w in getattr(s, "warnings", [])],
        "not_run": NOT_RUN,
    }
    return kept, excluded, report


def curate_stage(
    rows: list[dict[str, Any]],
    findings: list[dict[str, Any]],
    counts: Any,
    run: Path,
    journal: Journal,
    short_answers: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """:func:`curate_new` for a stage: (records kept, records excluded, the report's part);
    a record a step sends to review (``check_failed``) joins ``findings``; every removal is
    counted in ``counts`` as ``curation:<step>:<reason>``."""
    kept, excluded, report = curate_new(rows, run, journal, short_answers)
    out = []
    for e in excluded:
        counts[f"curation:{e.step}:{e.reason}"] += 1
        if e.destination == "review":
            findings.append({"record": e.record.meta.id, "reason": e.reason, "step": e.step})
        else:
            out.append(e.to_dict())
    return kept, out, report
