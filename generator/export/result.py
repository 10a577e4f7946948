"""What one export was asked to do and what it did: :class:`ExportOptions` (all of it goes in
the manifest), the records it left out (:class:`Exclusion`), the files it wrote
(:class:`FileInfo`) and :class:`ExportResult`, which the legal pack, the card and the
command's summary read. The export itself is :mod:`generator.export.job`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from generator.export.base import Row
from generator.export.gate import Gate
from generator.export.openai_validate import ValidationReport
from generator.export.writer import InputPlan


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


def exclusion_rows(res: ExportResult) -> list[Row]:
    """``excluded.jsonl``: ids, places and reasons only, never the excluded content."""
    return [e.__dict__ for e in res.exclusions]
