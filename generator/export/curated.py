"""What of a run's curation and human review an export may use.

- :func:`check_fresh`: curation output that no longer matches the run's records or settings
  is refused (exit 2), naming what changed (``curate/manifest.py``).
- :func:`review_filter`: the run's review decisions apply to every export of a run with a
  journal: rejected records never reach it and edits replace records; ``--require-review``
  also holds back records nobody decided on.
- :func:`with_reviewed`: records a curation step sent to review join the export once a
  reviewer accepted or edited them; :func:`keep_out_of_validation` holds back those that
  would leak into the validation side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.export.writer import InputPlan, read_records
from generator.records import Record


def check_fresh(run: Path, plan: InputPlan) -> list[str]:
    """Refuse (exit 2) curation output that no longer matches the run's records or settings,
    naming what changed; returns warnings (e.g. an ``--input`` file that is gone)."""
    from generator.curate.manifest import stale_reasons

    cur = (run / "curation").resolve()
    used = [p.name for _, p in plan.files if p.resolve().parent == cur]
    if not used:
        return []  # exporting records.jsonl itself: nothing curated to go stale
    reasons, warnings = stale_reasons(run, used)
    if reasons:
        raise ConfigError(
            f"{run}/curation is stale: {'; '.join(reasons)}; re-run `instructforge curate` "
            "before exporting"
        )
    return warnings


def review_filter(run: Path, mode: str | None) -> Any:
    """The run's review decisions, applied to every export of a run with a journal:
    rejected records never reach it, edits replace records, and ``--require-review`` also
    holds back records nobody decided on."""
    from generator.review.session import ReviewFilter
    from generator.review.store import ReviewStore
    from generator.store import JOURNAL_NAME, open_run

    if mode is not None and mode not in ("accepted", "accepted-or-unsampled"):
        raise ConfigError("--require-review takes 'accepted' or 'accepted-or-unsampled'")
    if mode is None and not (run / JOURNAL_NAME).is_file():
        return None  # no journal: nobody can have reviewed anything
    journal = open_run(run)
    reviewed = journal.query("SELECT 1 FROM sqlite_master WHERE name='review_decisions'")
    if mode is None and not reviewed:
        journal.close()
        return None  # never reviewed (and the journal stays untouched)
    return ReviewFilter(ReviewStore(journal), mode)  # type: ignore[arg-type]


def with_reviewed(run: Path, plan: InputPlan, review: Any) -> tuple[InputPlan, Path | None]:
    """Add ``curation/review.jsonl`` (records curation steps sent to review) to a curated
    plan: those a reviewer accepted or edited join the training side (or the one data
    file); the others are listed as held by review."""
    flagged = run / "curation" / "review.jsonl"
    cur = (run / "curation").resolve()
    curated = any(p.resolve().parent == cur for _, p in plan.files)
    if review is None or not curated or not flagged.is_file() or flagged.stat().st_size == 0:
        return plan, None
    split = "train" if any(s == "train" for s, _ in plan.files) else plan.files[0][0]
    source = f"{plan.source} + curation/review.jsonl (records review accepted or edited)"
    return InputPlan(source, (*plan.files, (split, flagged))), flagged


def keep_out_of_validation(res: Any, decisions: dict) -> list[tuple[str, int, str, str]]:
    """Reviewed records join the training side; those linked to a validation record (same
    question, near duplicate, same source when grouped) must be held back instead of
    leaking: (split, line in review.jsonl, record id, reason) for each."""
    from generator.curate.config import SplitConfig
    from generator.curate.manifest import settings_of
    from generator.curate.split import leaking

    val_paths = [p for s, p in res.plan.files if s == "validation"]
    if res.flagged is None or not val_paths:
        return []
    validation = [r for p in val_paths for _, r, _ in read_records(p) if r is not None]
    joining: list[tuple[int, Record]] = []
    for line, rec, _err in read_records(res.flagged):
        d = decisions.get((str(res.flagged), line))
        if rec is not None and d is not None and d.exported:
            joining.append((line, res.review.check(rec, flagged=True)[0] or rec))
    settings = settings_of(res.options.run)
    cfg = settings.split if settings is not None else SplitConfig()
    found = leaking([r for _, r in joining], validation, cfg)
    return [
        ("train", joining[i][0], joining[i][1].meta.id,
         f"review_accepted_but_leaks: linked to validation record {val_id}")
        for i, val_id in sorted(found.items())
    ]  # fmt: skip
