"""Review tables in the run journal: the drawn sample and every decision, written at once
so quitting loses nothing and the next start resumes where the reviewer stopped."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from generator.records import Record, parse_record, utcnow
from generator.store import Journal

REVIEW_MIGRATIONS = [
    """
    CREATE TABLE review_items (
        record_id TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        origin TEXT NOT NULL,        -- 'flagged' (sent by a curation step) or 'sample'
        stratum TEXT NOT NULL,
        reason TEXT,                 -- why a step sent it (flagged items)
        record TEXT NOT NULL         -- record JSON as drawn
    );
    CREATE TABLE review_decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        record_id TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'edit', 'skip')),
        reason TEXT,
        reviewer TEXT NOT NULL,
        at TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE INDEX review_decisions_record ON review_decisions(record_id, id);
    CREATE TABLE review_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # the text a decision was made on: a record whose text changed since needs a new one
    "ALTER TABLE review_decisions ADD COLUMN text_sha256 TEXT;",
]


def text_digest(record: Record) -> str:
    return hashlib.sha256(record.example_text().encode("utf-8")).hexdigest()


def reviewer_name() -> str:
    return os.environ.get("INSTRUCTFORGE_REVIEWER") or os.environ.get("USER") or "reviewer"


@dataclass
class Item:
    record_id: str
    position: int
    origin: str
    stratum: str
    reason: str | None
    record: Record


class ReviewStore:
    """Read and write review state of one run."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        journal.migrate("review", REVIEW_MIGRATIONS)

    def has_sample(self) -> bool:
        return bool(self.journal.query("SELECT 1 FROM review_items LIMIT 1"))

    def save_sample(self, items: list[tuple[Record, str, str, str | None]], info: dict) -> None:
        """Store the drawn queue: (record, origin, stratum, reason) in review order."""
        with self.journal.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO review_items VALUES (?,?,?,?,?,?)",
                [
                    (rec.meta.id, i, origin, stratum, reason, rec.to_json())
                    for i, (rec, origin, stratum, reason) in enumerate(items)
                ],
            )
            conn.execute(
                "INSERT OR REPLACE INTO review_meta VALUES ('sample', ?)", (json.dumps(info),)
            )

    def append_items(self, items: list[tuple[Record, str, str, str | None]]) -> int:
        """Queue items not queued yet (by record id) at the end; an item whose text changed
        since it was queued is replaced (decisions on the old text no longer count).
        Returns how many items are new or changed."""
        queued = {
            r["record_id"]: r["record"]
            for r in self.journal.query("SELECT record_id, record FROM review_items")
        }
        start = self.journal.query("SELECT coalesce(max(position), -1) + 1 n FROM review_items")
        new, changed = [], []
        for rec, origin, stratum, reason in items:
            old = queued.get(rec.meta.id)
            if old is None:
                new.append((rec, origin, stratum, reason))
            elif parse_record(json.loads(old)).example_text() != rec.example_text():
                changed.append((rec.to_json(), reason, rec.meta.id))
        with self.journal.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO review_items VALUES (?,?,?,?,?,?)",
                [
                    (rec.meta.id, start[0]["n"] + i, origin, stratum, reason, rec.to_json())
                    for i, (rec, origin, stratum, reason) in enumerate(new)
                ],
            )
            conn.executemany(
                "UPDATE review_items SET record=?, reason=? WHERE record_id=?", changed
            )
        return len(new) + len(changed)

    def count(self, origin: str) -> int:
        rows = self.journal.query("SELECT count(*) n FROM review_items WHERE origin=?", (origin,))
        return int(rows[0]["n"])

    def sample_info(self) -> dict[str, Any]:
        rows = self.journal.query("SELECT value FROM review_meta WHERE key='sample'")
        return json.loads(rows[0]["value"]) if rows else {}

    def items(self) -> list[Item]:
        return [
            Item(
                r["record_id"],
                r["position"],
                r["origin"],
                r["stratum"],
                r["reason"],
                parse_record(json.loads(r["record"])),
            )
            for r in self.journal.query("SELECT * FROM review_items ORDER BY position")
        ]

    def decide(
        self,
        record_id: str,
        decision: str,
        *,
        reason: str | None = None,
        reviewer: str | None = None,
        before: Record | None = None,
        after: Record | None = None,
        at: str | None = None,
    ) -> None:
        if before is None:
            rows = self.journal.query(
                "SELECT record FROM review_items WHERE record_id=?", (record_id,)
            )
            shown = parse_record(json.loads(rows[0]["record"])) if rows else None
        self.journal.execute(
            "INSERT INTO review_decisions(record_id, decision, reason, reviewer, at, before, after,"
            " text_sha256) VALUES (?,?,?,?,?,?,?,?)",
            (
                record_id,
                decision,
                reason,
                reviewer or reviewer_name(),
                at or utcnow(),
                before.to_json() if before else None,
                after.to_json() if after else None,
                text_digest(before or shown) if (before or shown) else None,
            ),
        )

    def latest(self) -> dict[str, dict[str, Any]]:
        """The latest non-skip decision per record (a later decision overrides)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.journal.query(
            "SELECT * FROM review_decisions WHERE decision != 'skip' ORDER BY id"
        ):
            out[r["record_id"]] = dict(r)
        return out

    def pending(self) -> list[Item]:
        """Items without a decision on their current text."""
        decided = self.latest()
        return [
            it
            for it in self.items()
            if it.record_id not in decided
            or decided[it.record_id]["text_sha256"] not in (None, text_digest(it.record))
        ]
