"""Freshness step: flag records whose source document is past its ``review_by`` date,
superseded by another document, or older than a set age.

Dates come from ``meta.source_info`` (set at generation from ``sources.yaml`` or the
document's own metadata: front matter, PDF/DOCX properties, else the file time). Outdated
content (deprecated APIs, changed rules) teaches a model yesterday's answer with today's
confidence, so the default action sends such records to human review rather than dropping.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generator.curate.base import Destination, Step
from generator.curate.registry import register_step
from generator.display import shown_path
from generator.records import Record


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return None
    return None


class FreshnessConfig(BaseModel):
    """``freshness:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_age_days: int | None = Field(730, ge=1)  # None: age alone never flags
    action: Destination = "review"
    today: date | None = None  # fixed date for reproducible runs; default: the current date


class FreshnessStep(Step):
    """Send records from outdated sources to review (or drop them, as configured)."""

    name = "freshness"

    def __init__(self, config: FreshnessConfig | None = None) -> None:
        super().__init__()
        self.config = config or FreshnessConfig()
        self.today = self.config.today or date.today()
        self.by_document: dict[str, list[str]] = defaultdict(list)  # path -> reasons

    def reasons(self, record: Record) -> list[str]:
        info = getattr(record.meta, "source_info", None) or {}
        if not isinstance(info, dict):
            return []
        out = []
        review_by = _as_date(info.get("review_by"))
        if review_by and review_by < self.today:
            out.append(f"past_review_by:{review_by.isoformat()}")
        if info.get("superseded_by"):
            out.append(f"superseded_by:{shown_path(str(info['superseded_by']))}")
        updated = _as_date(info.get("updated"))
        if updated and self.config.max_age_days:
            age = (self.today - updated).days
            if age > self.config.max_age_days:
                out.append(f"older_than:{self.config.max_age_days}d")
        return out

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.seen += 1
            reasons = self.reasons(record)
            self.annotate(record, checked=self.today.isoformat(), flags=reasons)
            if reasons:
                path = (
                    shown_path(record.meta.source.path)
                    if record.meta.source
                    else "(unknown source)"
                )
                if reasons[0] not in self.by_document[path]:
                    self.by_document[path].append(reasons[0])
                self.exclude(
                    record,
                    f"outdated:{reasons[0].split(':')[0]}",
                    destination=self.config.action,
                    details={"reasons": reasons},
                )
                continue
            self.kept += 1
            yield record

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        data["by_document"] = {k: list(v) for k, v in sorted(self.by_document.items())}
        return data


register_step("freshness", FreshnessConfig, order=25)(FreshnessStep)
