"""Review of a run as a whole: draw the queue, summarise the outcome, apply decisions.

The queue is every record a curation step sent to review (``curation/review.jsonl``:
contradictions, outdated sources, low judge scores, checks that could not run) followed by a
stratified, seeded sample of the curated set. Records a later curation sends to review join
the queue when review next starts. Export applies the decisions (:class:`ReviewFilter`):
accepted and edited records, flagged ones included, reach it; rejected ones never do. The
outcome gives the sample's acceptance rate and an estimate, with a 95% Wilson interval, of
the defect rate (rejected or edited) in the whole set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from generator.errors import ConfigError
from generator.records import Record, parse_record
from generator.review.sampler import default_size, stratified_sample, stratum, wilson_interval
from generator.review.store import ReviewStore, text_digest

RequireMode = Literal["accepted", "accepted-or-unsampled"]


def read_jsonl(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield parse_record(json.loads(line))


def reviewable_set(run_dir: Path) -> tuple[Path, list[Record]]:
    """The records review samples from: the curated set, else the generated records."""
    for path in (run_dir / "curation" / "curated.jsonl", run_dir / "records.jsonl"):
        if path.exists():
            return path, list(read_jsonl(path))
    raise ConfigError(f"{run_dir}: no records to review (run generate or curate first)")


def prepare(
    store: ReviewStore, run_dir: Path, size: int | None, seed: int | None
) -> dict[str, Any]:
    """Draw the queue once; later calls keep the same sample (resume) and add records a
    newer curation sent to review. ``size`` or ``seed`` that differ from the drawn sample
    are refused: the decisions made so far belong to that sample."""
    flagged_path = run_dir / "curation" / "review.jsonl"
    if store.has_sample():
        info = store.sample_info()
        _refuse_redraw(info, size, seed)
        seen = _file_stamp(flagged_path)
        if seen is not None and seen != store.meta("flagged_file"):  # else: read already
            store.append_items([_flagged_item(rec) for rec in read_jsonl(flagged_path)])
            store.set_meta("flagged_file", seen)
        return {**info, "flagged": store.count("flagged")}
    stamp = _file_stamp(flagged_path)  # before reading: a later rewrite is read next time
    flagged = list(read_jsonl(flagged_path)) if flagged_path.exists() else []
    source, records = reviewable_set(run_dir)
    n = default_size(len(records)) if size is None else min(size, len(records))
    seed = 0 if seed is None else seed
    sample = stratified_sample(records, n, seed)
    items = [_flagged_item(rec) for rec in flagged]
    items += [(rec, "sample", st, None) for rec, st in sample]
    info = {
        "source": str(source.relative_to(run_dir)),
        "population": len(records),
        "requested": size,
        "sample_size": len(sample),
        "flagged": len(flagged),
        "seed": seed,
        "strata": len({st for _, st in sample}),
    }
    store.save_sample(items, info)
    if stamp is not None:
        store.set_meta("flagged_file", stamp)
    return info


def _file_stamp(path: Path) -> str | None:
    """What tells one version of a file from the next (None: no file): a rewrite changes
    its inode (replaced) or its size or change time (written in place)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def _flagged_item(rec: Record) -> tuple[Record, str, str, str | None]:
    excluded = rec.meta.curation.get("excluded") or {}
    return (rec, "flagged", stratum(rec), excluded.get("reason"))


def _refuse_redraw(info: dict[str, Any], size: int | None, seed: int | None) -> None:
    drawn_size = info.get("requested", info.get("sample_size"))
    if (size is None or size == drawn_size or size == info.get("sample_size")) and (
        seed is None or seed == info.get("seed")
    ):
        return
    raise ConfigError(
        f"this run's review sample was drawn with --sample {info.get('sample_size')} "
        f"--seed {info.get('seed')} and has decisions; it is kept so they stay comparable: "
        "run without --sample/--seed to resume it"
    )


def summary(store: ReviewStore) -> dict[str, Any]:
    """Counts, the sample's acceptance rate and the estimated defect rate of the set."""
    info = store.sample_info()
    latest = store.latest()
    items = store.items()
    out: dict[str, Any] = {"sample": info, "decided": {}, "flagged": {}}
    for origin in ("sample", "flagged"):
        counts = {"accept": 0, "reject": 0, "edit": 0, "pending": 0}
        for it in items:
            if it.origin == origin:
                counts[
                    latest[it.record_id]["decision"] if it.record_id in latest else "pending"
                ] += 1
        out["decided" if origin == "sample" else "flagged"] = counts
    s = out["decided"]
    n = s["accept"] + s["reject"] + s["edit"]
    defects = s["reject"] + s["edit"]
    lo, hi = wilson_interval(defects, n)
    population = info.get("population", 0)
    out["acceptance_rate"] = s["accept"] / n if n else None
    out["defect_rate"] = defects / n if n else None
    out["defect_ci95"] = (lo, hi) if n else None
    out["estimated_defective_records"] = (
        (round(lo * population), round(hi * population)) if n else None
    )
    return out


