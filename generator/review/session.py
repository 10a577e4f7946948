"""Review of a run as a whole: draw the queue, summarise the outcome, apply decisions.

The queue is every record a curation step sent to review (``curation/review.jsonl``:
contradictions, outdated sources, low judge scores) followed by a stratified, seeded sample
of the curated set. The outcome gives the sample's acceptance rate and an estimate, with a
95% Wilson interval, of the defect rate (rejected or edited) in the whole set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from generator.errors import ConfigError
from generator.records import Record, parse_record
from generator.review.sampler import default_size, stratified_sample, stratum, wilson_interval
from generator.review.store import ReviewStore

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


def prepare(store: ReviewStore, run_dir: Path, size: int | None, seed: int) -> dict[str, Any]:
    """Draw the queue once; later calls keep the same queue (resume)."""
    if store.has_sample():
        return store.sample_info()
    source, records = reviewable_set(run_dir)
    flagged_path = run_dir / "curation" / "review.jsonl"
    flagged = list(read_jsonl(flagged_path)) if flagged_path.exists() else []
    n = default_size(len(records)) if size is None else min(size, len(records))
    sample = stratified_sample(records, n, seed)
    items: list[tuple[Record, str, str, str | None]] = []
    for rec in flagged:
        excluded = rec.meta.curation.get("excluded") or {}
        items.append((rec, "flagged", stratum(rec), excluded.get("reason")))
    items += [(rec, "sample", st, None) for rec, st in sample]
    info = {
        "source": str(source.relative_to(run_dir)),
        "population": len(records),
        "sample_size": len(sample),
        "flagged": len(flagged),
        "seed": seed,
        "strata": len({st for _, st in sample}),
    }
    store.save_sample(items, info)
    return info


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
    """Per-record review outcome for export ``--require-review``.

    ``check(record)`` returns (record to export, None) — the reviewer's edited version when
    there is one — or (None, reason) when review holds the record back.
    """

    def __init__(self, store: ReviewStore, mode: RequireMode) -> None:
        if not store.has_sample():
            raise ConfigError(
                "--require-review: this run has no review sample yet; "
                "run `instructforge review RUN` (or review export/import) first"
            )
        self.mode = mode
        self.latest = store.latest()
        self.sampled = {it.record_id for it in store.items()}
        self.info = store.sample_info()

    def check(self, record: Record) -> tuple[Record | None, str | None]:
        d = self.latest.get(record.meta.id)
        if d is not None and d["decision"] == "accept":
            return record, None
        if d is not None and d["decision"] == "edit":
            edited = parse_record(json.loads(d["after"]))
            edited.meta.curation["review"] = {"decision": "edit", "reviewer": d["reviewer"]}
            return edited, None
        if d is not None and d["decision"] == "reject":
            return None, f"review_rejected: {d['reason'] or ''}".strip()
        if self.mode == "accepted-or-unsampled" and record.meta.id not in self.sampled:
            return record, None
        return None, "review_pending"
