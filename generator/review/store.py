"""Review tables in the run journal: the drawn sample and every decision, written at once
so quitting loses nothing and the next start resumes where the reviewer stopped."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from generator.records import Record, parse_record, utcnow
from generator.review.schema import COLUMNS, REVIEW_MIGRATIONS, VALID_DECISION
from generator.store import Journal


def text_digest(record: Record) -> str:
    return hashlib.sha256(record.example_text().encode("utf-8")).hexdigest()


def _digest_of_json(record_json: str) -> str:
    return text_digest(parse_record(json.loads(record_json)))


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


def _item(r: Any) -> Item:
    return Item(
        r["record_id"],
        r["position"],
        r["origin"],
        r["stratum"],
        r["reason"],
        parse_record(json.loads(r["record"])),
    )


def _insert(
    conn: sqlite3.Connection, items: list[tuple[Record, str, str, str | None]], start: int
) -> None:
    """Queue (record, origin, stratum, reason) items at positions ``start``, ``start + 1``,
    ...; an item already queued (by record id) stays as it is."""
    conn.executemany(
        f"INSERT OR IGNORE INTO review_items({COLUMNS}) VALUES (?,?,?,?,?,?,?)",
        [
            (rec.meta.id, start + i, origin, stratum, reason, rec.to_json(), text_digest(rec))
            for i, (rec, origin, stratum, reason) in enumerate(items)
        ],
    )


class ReviewStore:
    """Read and write review state of one run."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        journal.conn.create_function("review_digest", 1, _digest_of_json, deterministic=True)
        journal.migrate("review", REVIEW_MIGRATIONS)

    def has_sample(self) -> bool:
        return bool(self.journal.query("SELECT 1 FROM review_items LIMIT 1"))

    def save_sample(self, items: list[tuple[Record, str, str, str | None]], info: dict) -> None:
        """Store the drawn queue: (record, origin, stratum, reason) in review order."""
        with self.journal.transaction() as conn:
            _insert(conn, items, 0)
            conn.execute(
                "INSERT OR REPLACE INTO review_meta VALUES ('sample', ?)", (json.dumps(info),)
            )

    def append_items(self, items: list[tuple[Record, str, str, str | None]]) -> int:
        """Queue items not queued yet (by record id) at the end; an item whose text changed
        since it was queued is replaced (decisions on the old text no longer count).
        Returns how many items are new or changed."""
        queued = {
            r["record_id"]: r["text_sha256"]
            for r in self.journal.query("SELECT record_id, text_sha256 FROM review_items")
        }
        start = self.journal.query("SELECT coalesce(max(position), -1) + 1 n FROM review_items")
        new, changed = [], []
        for rec, origin, stratum, reason in items:
            old = queued.get(rec.meta.id)
            if old is None:
                new.append((rec, origin, stratum, reason))
            elif old != text_digest(rec):
                changed.append((rec.to_json(), reason, text_digest(rec), rec.meta.id))
        with self.journal.transaction() as conn:
            _insert(conn, new, start[0]["n"])
            conn.executemany(
                "UPDATE review_items SET record=?, reason=?, text_sha256=?, decided=0"
                " WHERE record_id=?",
                changed,
            )
        return len(new) + len(changed)

    def count(self, origin: str) -> int:
        rows = self.journal.query("SELECT count(*) n FROM review_items WHERE origin=?", (origin,))
        return int(rows[0]["n"])

    def meta(self, key: str) -> str | None:
        rows = self.journal.query("SELECT value FROM review_meta WHERE key=?", (key,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self.journal.execute("INSERT OR REPLACE INTO review_meta VALUES (?, ?)", (key, value))

    def sample_info(self) -> dict[str, Any]:
        rows = self.journal.query("SELECT value FROM review_meta WHERE key='sample'")
        return json.loads(rows[0]["value"]) if rows else {}

    def items(self) -> list[Item]:
        rows = self.journal.query("SELECT * FROM review_items ORDER BY position")
        return [_item(r) for r in rows]

    # Paging: what one page of the queue shows, read without reading the rest of it.

    def size(self) -> int:
        return int(self.journal.query("SELECT count(*) n FROM review_items")[0]["n"])

    def remaining(self) -> int:
        """How many items have no decision on their current text (as :meth:`pending`)."""
        rows = self.journal.query("SELECT count(*) n FROM review_items WHERE decided = 0")
        return int(rows[0]["n"])

    def rank(self, position: int) -> int:
        """How many items come before ``position`` (0 for the first)."""
        q = "SELECT count(*) n FROM review_items WHERE position < ?"
        return int(self.journal.query(q, (position,))[0]["n"])

    def neighbours(self, position: int) -> tuple[int | None, int | None]:
        """The positions of the items before and after ``position``."""
        row = self.journal.query(
            "SELECT (SELECT max(position) FROM review_items WHERE position < :p) prev,"
            " (SELECT min(position) FROM review_items WHERE position > :p) next",
            {"p": position},
        )[0]
        return row["prev"], row["next"]

    def next_pending(self, after: int) -> int | None:
        """The position of the first undecided item after ``after``, wrapping round."""
        q = (
            "SELECT position FROM review_items WHERE decided = 0 AND position > ?"
            " ORDER BY position LIMIT 1"
        )
        for start in (after, -1):
            rows = self.journal.query(q, (start,))
            if rows:
                return int(rows[0]["position"])
        return None

    def at(self, position: int) -> Item | None:
        """The item at ``position`` (or the next one; the last one past the end)."""
        rows = self.journal.query(
            "SELECT * FROM review_items WHERE position >= ? ORDER BY position LIMIT 1",
            (position,),
        ) or self.journal.query("SELECT * FROM review_items ORDER BY position DESC LIMIT 1")
        return _item(rows[0]) if rows else None

    def find(self, record_id: str) -> Item | None:
        rows = self.journal.query("SELECT * FROM review_items WHERE record_id=?", (record_id,))
        return _item(rows[0]) if rows else None

    def decision_on(self, record_id: str) -> dict[str, Any] | None:
        """The latest decision on the item's current text, or None."""
        rows = self.journal.query(
            "SELECT d.* FROM review_items i JOIN review_decisions d ON d.id = (SELECT max(id)"
            " FROM review_decisions WHERE record_id = i.record_id AND decision != 'skip')"
            " WHERE i.record_id = ? AND (d.text_sha256 IS NULL OR d.text_sha256 = i.text_sha256)",
            (record_id,),
        )
        return dict(rows[0]) if rows else None

    def page(
        self, after: int, limit: int, *, origin: str = "", status: str = "", contains: str = ""
    ) -> list[Item]:
        """Up to ``limit`` items after position ``after`` with that origin and decision
        status (``pending`` or a decision); ``contains``: (ASCII) text their record JSON or
        reason holds, a pre-filter the caller checks on the record's fields."""
        where, args = ["position > ?"], [after]
        if origin:
            where.append("origin = ?")
            args.append(origin)
        if status == "pending":
            where.append("decided = 0")
        elif status:
            where.append(f"decided = 1 AND EXISTS ({VALID_DECISION} AND d.decision = ?)")
            args.append(status)
        if contains:
            where.append("(instr(lower(record), ?) OR instr(lower(coalesce(reason, '')), ?))")
            args += [contains.lower()] * 2
        rows = self.journal.query(
            f"SELECT * FROM review_items i WHERE {' AND '.join(where)} ORDER BY position LIMIT ?",
            (*args, limit),
        )
        return [_item(r) for r in rows]

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
        digest = text_digest(before) if before is not None else None
        if before is None:  # made on the text queued now
            rows = self.journal.query(
                "SELECT text_sha256 FROM review_items WHERE record_id=?", (record_id,)
            )
            digest = rows[0]["text_sha256"] if rows else None
        with self.journal.transaction() as conn:
            conn.execute(
                "INSERT INTO review_decisions(record_id, decision, reason, reviewer, at, before,"
                " after, text_sha256) VALUES (?,?,?,?,?,?,?,?)",
                (
                    record_id,
                    decision,
                    reason,
                    reviewer or reviewer_name(),
                    at or utcnow(),
                    before.to_json() if before else None,
                    after.to_json() if after else None,
                    digest,
                ),
            )
            if decision != "skip":  # the item's latest decision: does it hold for its text?
                conn.execute(
                    "UPDATE review_items SET decided = (? IS NULL OR ? = text_sha256)"
                    " WHERE record_id=?",
                    (digest, digest, record_id),
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