def apply_review(
    records: list[Record], store: ReviewStore, mode: RequireMode
) -> tuple[list[Record], list[tuple[Record, str]]]:
    """Records export may use after review, and those held back with why.

    ``accepted``: only records a reviewer accepted or edited (edits applied).
    ``accepted-or-unsampled``: also records that were never sampled (they passed curation);
    sampled records still pending or rejected are held back.
    """
    check = ReviewFilter(store, mode).check
    keep: list[Record] = []
    held: list[tuple[Record, str]] = []
    for rec in records:
        out, reason = check(rec)
        if out is not None:
            keep.append(out)
        else:
            held.append((rec, reason or "review"))
    return keep, held


def render_markdown(s: dict[str, Any]) -> str:
    lines = ["## Human review", ""]
    info = s["sample"]
    if not info:
        return "\n".join([*lines, "No review sample drawn yet (`instructforge review RUN`).", ""])
    d = s["decided"]
    lines += [
        f"- Sample: {info['sample_size']} of {info['population']} records from "
        f"`{info['source']}` across {info['strata']} strata (seed {info['seed']}); "
        f"{info['flagged']} records sent by curation steps.",
        f"- Sample decisions: {d['accept']} accepted, {d['reject']} rejected, "
        f"{d['edit']} edited, {d['pending']} pending.",
    ]
    if s["acceptance_rate"] is not None:
        lo, hi = s["defect_ci95"]
        elo, ehi = s["estimated_defective_records"]
        lines += [
            f"- Acceptance rate in the sample: {s['acceptance_rate']:.1%}.",
            f"- Estimated defect rate of the whole set: {s['defect_rate']:.1%} "
            f"(95% Wilson interval {lo:.1%} to {hi:.1%}), i.e. about {elo} to {ehi} records.",
        ]
    f = s["flagged"]
    lines += [
        f"- Flagged by curation: {f['accept']} accepted, {f['reject']} rejected, "
        f"{f['edit']} edited, {f['pending']} pending.",
        "",
    ]
    return "\n".join(lines)


class ReviewFilter:
    """Per-record review outcome for export.

    Always: a record a reviewer rejected is held back, an edited one is replaced by the
    edit, and a record a curation step sent to review (``flagged``) reaches export only once
    accepted or edited. ``mode`` (``--require-review``) also holds back records without a
    decision: ``accepted`` all of them, ``accepted-or-unsampled`` those in the sample. A
    decision on a record whose text has changed since it was drawn counts for nothing.

    ``check(record)`` returns (record to export, None) or (None, reason).
    """

    def __init__(self, store: ReviewStore, mode: RequireMode | None) -> None:
        if mode is not None and not store.has_sample():
            raise ConfigError(
                "--require-review: this run has no review sample yet; "
                "run `instructforge review RUN` (or review export/import) first"
            )
        self.mode = mode
        self.latest = store.latest()
        items = store.items()
        self.sampled = {it.record_id for it in items}
        self.drawn = {it.record_id: text_digest(it.record) for it in items}
        self.info = store.sample_info()

    def check(self, record: Record, *, flagged: bool = False) -> tuple[Record | None, str | None]:
        rid = record.meta.id
        d = self.latest.get(rid)
        seen = d["text_sha256"] if d is not None else None
        if seen is None and d is not None and rid in self.drawn:  # a decision of an old journal
            seen = self.drawn[rid]
        if seen is not None and seen != text_digest(record):
            d = None  # reviewed as another text: the decision does not apply to this one
        if d is not None and d["decision"] in ("accept", "edit"):
            out = parse_record(json.loads(d["after"])) if d["decision"] == "edit" else record
            out = out.model_copy(deep=True)
            note = {"decision": d["decision"], "reviewer": d["reviewer"], "at": d["at"]}
            sent = out.meta.curation.pop("excluded", None)
            if sent:
                note["sent_by"] = sent
            out.meta.curation["review"] = note
            return out, None
        if d is not None and d["decision"] == "reject":
            return None, f"review_rejected: {d['reason'] or ''}".strip()
        if flagged:
            return None, "review_pending"  # a curation step sent it: it needs a decision
        if self.mode is None or (self.mode == "accepted-or-unsampled" and rid not in self.sampled):
            return record, None
        return None, "review_pending"
