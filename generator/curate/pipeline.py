"""The curation pipeline: build the steps named in ``curate.yaml`` from the registry, stream
the records through them, split, check for leakage, write the files and the report.

Outputs under ``RUN/curation/`` (PRODUCT.md): ``curated.jsonl``, ``train.jsonl``,
``validation.jsonl``, ``excluded.jsonl`` / ``review.jsonl`` / ``quarantine.jsonl`` (each
removed record with its step, reason and ``duplicate_of`` under ``meta.curation.excluded``),
``stats.json``, ``report.md``, PNGs and ``manifest.json`` (what the curation was made from,
``curate/manifest.py``). Same input and settings give the same files: no clock, no unseeded
randomness, input order kept. A configured LLM check that could not run sends its record to
review (``check_failed:<step>``); an open circuit breaker stops the run (exit 4).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.atomic import Staging
from generator.curate import manifest
from generator.curate.base import Exclusion
from generator.curate.config import CurateConfig
from generator.curate.io import LoadReport, Problem, load_records, write_jsonl
from generator.curate.judge import use_call_cache
from generator.curate.registry import StepContext, build_step
from generator.curate.report import write_report
from generator.curate.split import check_leakage, split_records
from generator.errors import ConfigError, GuardStop, MissingKeyError
from generator.providers.cache import cache_from_option
from generator.providers.keys import check_credentials
from generator.records import Record
from generator.store import Journal

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
    cluster: Any = None,
) -> CurationResult:
    """Curate ``records`` into ``out_dir`` (the run's ``curation/`` folder); with a
    :class:`generator.cluster.Cluster`, the steps run on its workers (same files)."""
    ctx = StepContext(run_dir, journal, config.target_model, config.seed)
    run_name = Path(run_dir).name if run_dir is not None else ""
    cache_warnings: list[str] = []
    cache = cache_from_option(config.call_cache, run=run_name, warn=cache_warnings.append)
    with use_call_cache(cache):
        steps = [build_step(n, config.step_config(n), ctx) for n in config.enabled_steps()]
        removed: list[Exclusion] = []
        for step in steps:
            step.bind(removed.append)
        before = [(r.meta.id, r.example_text()) for r in records]
        stream: Any = iter(records)
        if cluster is not None:
            from generator.cluster.curate import run_steps

            if run_dir is not None:
                cluster.spill_root = Path(run_dir)
            stream = run_steps(cluster, steps, records)
        else:
            for step in steps:
                stream = step.run(stream)
        try:
            curated = list(stream)
        except GuardStop as exc:  # e.g. the circuit breaker of an LLM check opened
            raise type(exc)(f"curate {exc}; the previous curation/ is unchanged") from exc

    stats, warnings = [], []
    for step in steps:
        data = {"step": step.name, "in": step.seen, **step.stats()}
        warnings.extend(data.get("warnings", []))
        if failed := check_failure_line(data):
            warnings.append(failed)
        stats.append(data)
    if cache is not None and cache.counts["corrupt"]:
        warnings.append(
            f"call cache: {cache.counts['corrupt']} corrupt entries ignored (calls sent again)"
        )
        warnings.extend(cache_warnings[:5])
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
        notes = [f"input {p}" for p in problems[:20]] + list(dict.fromkeys(warnings))
        report = None
        if config.report.enabled:  # the report and its plots: renamed in with the rest
            report = write_report(
                staged,
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
        staged.commit()
    return CurationResult(out_dir, stats, counts, list(problems), warnings, report)


def check_failure_line(stat: dict[str, Any]) -> str | None:
    """One line when a step's check could not run on some records (None if it always ran)."""
    cf = stat.get("check_failed") or {}
    if not any(cf.get(k) for k in ("records", "failed", "unparsable")):
        return None
    return (
        f"{stat['step']}: the check could not run on {cf.get('records', 0)} record(s), sent to "
        f"review as check_failed:{stat['step']} ({cf.get('failed', 0)} call(s) failed, "
        f"{cf.get('unparsable', 0)} reply(ies) unparsable)"
    )


def llm_models(config: CurateConfig) -> list[tuple[str, str]]:
    """(``step.field``, model) of every model an enabled step will call."""
    found = []
    for name in config.enabled_steps():
        section = config.step_config(name)
        for key in ("model", "judge_model"):
            value = getattr(section, key, None)
            if isinstance(value, str) and value:
                found.append((f"{name}.{key}", value))
    return found


def check_model_keys(config: CurateConfig) -> None:
    """MissingKeyError (exit 2, naming the variable) before any work, for every model."""
    for where, model in llm_models(config):
        try:
            check_credentials(model)
        except MissingKeyError as exc:
            raise MissingKeyError(f"curate settings {where}: {exc}") from exc


def curate(
    run_dir: Path,
    *,
    input_file: Path | None = None,
    config_path: Path | None = None,
    config: CurateConfig | None = None,
    goal: str | None = None,
    cluster: Any = None,
) -> CurationResult:
    """Curate a run's ``records.jsonl`` (or ``input_file``) into ``run_dir/curation``.

    The output is built beside ``curation/`` and swapped in whole with its manifest; a run
    that stops (circuit breaker: exit 4) leaves the previous curation as it was.
    """
    given = config is not None
    overrides = {"report.goal": goal} if goal is not None else {}
    config = config or manifest.resolve(str(config_path) if config_path else None, overrides)
    check_model_keys(config)
    run_dir = Path(run_dir)
    source = Path(input_file) if input_file else run_dir / "records.jsonl"
    if not source.is_file():
        hint = "" if input_file else " (generate first, or use --input FILE.jsonl --out RUN)"
        raise ConfigError(f"{source}: no such file{hint}")
    inputs = manifest.input_info(source, run_dir)  # before reading: see input_info
    cfg_info = manifest.config_info(config, config_path, overrides, given=given)
    records, load = load_records(source)
    journal = Journal(run_dir)  # --input runs get one too: review and LLM checks need it
    staged = manifest.staging_dir(run_dir)
    try:
        result = run_pipeline(
            records,
            staged,
            config,
            journal=journal,
            run_dir=run_dir,
            problems=load.problems,
            cluster=cluster,
        )
        manifest.write_manifest(staged, inputs, cfg_info)
        manifest.swap_in(staged, run_dir / "curation")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    finally:
        journal.close()
    result.out_dir = run_dir / "curation"
    if result.report is not None:
        result.report = result.out_dir / result.report.name
    result.counts["lines"] = load.lines
    result.counts["bad_lines"] = len(load.problems)
    return result


__all__ = ["CurationResult", "LoadReport", "curate", "run_pipeline"]
