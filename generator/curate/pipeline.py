"""The curation pipeline: build the steps named in ``curate.yaml`` from the registry, stream
the records through them, split, check for leakage, write the files and the report.

Outputs under ``RUN/curation/`` (PRODUCT.md): ``curated.jsonl``, ``train.jsonl``,
``validation.jsonl``, ``excluded.jsonl`` / ``review.jsonl`` / ``quarantine.jsonl`` (each
removed record with its step, reason and ``duplicate_of`` under ``meta.curation.excluded``),
``stats.json``, ``report.md`` and PNGs. Same input and settings give the same files: no
clock, no unseeded randomness, input order kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.atomic import Staging
from generator.curate.base import Exclusion
from generator.curate.config import CurateConfig, load_config
from generator.curate.io import LoadReport, Problem, load_records, write_jsonl
from generator.curate.registry import StepContext, build_step
from generator.curate.report import write_report
from generator.curate.split import check_leakage, split_records
from generator.errors import ConfigError
from generator.records import Record

DESTINATION_FILES = {
    "excluded": "excluded.jsonl",
    "review": "review.jsonl",
    "quarantine": "quarantine.jsonl",
}


@dataclass
class CurationResult:
    """What a curation run did: per-step stats, counts per output file, input problems."""

    out_dir: Path
    stats: list[dict[str, Any]]
    counts: dict[str, int]
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    report: Path | None = None


def run_pipeline(
    records: Sequence[Record],
    out_dir: Path,
    config: CurateConfig,
    *,
    journal: Any = None,
    run_dir: Path | None = None,
    problems: Sequence[Problem] = (),
) -> CurationResult:
    """Curate ``records`` into ``out_dir`` (the run's ``curation/`` folder)."""
    ctx = StepContext(run_dir, journal, config.target_model, config.seed)
    steps = [build_step(n, config.step_config(n), ctx) for n in config.enabled_steps()]
    removed: list[Exclusion] = []
    for step in steps:
        step.bind(removed.append)
    before = [(r.meta.id, r.example_text()) for r in records]
    stream: Any = iter(records)
    for step in steps:
        stream = step.run(stream)
    curated = list(stream)

    stats, warnings = [], []
    for step in steps:
        data = {"step": step.name, "in": step.seen, **step.stats()}
        warnings.extend(data.get("warnings", []))
        stats.append(data)
    counts: dict[str, int] = {"input": len(records), "curated": len(curated)}
    split_sizes = None
    parts = split_records(curated, config.split, config.seed) if config.split.enabled else None
    if parts is not None:
        check_leakage(parts.train, parts.validation, config.split)  # raises loudly
        split_sizes = {"train": len(parts.train), "validation": len(parts.validation)}
        counts.update(split_sizes)
    # All files, or none: a full disk half-way must not leave a new train.jsonl beside an
    # old validation.jsonl for export to pair up.
    with Staging(out_dir) as staged:
        if parts is not None:
            write_jsonl(staged.path("train.jsonl"), (r.to_dict() for r in parts.train))
            write_jsonl(staged.path("validation.jsonl"), (r.to_dict() for r in parts.validation))
        write_jsonl(staged.path("curated.jsonl"), (r.to_dict() for r in curated))
        for dest, name in DESTINATION_FILES.items():
            rows = [e.to_dict() for e in removed if e.destination == dest]
            if rows or dest != "quarantine":
                counts[dest] = write_jsonl(staged.path(name), rows)
        stats_text = json.dumps({"counts": counts, "steps": stats}, indent=2, ensure_ascii=False)
        staged.write_text("stats.json", stats_text + "\n")
        staged.commit()
    notes = [f"input {p}" for p in problems[:20]] + list(dict.fromkeys(warnings))
    report = None
    if config.report.enabled:
        report = write_report(
            out_dir,
            before=before,
            curated=curated,
            excluded=removed,
            stats=stats,
            split_sizes=split_sizes,
            cfg=config.report,
            model=config.target_model,
            seed=config.seed,
            notes=notes,
        )
    return CurationResult(out_dir, stats, counts, list(problems), warnings, report)


def curate(
    run_dir: Path,
    *,
    input_file: Path | None = None,
    config_path: Path | None = None,
    config: CurateConfig | None = None,
) -> CurationResult:
    """Curate a run's ``records.jsonl`` (or ``input_file``) into ``run_dir/curation``."""
    config = config or load_config(config_path)
    run_dir = Path(run_dir)
    source = Path(input_file) if input_file else run_dir / "records.jsonl"
    if not source.is_file():
        hint = "" if input_file else " (generate first, or use --input FILE.jsonl --out RUN)"
        raise ConfigError(f"{source}: no such file{hint}")
    records, load = load_records(source)
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = _journal(run_dir)
    try:
        result = run_pipeline(
            records,
            run_dir / "curation",
            config,
            journal=journal,
            run_dir=run_dir,
            problems=load.problems,
        )
    finally:
        if journal is not None:
            journal.close()
    result.counts["lines"] = load.lines
    result.counts["bad_lines"] = len(load.problems)
    return result


def _journal(run_dir: Path) -> Any:
    """The run's journal when it has one (steps such as PII keep state there)."""
    if not (run_dir / "run.sqlite").exists():
        return None
    from generator.store import open_run

    return open_run(run_dir)


__all__ = ["CurationResult", "LoadReport", "curate", "run_pipeline"]
