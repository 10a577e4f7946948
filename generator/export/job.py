"""One export, end to end: read the run's records, pass them through the licence gate,
convert them, write the dataset files and the legal review pack, all or nothing.

Two passes over the input: the first judges every record (so ``--strict`` and "nothing may
be exported" are decided before a byte is written), the second converts and writes. Every
file goes to a temp file in ``--out`` first; only when all of them are complete are they
renamed into place, so a failure at any point leaves no partial export behind.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from generator.errors import ConfigError, ExportRefused
from generator.export import hub, trainers
from generator.export.base import Exporter, Row, get_exporter
from generator.export.convert import LossyConversion, convert
from generator.export.curated import (
    check_fresh,
    keep_out_of_validation,
    review_filter,
    with_reviewed,
)
from generator.export.gate import Decision, Gate
from generator.export.openai_validate import DEFAULT_TARGET, ValidationReport, validate_file
from generator.export.pair_gate import evaluate_record, makers
from generator.export.reasoning import (
    add_reasoning,
    check_style,
    exported_meta,
    reasoning_warnings,
)
from generator.export.writer import (
    CARD_FILE,
    EXCLUDED_FILE,
    LEGAL_FILE,
    MANIFEST_FILE,
    META_FILE,
    InputPlan,
    Staging,
    check_free,
    find_secret,
    output_name,
    read_records,
    secret_values,
    select_inputs,
    sidecar_name,
)
from generator.sources import load_sources


@dataclass
class ExportOptions:
    """Everything ``instructforge export`` was asked to do (all of it goes in the manifest)."""

    run: Path
    fmt: str
    use: str
    out: Path
    accept_review: tuple[str, ...] = ()
    strict: bool = False
    no_meta: bool = False
    force: bool = False
    system_prompt: str | None = None
    target_model: str | None = None
    epochs: int | None = None
    language: str = "en"
    policies_dir: Path | None = None
    today: date | None = None
    # "accepted" or "accepted-or-unsampled": only records human review lets through
    require_review: str | None = None
    keep_reasoning: bool = False  # put meta.reasoning into the examples (reasoning.py)
    trainer_config: tuple[str, ...] = ()  # trl, axolotl, llamafactory (trainers.py)
    push_to_hub: str | None = None  # OWNER/NAME of a dataset repo (hub.py)
    push_legal: bool = False  # also push meta.jsonl, manifest and legal pack

    def flags(self) -> dict[str, Any]:
        return {
            "format": self.fmt,
            "use": self.use,
            "accept_review": list(self.accept_review),
            "strict": self.strict,
            "no_meta": self.no_meta,
            "force": self.force,
            "system_prompt": self.system_prompt,
            "target_model": self.target_model,
            "epochs": self.epochs,
            "language": self.language,
            "require_review": self.require_review,
            "keep_reasoning": self.keep_reasoning,
            "trainer_config": list(self.trainer_config),
            "push_to_hub": self.push_to_hub,
            "push_legal": self.push_legal,
        }


@dataclass
class Exclusion:
    split: str
    line: int
    id: str | None
    stage: str  # input | gate | review | conversion | secret
    reason: str
    policy: str | None = None
    verdict: str | None = None
    file: str | None = None  # the input file the line is in (a split may have two)


@dataclass
class FileInfo:
    name: str
    kind: str  # data | meta | excluded | legal | card
    split: str | None = None
    records: int | None = None
    sha256: str = ""
    bytes: int = 0


@dataclass
class ExportResult:
    options: ExportOptions
    plan: InputPlan
    target: str
    gate: Gate
    sources_file: str | None
    total: int = 0
    exclusions: list[Exclusion] = field(default_factory=list)
    exported: Counter[str] = field(default_factory=Counter)  # per split
    by_provider: Counter[str] = field(default_factory=Counter)
    by_model: Counter[str] = field(default_factory=Counter)
    by_format: Counter[str] = field(default_factory=Counter)
    prompts: Counter[str] = field(default_factory=Counter)
    files: list[FileInfo] = field(default_factory=list)
    validation: dict[str, ValidationReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    accepted_at: str = ""
    accepted_by: str = ""
    signoffs: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # legal's, per id
    review: Any = None  # generator.review.session.ReviewFilter when the run has a journal
    flagged: Path | None = None  # curation/review.jsonl when it feeds the export
    reasoning: Counter[str] = field(default_factory=Counter)  # --keep-reasoning: with / shared
    pushed: Any = None  # hub.PushResult after --push-to-hub
    admit: Any = None  # the exporter's check of each record (Exporter.admit)

    @property
    def n_exported(self) -> int:
        return sum(self.exported.values())


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


def _rows(
    opts: ExportOptions,
    res: ExportResult,
    exporter: Exporter,
    split: str,
    path: Path,
    decisions: dict,
    secrets: dict[str, str],
    sidecar: TextIO | None,
) -> Iterator[tuple[Row, Row | None]]:
    """Pass 2 for one split: yield (row, meta) for every exported record, recording the
    records that cannot be converted or would carry a secret as exclusions."""
    n = res.exported[split]  # a split may be fed by more than one input file
    for line, rec, _err in read_records(path):
        d = decisions.get((str(path), line))
        if rec is None or d is None or not d.exported:
            continue
        if res.review is not None:  # the reviewer's edit replaces the generated record
            rec = res.review.check(rec, flagged=path == res.flagged)[0] or rec
        try:
            data = convert(rec, res.target, opts.system_prompt)
            extra = rec.meta.model_extra or {}
            thought = extra.get("reasoning") if opts.keep_reasoning else None
            if isinstance(thought, str) and thought.strip():
                data = add_reasoning(data, thought, exporter.reasoning)
            else:
                thought = None
            row = exporter.row(data)
        except LossyConversion as exc:
            res.exclusions.append(
                Exclusion(
                    split, line, rec.meta.id, "conversion", exc.reason, d.policy_id, d.verdict
                )
            )
            continue
        meta = {
            "id": rec.meta.id,
            "gate": d.to_dict(),
            "provenance": d.evidence,  # what the gate decided from (verify re-judges with it)
            "meta": exported_meta(rec.meta.model_dump(mode="json"), opts.keep_reasoning),
        }
        var = find_secret(json.dumps([row, meta], ensure_ascii=False), secrets) if secrets else None
        if var:
            res.exclusions.append(
                Exclusion(
                    split,
                    line,
                    rec.meta.id,
                    "secret",
                    f"contains the value of ${var}",
                    d.policy_id,
                    d.verdict,  # `verify` reconciles the per-policy counts with it
                )
            )
            continue
        n += 1
        if thought is not None:
            res.reasoning["with"] += 1
            res.reasoning["shared"] += bool(extra.get("reasoning_shared"))
        if sidecar is not None:  # streamed: line n describes example n
            row_meta = {"split": split, "line": n, **meta}
            sidecar.write(json.dumps(row_meta, ensure_ascii=False) + "\n")
        yield row, (meta if not opts.no_meta else None)
    res.exported[split] = n


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


def run_export(opts: ExportOptions) -> ExportResult:
    """Run one export; raises ConfigError (2) or ExportRefused (3), writes nothing then."""
    from generator.export import handoff, legal  # they import this module's types

    judged = judge_export(opts)
    res, decisions, exporter = judged.res, judged.decisions, judged.exporter
    splits, names, token, plan = judged.splits, judged.names, judged.token, judged.res.plan
    refuse_if_needed(opts, res, decisions)
    res.target = exporter.choose_target(set(res.by_format))
    secrets = secret_values()

    with Staging(opts.out) as stage:
        for split in splits:
            name, side = output_name(split, exporter.suffix), sidecar_name(split)
            paths = [p for s, p in plan.files if s == split]
            with contextlib.ExitStack() as stack:
                sidecar = None
                if not opts.no_meta and not exporter.meta_inline:  # one file, split after split
                    sidecar = stack.enter_context(stage.path(side).open("a", encoding="utf-8"))
                rows = itertools.chain.from_iterable(
                    _rows(opts, res, exporter, split, p, decisions, secrets, sidecar) for p in paths
                )
                exporter.write(rows, stage.path(name))
            res.files.append(FileInfo(name, "data", split, res.exported[split]))
        if not opts.no_meta and not exporter.meta_inline:
            res.files.append(FileInfo(META_FILE, "meta", None, res.n_exported))
        for name, text in exporter.extra_files(names[: len(splits)]).items():
            stage.path(name).write_text(text, encoding="utf-8")
            res.files.append(FileInfo(name, "config"))
        if res.n_exported == 0:
            top = Counter(e.reason for e in res.exclusions if e.stage != "gate").most_common(1)
            raise ConfigError(
                f"--format {opts.fmt}: no record could be exported: "
                f"{top[0][0] if top else 'every record was excluded'}"
            )
        if opts.keep_reasoning:
            res.warnings += reasoning_warnings(res.n_exported, res.reasoning)
        if opts.fmt == "openai-chat":
            for info in res.files:
                if info.kind == "data":
                    res.validation[info.name] = validate_file(
                        stage.path(info.name),
                        opts.target_model or DEFAULT_TARGET,
                        opts.epochs,
                        role="validation" if info.split == "validation" else "training",
                    )
        handoff.stage_trainer_configs(res, stage)
        legal.write_pack(res, stage)
        stage.commit()
    if token is not None:  # the gate and the whole export came first
        handoff.push_export(res, token)
    return res


def exclusion_rows(res: ExportResult) -> list[Row]:
    """``excluded.jsonl``: ids, places and reasons only, never the excluded content."""
    return [e.__dict__ for e in res.exclusions]
