"""Terms and dates of the source documents themselves.

An optional ``sources.yaml`` in the document folder maps paths or globs (relative to that
folder, POSIX separators) to labels (``confidential``, ``CC-BY-4.0``,
``third-party-copyright``, ...) and dates (``updated``, ``review_by``, ``superseded_by``)::

    sources:
      "handbook/**": {labels: [internal], review_by: 2027-01-31}
      "vendor/*.pdf": {labels: [third-party-copyright], updated: 2024-05-02}
      "handbook/old-leave.md": {superseded_by: handbook/leave.md}
    verdicts:                     # optional: override the shipped verdicts per label and use
      internal: {public-release: block}

Every entry that matches a path applies: labels are combined; each date comes from the most
specific entry that sets it. Without a date there, the document's own metadata decides
(front matter, PDF/DOCX properties), else the file time. The gate treats a label like a
policy: its verdicts per use ship in ``policies/source_labels.yaml``; unknown labels get
``review``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from generator.config import policies_dir
from generator.errors import ConfigError
from generator.pathglob import check_pattern, glob_match
from generator.policies import SOURCE_LABELS_FILE, Verdict
from generator.policy_schema import VerdictName
from generator.records import USES, Ref, Use
from generator.yamlfile import read_yaml

SOURCES_FILE = "sources.yaml"
_ORDER = {"allow": 0, "review": 1, "block": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceEntry(_Strict):
    labels: list[str] = Field(default_factory=list)
    updated: date | None = None
    review_by: date | None = None
    superseded_by: str | None = None


class SourcesFile(_Strict):
    """A validated ``sources.yaml``."""

    sources: dict[str, SourceEntry] = Field(default_factory=dict)
    verdicts: dict[str, dict[Use, VerdictName]] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _bounded_patterns(cls, value: dict[str, SourceEntry]) -> dict[str, SourceEntry]:
        for pattern in value:
            why = check_pattern(pattern)
            if why:
                raise ValueError(f"{why}: {pattern[:60]!r}")
        return value


class LabelRule(_Strict):
    description: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    uses: dict[Use, VerdictName]


class LabelRules(_Strict):
    """``policies/source_labels.yaml``: the default verdicts per label and use."""

    version: str
    url: str  # where the label's meaning is documented (README section)
    labels: dict[str, LabelRule]


@dataclass(frozen=True)
class SourceInfo:
    """What a record inherits from its source document: labels and dates."""

    labels: tuple[str, ...] = ()
    updated: date | None = None
    review_by: date | None = None
    superseded_by: str | None = None
    date_origin: str = "none"  # sources.yaml | front_matter:KEY | metadata:KEY | file_mtime
    matched: tuple[str, ...] = field(default=())  # sources.yaml patterns that matched

    def to_meta(self) -> dict[str, Any]:
        """The JSON-ready dict records carry under ``meta.source_info``."""
        return {
            "labels": list(self.labels),
            "updated": self.updated.isoformat() if self.updated else None,
            "review_by": self.review_by.isoformat() if self.review_by else None,
            "superseded_by": self.superseded_by,
            "date_origin": self.date_origin,
            "matched": list(self.matched),
        }

    @classmethod
    def from_meta(cls, data: dict[str, Any]) -> SourceInfo:
        def d(v: Any) -> date | None:
            return date.fromisoformat(v) if v else None

        return cls(
            labels=tuple(data.get("labels") or ()),
            updated=d(data.get("updated")),
            review_by=d(data.get("review_by")),
            superseded_by=data.get("superseded_by"),
            date_origin=data.get("date_origin", "none"),
            matched=tuple(data.get("matched") or ()),
        )


# ---------------------------------------------------------------- files


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: field {loc}: {err['msg']}") from exc


def load_sources(docs_dir: Path | str) -> SourcesFile | None:
    """The folder's ``sources.yaml`` validated, or None when there is none."""
    path = Path(docs_dir) / SOURCES_FILE
    if not path.is_file():
        return None
    return _validate(SourcesFile, read_yaml(path, ConfigError)[1], path)


def _label_rules(path: Path) -> tuple[LabelRules, str]:
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"{path}: source label rules not found") from exc
    return _label_rules_at(path, stamp)


@cache
def _label_rules_at(path: Path, _stamp: int) -> tuple[LabelRules, str]:
    raw, data = read_yaml(path, ConfigError)
    rules = _validate(LabelRules, data, path)
    for name, rule in rules.labels.items():
        missing = [u for u in USES if u not in rule.uses]
        if missing:
            raise ConfigError(f"{path}: field labels.{name}.uses: missing {', '.join(missing)}")
    return rules, hashlib.sha256(raw).hexdigest()


def label_rules(directory: Path | None = None) -> LabelRules:
    """The shipped (or INSTRUCTFORGE_POLICIES) default verdicts per source label."""
    return _label_rules((directory or policies_dir()) / SOURCE_LABELS_FILE)[0]


