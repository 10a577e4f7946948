"""Batches in the run journal: every step of a batch is written before and after it runs.

Tables (component ``generate_batch``, append-only migrations):

- ``gen_batches``: one row per batch of ours (``key``), with the provider's ids (input file,
  batch, output and error files), its state and counts, the worst-case cost it was
  submitted under, and why it failed. States, in order: ``uploading`` (written before the
  upload) -> ``uploaded`` (file id) -> ``submitting`` (written before the create call, with
  the time) -> the provider's ``validating`` / ``in_progress`` / ``finalizing`` /
  ``cancelling`` -> ``completed`` / ``expired`` / ``failed`` / ``cancelled`` -> ``collected``
  (its results were handed to the engine). ``abandoned``: a crash came before the create
  call and no batch was found at the provider; its requests were asked again.
- ``gen_batch_requests``: which request (hash, unit) each custom id of a batch is.

A restarted run looks a request's hash up here before batching it again
(:meth:`BatchJournal.batch_of`): the batch that has it is re-attached, not re-created.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from generator.records import utcnow
from generator.store import Journal

MIGRATIONS: list[str] = [
    """
    CREATE TABLE gen_batches (
        key TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        state TEXT NOT NULL,
        batch_id TEXT,
        file_id TEXT,
        output_file_id TEXT,
        error_file_id TEXT,
        n_requests INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        worst_cost_usd REAL,
        succeeded INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        malformed INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        session INTEGER,
        submitted_at REAL,                -- epoch seconds just before the create call
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE gen_batch_requests (
        batch_key TEXT NOT NULL,
        custom_id TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        unit_id TEXT NOT NULL,
        PRIMARY KEY (batch_key, custom_id)
    );
    CREATE INDEX gen_batch_requests_hash ON gen_batch_requests(request_hash);
    """,
]

# A request of a batch in these states may still be answered by it (re-attach).
LIVE = ("uploaded", "submitting", "validating", "in_progress", "finalizing", "cancelling",
        "completed", "expired", "cancelled", "collected")  # fmt: skip
IN_FLIGHT = ("uploading", "uploaded", "submitting", "validating", "in_progress", "finalizing",
             "cancelling")  # fmt: skip


@dataclass
class BatchRow:
    key: str
    provider: str
    state: str
    batch_id: str | None
    file_id: str | None
    n_requests: int
    worst_cost_usd: float | None
    submitted_at: float | None
    output_file_id: str | None = None
    error_file_id: str | None = None


class BatchJournal:
    """Generation's batch tables (module docstring)."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        journal.migrate("generate_batch", MIGRATIONS)

    def start(
        self,
        key: str,
        provider: str,
        requests: list[tuple[str, str, str]],
        size: int,
        worst: float | None,
        session: int | None,
    ) -> None:
        """Before the upload: the batch and its (custom id, request hash, unit id) rows."""
        now = utcnow()
        with self.j.transaction() as conn:
            conn.execute(
                "INSERT INTO gen_batches(key, provider, state, n_requests, bytes, worst_cost_usd,"
                " session, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (key, provider, "uploading", len(requests), size, worst, session, now, now),
            )
            conn.executemany(
                "INSERT INTO gen_batch_requests(batch_key, custom_id, request_hash, unit_id)"
                " VALUES (?,?,?,?)",
                [(key, *r) for r in requests],
            )

    def abandon_uploads(self) -> int:
        """Batches left in ``uploading`` (a crash before the create call was even journaled:
        nothing was created at the provider) are marked ``abandoned``."""
        cur = self.j.execute(
            "UPDATE gen_batches SET state='abandoned', updated_at=? WHERE state='uploading'",
            (utcnow(),),
        )
        return cur.rowcount

    def update(self, key: str, **values: Any) -> None:
        """Set columns of one batch (``state``, ids, counts, ``error``)."""
        if values.get("state") == "submitting":
            values.setdefault("submitted_at", time.time())
        cols = ", ".join(f"{k}=?" for k in values)
        self.j.execute(
            f"UPDATE gen_batches SET {cols}, updated_at=? WHERE key=?",
            (*values.values(), utcnow(), key),
        )

    def batch_of(self, request_hash: str) -> tuple[BatchRow, str] | None:
        """The latest batch that may answer ``request_hash`` and its custom id there."""
        rows = self.j.query(
            "SELECT b.*, r.custom_id FROM gen_batch_requests r JOIN gen_batches b"
            " ON b.key = r.batch_key WHERE r.request_hash=? ORDER BY b.rowid DESC LIMIT 1",
            (request_hash,),
        )
        if not rows or rows[0]["state"] not in LIVE:
            return None
        return _row(rows[0]), rows[0]["custom_id"]

    def requests_of(self, key: str) -> dict[str, str]:
        """custom id -> request hash of one batch."""
        rows = self.j.query(
            "SELECT custom_id, request_hash FROM gen_batch_requests WHERE batch_key=?", (key,)
        )
        return {r["custom_id"]: r["request_hash"] for r in rows}

    def in_flight_worst(self) -> float:
        """Worst-case cost of batches submitted and not yet collected."""
        marks = ",".join("?" * len(IN_FLIGHT))
        row = self.j.query(
            "SELECT COALESCE(SUM(worst_cost_usd), 0) AS c FROM gen_batches"
            f" WHERE state IN ({marks})",
            IN_FLIGHT,
        )[0]
        return float(row["c"])

    def rows(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM gen_batches"
        params: tuple[str, ...] = ()
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            params = states
        return [dict(r) for r in self.j.query(sql + " ORDER BY rowid", params)]


def _row(r: Any) -> BatchRow:
    return BatchRow(
        key=r["key"],
        provider=r["provider"],
        state=r["state"],
        batch_id=r["batch_id"],
        file_id=r["file_id"],
        n_requests=r["n_requests"],
        worst_cost_usd=r["worst_cost_usd"],
        submitted_at=r["submitted_at"],
        output_file_id=r["output_file_id"],
        error_file_id=r["error_file_id"],
    )
