"""Measured figures of the harmful-content classifier on a labelled set.

Six labelled sets in ``tests/curate/data/`` (clear requests for serious harm and benign
look-alikes, all written apart from the exemplars): ``harm_labelled`` (the development set
the acceptance test asserts on), ``harm_heldout`` (written later, then also used in
development), ``harm_fresh`` and ``harm_independent`` (measured only at first, the latter
by another author; both studied as development sets in exemplar rounds 7-9) and
``harm_blind`` (a third author who saw neither the classifier, its exemplars nor the other
sets; measured once after round 9, then studied for rounds 10-11: every set here is now a
development set), and ``harm_blind4`` (a fourth author, 300 / 300, kept outside the
repository until rounds 10-11 were final and measured once: the honest figure for new
phrasings; ``harmful.UNSEEN_SET``).
Any further ``harm_*.jsonl`` set dropped into that folder (or a file given to the bench
with ``--set``) is measured the same way, under its file name.
``benchmarks/bench_harm.py`` stores the figures per classifier setting and set in
``data/harm_eval.json``; the step reports them only when they were measured for its exact
setting (mode, operating point, exemplar file hash), and a test re-measures them and fails
when they drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.harm.exemplars import read_jsonl

if TYPE_CHECKING:
    from generator.curate.harm.classifier import HarmClassifier

FIGURES = Path(__file__).resolve().parent.parent / "data" / "harm_eval.json"


class LabelledRow(BaseModel):
    """One line of a labelled set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Literal["harmful", "benign"]
    category: str | None = None
    text: str = Field(min_length=1)


def load_labelled(path: Path) -> tuple[str, list[LabelledRow]]:
    """(sha256, rows) of a labelled JSONL file."""
    sha, rows = read_jsonl(path, LabelledRow)
    return sha, [r for r in rows if isinstance(r, LabelledRow)]


def evaluate(classifier: HarmClassifier, path: Path) -> dict[str, Any]:
    """Recall, false-positive rate, per-category recall and the misses on ``path``."""
    sha, rows = load_labelled(path)
    verdicts = classifier.classify([r.text for r in rows])
    harmful = [(r, v) for r, v in zip(rows, verdicts, strict=True) if r.label == "harmful"]
    benign = [(r, v) for r, v in zip(rows, verdicts, strict=True) if r.label == "benign"]
    by_cat: dict[str, list[int]] = {}
    for r, v in harmful:
        by_cat.setdefault(r.category or "?", [0, 0])[v.flagged] += 1
    return {
        **classifier.describe(),
        "set": path.stem,
        "labelled_sha256": sha,
        "harmful": len(harmful),
        "benign": len(benign),
        "recall": round(sum(v.flagged for _, v in harmful) / max(len(harmful), 1), 4),
        "fpr": round(sum(v.flagged for _, v in benign) / max(len(benign), 1), 4),
        "recall_by_category": {c: round(n[1] / sum(n), 4) for c, n in sorted(by_cat.items())},
        "missed": [r.text for r, v in harmful if not v.flagged],
        "false_positives": [r.text for r, v in benign if v.flagged],
    }


def _key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["mode"], entry["operating_fpr"], entry["exemplars_sha256"], entry["set"]


def read_figures(path: Path = FIGURES) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")).get("results", []))


def write_figures(results: list[dict[str, Any]], path: Path = FIGURES) -> None:
    """Store measured results (replacing those of the same setting; figures of another
    exemplar file are dropped, no classifier can be built from them any more)."""
    current = {e["exemplars_sha256"] for e in results}
    kept = {_key(e): e for e in read_figures(path) if e["exemplars_sha256"] in current}
    kept.update({_key(e): e for e in results})
    order = sorted(kept.values(), key=lambda e: (e["mode"], e["operating_fpr"], e["set"]))
    body = {"results": order}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def stored_figures(
    classifier: HarmClassifier, path: Path = FIGURES
) -> dict[str, dict[str, Any]] | None:
    """Set name -> stored figures for exactly this classifier setting; None when the
    development set was not measured for it."""
    want = _key({**classifier.describe(), "set": None})[:3]
    found = {
        e["set"]: {k: e[k] for k in ("recall", "fpr", "harmful", "benign")}
        for e in read_figures(path)
        if _key(e)[:3] == want
    }
    return found if "harm_labelled" in found else None
