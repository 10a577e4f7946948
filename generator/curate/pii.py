"""PII and secrets step: find personal data and secrets in every text field and redact,
mask, pseudonymize or drop, per entity type.

Pseudonyms come from a keyed hash (HMAC-SHA256): the same value becomes the same surrogate
within a run, and a different one in another run, because each run has its own random key
kept only in the run journal (``pii_key`` table), never in exported files.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generator import redact
from generator.curate.base import Step
from generator.curate.registry import StepContext, register_step
from generator.records import Record
from generator.store import Journal

PII_MIGRATIONS = ["CREATE TABLE pii_key (id INTEGER PRIMARY KEY CHECK (id = 1), key BLOB NOT NULL)"]


def default_actions() -> dict[str, redact.Action]:
    actions: dict[str, redact.Action] = {t: "redact" for t in redact.CONTACT_TYPES}
    actions.update({t: "redact" for t in redact.SECRET_TYPES})
    actions.update({t: "pseudonymize" for t in redact.NER_TYPES})
    return actions


class PiiConfig(BaseModel):
    """``pii:`` in curate.yaml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    actions: dict[str, redact.Action] = Field(default_factory=default_actions)
    ner: bool = False  # person/place names (needs the [ner] extra)
    examples_per_type: int = Field(3, ge=0)


def run_key(journal: Journal) -> bytes:
    """The run's pseudonymisation key: created once, stored only in the journal."""
    journal.migrate("pii", PII_MIGRATIONS)
    rows = journal.query("SELECT key FROM pii_key WHERE id = 1")
    if rows:
        return bytes(rows[0]["key"])
    key = secrets.token_bytes(32)
    journal.execute("INSERT OR IGNORE INTO pii_key(id, key) VALUES (1, ?)", (key,))
    return bytes(journal.query("SELECT key FROM pii_key WHERE id = 1")[0]["key"])


class PiiStep(Step):
    """Scan every text field; rewrite or drop the record as the entity's action says."""

    name = "pii"

    def __init__(self, config: PiiConfig | None = None, key: bytes | None = None) -> None:
        super().__init__()
        self.config = config or PiiConfig()
        unknown = set(self.config.actions) - set(redact.ALL_TYPES)
        if unknown:
            from generator.errors import ConfigError

            raise ConfigError(
                f"pii.actions: unknown entity types {sorted(unknown)}; "
                f"known: {', '.join(redact.ALL_TYPES)}"
            )
        if "pseudonymize" in self.config.actions.values() and key is None:
            key = secrets.token_bytes(32)  # a stand-alone step still gets a per-run key
        self.key = key
        self.types = frozenset(t for t, a in self.config.actions.items() if a != "keep")
        self.use_ner = self.config.ner and redact.ner_available()
        self.warnings: list[str] = []
        if self.config.ner and not self.use_ner:
            self.warnings.append(redact.NER_HINT)
        self.findings: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def _action(self, kind: str) -> redact.Action:
        return self.config.actions.get(kind, "keep")

    def scan(self, record: Record) -> tuple[list[tuple[str, list[redact.Finding]]], bool]:
        """(findings per field, whether any finding's action is drop)."""
        per_field = []
        drop = False
        for field, text in record.text_fields():
            found = redact.detect(text, self.types, ner=self.use_ner)
            if found:
                per_field.append((field, found))
                drop = drop or any(self._action(f.type) == "drop" for f in found)
        return per_field, drop

    def run(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            self.seen += 1
            per_field, drop = self.scan(record)
            counts: Counter[str] = Counter()
            for _, found in per_field:
                for f in found:
                    counts[f.type] += 1
                    if len(self.examples[f.type]) < self.config.examples_per_type:
                        self.examples[f.type].append(redact.mask_value(f.text))
            self.findings.update(counts)
            if drop:
                kinds = sorted(
                    {f.type for _, fs in per_field for f in fs if self._action(f.type) == "drop"}
                )
                for field, found in per_field:  # the exclusion file gets no raw values either
                    text = dict(record.text_fields())[field]
                    record.set_text(field, redact.apply(text, found, lambda _t: "redact"))
                self.exclude(record, f"pii:{'+'.join(kinds)}", details={"found": dict(counts)})
                continue
            for field, found in per_field:
                text = dict(record.text_fields())[field]
                record.set_text(field, redact.apply(text, found, self._action, self.key))
            if counts:
                self.annotate(record, found=dict(counts))
            self.kept += 1
            yield record

    per_record = True

    def counters(self) -> dict[str, Any]:
        return {
            **super().counters(),
            "findings": dict(self.findings),
            "examples": {k: list(v) for k, v in self.examples.items()},
        }

    def absorb(self, part: dict[str, Any]) -> None:
        super().absorb(part)
        self.findings.update(part["findings"])
        for kind, values in part["examples"].items():
            room = self.config.examples_per_type - len(self.examples[kind])
            self.examples[kind].extend(values[: max(0, room)])

    def stats(self) -> dict[str, Any]:
        data = super().stats()
        data["findings"] = dict(self.findings)
        data["examples"] = {k: list(v) for k, v in self.examples.items()}
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


def _build(config: PiiConfig, ctx: StepContext) -> PiiStep:
    key = run_key(ctx.journal) if ctx.journal is not None else None
    return PiiStep(config, key)


# First: every later step, and every exclusion file, sees redacted text only.
register_step("pii", PiiConfig, order=5, factory=_build)(PiiStep)
