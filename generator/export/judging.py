"""Pass 1 of an export, writing nothing: the options checked, every record read and judged
by the licence gate (and human review), and the refusal (``--strict``, or nothing that may
be exported) decided before a byte is written. :mod:`generator.export.job` writes pass 2;
the web app's legal page runs this pass alone to show the policies x verdicts table."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import ConfigError, ExportRefused
from generator.export import hub, trainers
from generator.export.base import Exporter, get_exporter
from generator.export.curated import (
    check_fresh,
    keep_out_of_validation,
    review_filter,
    with_reviewed,
)
from generator.export.gate import Decision, Gate
from generator.export.pair_gate import evaluate_record, makers
from generator.export.reasoning import check_style
from generator.export.result import Exclusion, ExportOptions, ExportResult
from generator.export.writer import (
    CARD_FILE,
    EXCLUDED_FILE,
    LEGAL_FILE,
    MANIFEST_FILE,
    check_free,
    output_name,
    read_records,
    select_inputs,
    sidecar_name,
)
from generator.sources import load_sources


def _check_options(opts: ExportOptions) -> None:
    if opts.fmt != "openai-chat" and (opts.target_model or opts.epochs is not None):
        raise ConfigError("--target-model and --epochs apply only to --format openai-chat")
    if opts.epochs is not None and opts.epochs < 1:
        raise ConfigError("--epochs must be at least 1")
    if opts.system_prompt is not None and not opts.system_prompt.strip():
        raise ConfigError("--system-prompt is empty")


def _run_sources(run: Path) -> tuple[Any, str | None, list[str]]:
    """The document folder's sources.yaml (label verdict overrides), found through the
    run's config.json; a missing folder is a warning, not an error."""
    cfg = run / "config.json"
    if not cfg.is_file():
        return None, None, []
    try:
        docs = json.loads(cfg.read_text(encoding="utf-8")).get("docs")
    except (ValueError, AttributeError):
        return None, None, [f"{cfg}: not valid JSON; source label overrides not applied"]
    if not docs:
        return None, None, []
    folder = Path(docs)  # as given to `generate` (relative to where it ran)
    if not folder.is_dir():
        return None, None, [f"document folder {docs} not found: sources.yaml overrides not applied"]
    found = load_sources(folder)
    return found, (str(folder / "sources.yaml") if found else None), []


def _judge(res: ExportResult) -> dict[tuple[str, int], Decision]:
    """Pass 1: the gate's decision for every valid record; bad lines become exclusions.
    Keys are (input file, line): two files (a split and the reviewed records) may feed one
    output file."""
    decisions: dict[tuple[str, int], Decision] = {}
    for split, path in res.plan.files:
        flagged = path == res.flagged
        for line, rec, err in read_records(path):
            res.total += 1
            if rec is None:
                res.exclusions.append(Exclusion(split, line, None, "input", err, file=path.name))
                continue
            m = rec.meta
            for model, provider in makers(rec):  # a pair: each of its sides' models
                res.by_provider[provider or "unknown"] += 1
                res.by_model[model or "unknown"] += 1
            res.by_format[m.format] += 1
            if m.prompt:
                res.prompts[m.prompt.id] += 1
            key = (str(path), line)
            refused = res.admit(rec) if res.admit is not None else None
            if refused:  # not this format's kind, or (eval sets) not held out
                res.exclusions.append(
                    Exclusion(split, line, m.id, "input", refused, file=path.name)
                )
                continue
            d = evaluate_record(res.gate, rec)
            if not d.exported:
                decisions[key] = d
                res.exclusions.append(
                    Exclusion(split, line, m.id, "gate", d.why, d.policy_id, d.verdict, path.name)
                )
                continue
            if res.review is not None:
                _, held = res.review.check(rec, flagged=flagged)
                if held:
                    res.exclusions.append(
                        Exclusion(
                            split, line, m.id, "review", held, d.policy_id, d.verdict, path.name
                        )
                    )
                    continue
            decisions[key] = d
    return decisions