def label_rules_ref(directory: Path | None = None) -> Ref:
    """Identity of the label rules file, for the export manifest."""
    rules, sha = _label_rules((directory or policies_dir()) / SOURCE_LABELS_FILE)
    return Ref(id="source-labels", version=rules.version, sha256=sha)


# ---------------------------------------------------------------- matching and dates


def _specificity(pattern: str) -> tuple[int, int]:
    return (sum(1 for c in pattern if c not in "*?"), len(pattern))


def _to_date(value: Any) -> date | None:
    """A date from a datetime, a date, an ISO string or a PDF date ('D:20240131...')."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC).date()
    if isinstance(value, str):
        text = value.strip().removeprefix("D:")
        m = re.match(r"(\d{4})-?(\d{2})-?(\d{2})", text)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


# Most telling first: an explicit "updated" beats a creation date. Markdown readers put the
# front matter's keys straight into Document.metadata; PDF/DOCX/HTML readers use
# "modified" and "created"; a nested "front_matter" dict is accepted too.
_DATE_KEYS = ("updated", "last_updated", "lastmod", "modified", "last_modified", "date", "created")


def _metadata_date(meta: dict[str, Any]) -> tuple[date | None, str]:
    front = meta.get("front_matter")
    if isinstance(front, dict):
        for key in _DATE_KEYS:
            if (d := _to_date(front.get(key))) is not None:
                return d, f"front_matter:{key}"
    for key in _DATE_KEYS:
        if (d := _to_date(meta.get(key))) is not None:
            return d, f"metadata:{key}"
    return None, "none"


def _meta_value(meta: dict[str, Any], key: str) -> Any:
    front = meta.get("front_matter")
    if isinstance(front, dict) and front.get(key) is not None:
        return front[key]
    return meta.get(key)


def source_info(
    doc_path: str,
    doc_metadata: dict[str, Any] | None = None,
    file_mtime: float | datetime | None = None,
    sources: SourcesFile | None = None,
) -> SourceInfo:
    """Labels and dates for one document (``doc_path`` relative to the document folder)."""
    path = doc_path.replace("\\", "/").lstrip("/")
    hits = []
    if sources is not None:
        hits = [(p, e) for p, e in sources.sources.items() if glob_match(p, path)]
        hits.sort(key=lambda h: _specificity(h[0]), reverse=True)  # most specific first
    labels: list[str] = []
    for _, entry in hits:
        labels += [lab for lab in entry.labels if lab not in labels]

    def first(attr: str) -> Any:
        return next((getattr(e, attr) for _, e in hits if getattr(e, attr) is not None), None)

    meta = doc_metadata or {}
    updated, origin = first("updated"), "sources.yaml"
    if updated is None:
        updated, origin = _metadata_date(meta)
    if updated is None and (d := _to_date(file_mtime)) is not None:
        updated, origin = d, "file_mtime"
    review_by = first("review_by") or _to_date(_meta_value(meta, "review_by"))
    superseded = first("superseded_by") or _meta_value(meta, "superseded_by")
    return SourceInfo(
        labels=tuple(labels),
        updated=updated,
        review_by=review_by,
        superseded_by=str(superseded) if superseded else None,
        date_origin=origin,
        matched=tuple(p for p, _ in hits),
    )


# ---------------------------------------------------------------- verdicts


def label_verdict(
    label: str, use: str, sources: SourcesFile | None = None, directory: Path | None = None
) -> Verdict:
    """The verdict of one source label for a use: the folder's override, else the shipped
    rule, else ``review`` (nobody has said what the label allows)."""
    if use not in USES:
        raise ConfigError(f"unknown use {use!r} (known: {', '.join(USES)})")
    rules = label_rules(directory)
    pid, url = f"source:{label}", rules.url
    override = sources.verdicts.get(label, {}).get(use) if sources else None
    if override is not None:
        why = f"sources.yaml sets {label} x {use} to {override}"
        return Verdict(override, why, f"sources.yaml verdicts.{label}", SOURCES_FILE, pid)
    rule = rules.labels.get(label)
    if rule is None:
        why = f"source label {label!r} has no verdict configured: a person must decide"
        return Verdict("review", why, "source_labels.yaml (label not listed)", url, pid)
    return Verdict(rule.uses[use], rule.reason, f"source_labels.yaml labels.{label}", url, pid)


def source_verdict(
    info: SourceInfo, use: str, sources: SourcesFile | None = None, directory: Path | None = None
) -> Verdict | None:
    """The strictest verdict of the document's labels for a use (None without labels)."""
    verdicts = [label_verdict(lab, use, sources, directory) for lab in info.labels]
    return max(verdicts, key=lambda v: _ORDER[v.verdict]) if verdicts else None
