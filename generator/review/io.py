"""Move a review sample to and from JSONL and CSV for external review tools.

Export writes one row per queued item with empty decision columns; import reads the same
layout back. Each imported row is validated (known record id, known decision, a reason for
rejections, a valid record for edits); a bad row is reported with its line number and the
others are still imported.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from generator.errors import ConfigError
from generator.records import parse_record
from generator.review.store import ReviewStore

CSV_FIELDS = [
    "record_id",
    "origin",
    "stratum",
    "flag_reason",
    "instruction",
    "input",
    "output",
    "decision",
    "reason",
    "edited_output",
    "reviewer",
]
DECISIONS = ("accept", "reject", "edit", "skip")


def export_sample(store: ReviewStore, path: Path, fmt: str) -> int:
    items = store.items()
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            writer = csv.DictWriter(fh, CSV_FIELDS)
            writer.writeheader()
            for it in items:
                r = it.record
                writer.writerow(
                    {
                        "record_id": it.record_id,
                        "origin": it.origin,
                        "stratum": it.stratum,
                        "flag_reason": it.reason or "",
                        "instruction": r.instruction_text(),
                        "input": r.input_text(),
                        "output": r.output_text(),
                        "decision": "",
                        "reason": "",
                        "edited_output": "",
                        "reviewer": "",
                    }
                )
        else:
            for it in items:
                row = {
                    "record_id": it.record_id,
                    "origin": it.origin,
                    "stratum": it.stratum,
                    "flag_reason": it.reason,
                    "record": it.record.to_dict(),
                    "decision": None,
                    "reason": None,
                    "edited": None,
                    "reviewer": None,
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return len(items)


def _rows(path: Path, fmt: str) -> list[tuple[int, dict[str, Any] | None, str | None]]:
    rows: list[tuple[int, dict[str, Any] | None, str | None]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            for i, row in enumerate(csv.DictReader(fh), start=2):
                rows.append((i, dict(row), None))
        else:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((i, json.loads(line), None))
                except json.JSONDecodeError as exc:
                    rows.append((i, None, f"invalid JSON: {exc.msg}"))
    return rows


def import_decisions(
    store: ReviewStore, path: Path, fmt: str, reviewer: str
) -> tuple[int, list[str]]:
    """Import decisions; returns (number imported, one error line per bad row)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    items = {it.record_id: it for it in store.items()}
    imported, errors = 0, []
    for line_no, row, err in _rows(path, fmt):
        if err or row is None:
            errors.append(f"{path.name}:{line_no}: {err}")
            continue
        rid = str(row.get("record_id") or "")
        decision = str(row.get("decision") or "").strip().lower()
        if not decision:
            continue  # not reviewed yet
        if rid not in items:
            errors.append(f"{path.name}:{line_no}: unknown record_id {rid!r}")
            continue
        if decision not in DECISIONS:
            errors.append(f"{path.name}:{line_no}: decision must be one of {DECISIONS}")
            continue
        reason = str(row.get("reason") or "").strip() or None
        if decision == "reject" and not reason:
            errors.append(f"{path.name}:{line_no}: a rejection needs a reason")
            continue
        before = items[rid].record
        after = None
        if decision == "edit":
            try:
                after = edited_record(before, row, fmt)
            except ValueError as exc:
                errors.append(f"{path.name}:{line_no}: edit not valid: {str(exc)[:200]}")
                continue
        store.decide(
            rid,
            decision,
            reason=reason,
            reviewer=str(row.get("reviewer") or reviewer),
            before=before if after else None,
            after=after,
        )
        imported += 1
    return imported, errors


def edited_record(before: Any, row: dict[str, Any], fmt: str) -> Any:
    meta = before.meta.model_dump(mode="json")
    if fmt == "csv":
        text = str(row.get("edited_output") or "")
        if not text.strip():
            raise ValueError("edited_output is empty")
        copy = before.model_copy(deep=True)
        field = [f for f, _ in copy.text_fields()][-1]  # the (last) answer field
        copy.set_text(field, text)
        return parse_record(copy.to_dict())
    edited = row.get("edited")
    if not isinstance(edited, dict):
        raise ValueError("'edited' must hold the record's fields")
    return parse_record({**{k: v for k, v in edited.items() if k != "meta"}, "meta": meta})