def refuse_if_needed(opts: ExportOptions, res: ExportResult, decisions: dict) -> None:
    not_allow = Counter(d.verdict for d in decisions.values() if d.verdict != "allow")
    if opts.strict and not_allow:
        what = ", ".join(f"{n} {v}" for v, n in sorted(not_allow.items()))
        raise ExportRefused(
            f"--strict: {what} record(s) are not 'allow' for use {opts.use}; "
            "nothing was written (run without --strict to see the table)"
        )
    if not any(d.exported for d in decisions.values()):
        top = Counter(e.reason for e in res.exclusions).most_common(1)
        why = top[0][0] if top else "the input holds no valid records"
        raise ExportRefused(
            f"nothing may be exported for use {opts.use} ({res.total} records "
            f"read); most common reason: {why}"
        )


@dataclass
class Judged:
    """Pass 1 of an export: the gate's (and review's) decision on every record, and what
    pass 2 needs to write them."""

    res: ExportResult
    decisions: dict[tuple[str, int], Decision]
    exporter: Exporter
    splits: list[str]
    names: list[str]
    token: Any  # the hub token of --push-to-hub (None without it)


def judge_export(opts: ExportOptions, *, check_out: bool = True) -> Judged:
    """Pass 1 of an export, writing nothing: the options checked, every record judged by the
    gate (and review). :func:`refuse_if_needed` then says whether the export is refused. The
    web app's legal page calls both (``check_out=False``: no output folder) to show the
    policies x verdicts table and say why before an export job is queued."""
    exporter = get_exporter(opts.fmt, opts.system_prompt, with_meta=not opts.no_meta)
    _check_options(opts)
    if opts.keep_reasoning:  # pairs and eval items are not answers a trace belongs to
        text_formats = ("alpaca", "chat", "completion", "auto")
        check_style(opts.fmt, exporter.reasoning if exporter.target in text_formats else "none")
    if opts.trainer_config and opts.fmt != "parquet":
        trainers.layout_for(opts.fmt, exporter.target)  # refused before anything is written
    if opts.push_legal and not opts.push_to_hub:
        raise ConfigError("--push-legal applies only with --push-to-hub")
    token = hub.check_push(opts.push_to_hub)
    if exporter.uses and opts.use not in exporter.uses:
        raise ConfigError(f"--format {opts.fmt} is for --use {' or '.join(exporter.uses)}")
    review = review_filter(opts.run, opts.require_review)
    plan, flagged = with_reviewed(opts.run, select_inputs(opts.run, exporter.reads), review)
    exporter.open(opts.run)
    stale_warnings = check_fresh(opts.run, plan)
    sources, sources_file, warnings = _run_sources(opts.run)
    warnings = stale_warnings + warnings
    gate = Gate(
        opts.use, opts.accept_review, opts.strict, opts.policies_dir, sources, opts.today, opts.run
    )
    res = ExportResult(opts, plan, exporter.target, gate, sources_file, warnings=warnings)
    res.review, res.flagged, res.admit = review, flagged, exporter.admit
    splits = list(dict.fromkeys(s for s, _ in plan.files))
    names = [output_name(s, exporter.suffix) for s in splits]
    if not opts.no_meta and not exporter.meta_inline:
        names += sorted({sidecar_name(s) for s in splits})
    names += [trainers.FILES[t] for t in opts.trainer_config]
    extra = list(exporter.extra_files(names[: len(splits)]))
    if check_out:
        check_free(
            opts.out,
            [*names, *extra, EXCLUDED_FILE, MANIFEST_FILE, LEGAL_FILE, CARD_FILE],
            opts.force,
        )

    try:
        decisions = _judge(res)
    finally:
        gate.provenance.close()
    for split, line, rid, why in keep_out_of_validation(res, decisions):
        d = decisions.pop((str(res.flagged), line))
        res.exclusions.append(
            Exclusion(split, line, rid, "review", why, d.policy_id, d.verdict, "review.jsonl")
        )
    res.warnings += gate.check_accept_names()
    res.warnings += list(gate.stale().values())
    return Judged(res, decisions, exporter, splits, names, token)
