"""Review tables in the run journal: the drawn sample and every decision, written at once
so quitting loses nothing and the next start resumes where the reviewer stopped."""

from __future__ import annotations

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
]


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
        """Add items not yet queued (by record id) at the end of the queue; returns how many."""
        queued = {r["record_id"] for r in self.journal.query("SELECT record_id FROM review_items")}
        new = [it for it in items if it[0].meta.id not in queued]
        start = self.journal.query("SELECT coalesce(max(position), -1) + 1 n FROM review_items")
        with self.journal.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO review_items VALUES (?,?,?,?,?,?)",
                [
                    (rec.meta.id, start[0]["n"] + i, origin, stratum, reason, rec.to_json())
                    for i, (rec, origin, stratum, reason) in enumerate(new)
                ],
            )
        return len(new)

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
        self.journal.execute(
            "INSERT INTO review_decisions(record_id, decision, reason, reviewer, at, before, after)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                record_id,
                decision,
                reason,
                reviewer or reviewer_name(),
                at or utcnow(),
                before.to_json() if before else None,
                after.to_json() if after else None,
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
        decided = self.latest()
        return [it for it in self.items() if it.record_id not in decided]
