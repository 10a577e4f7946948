"""One export, end to end: read the run's records, pass them through the licence gate,
convert them, write the dataset files and the legal review pack, all or nothing.

Two passes over the input: the first judges every record (:mod:`generator.export.judging`,
so ``--strict`` and "nothing may be exported" are decided before a byte is written), the
second converts and writes. Every file goes to a temp file in ``--out`` first; only when all
of them are complete are they renamed into place, so a failure at any point leaves no
partial export behind. The options and the result are :mod:`generator.export.result`'s.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from generator.errors import ConfigError
from generator.export.base import Exporter, Row
from generator.export.convert import LossyConversion, convert
from generator.export.judging import Judged, judge_export, refuse_if_needed
from generator.export.openai_validate import DEFAULT_TARGET, validate_file
from generator.export.reasoning import add_reasoning, exported_meta, reasoning_warnings
from generator.export.result import (
    Exclusion,
    ExportOptions,
    ExportResult,
    FileInfo,
    exclusion_rows,
)
from generator.export.writer import (
    CARD_FILE,
    EXCLUDED_FILE,
    LEGAL_FILE,
    MANIFEST_FILE,
    META_FILE,
    Staging,
    find_secret,
    output_name,
    read_records,
    secret_values,
    sidecar_name,
)

# The names other modules and the tests import from here.
__all__ = [
    "CARD_FILE",
    "EXCLUDED_FILE",
    "LEGAL_FILE",
    "MANIFEST_FILE",
    "META_FILE",
    "Exclusion",
    "ExportOptions",
    "ExportResult",
    "FileInfo",
    "Judged",
    "exclusion_rows",
    "judge_export",
    "refuse_if_needed",
    "run_export",
]


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
