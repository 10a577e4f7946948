"""Generation's tables in the run journal, and the only code that writes them.

Tables (migrations of component ``generate``, append-only):

- ``gen_calls``: one row per provider attempt, written as it happens: request hash, unit,
  chunk, attempt, kind (ask / reask), status, latency, tokens, cost, error code and a
  scrubbed error line, finish reason, and the raw reply (so a reply that arrived before a
  crash is reused on resume instead of paid again). Never keys or headers.
- ``gen_units``: a unit is *done* once its row exists; written in the same transaction as
  its records, rejections and pool entries (:meth:`GenJournal.write_batch`).
- ``gen_records`` (accepted records, ``seq`` = commit order), ``gen_rejections`` (reason,
  detail, raw output), ``gen_pool`` (accepted instructions, in commit order, for novelty
  and in-context examples), ``gen_sessions`` (one row per invocation, for ``runs show``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from generator.generate.journal_rows import CallRow, Orphans, UnitCommit, UnitDone
from generator.generate.journal_schema import MIGRATIONS
from generator.records import utcnow
from generator.store import Journal

__all__ = ["MIGRATIONS", "CallRow", "GenJournal", "Orphans", "UnitCommit", "UnitDone"]

_CALL_COLS = (
    "request_hash, unit_id, chunk_id, kind, attempt, status, latency_s, prompt_tokens,"
    " completion_tokens, cost_usd, error_code, error, finish_reason, reply, reasoning,"
    " session, created_at, cached_tokens, cache_hit, cache_corrupt"
)


class GenJournal:
    """Generation's view of a run's :class:`~generator.store.Journal`."""

    def __init__(self, journal: Journal) -> None:
        self.j = journal
        journal.migrate("generate", MIGRATIONS)
        self.session: int | None = None

    # ---------------------------------------------------------------- sessions
    def start_session(self, fingerprint: str) -> int:
        cur = self.j.execute(
            "INSERT INTO gen_sessions(started_at, status, fingerprint) VALUES (?, 'running', ?)",
            (utcnow(), fingerprint),
        )
        self.session = int(cur.lastrowid or 0)
        return self.session

    def end_session(self, status: str, message: str = "") -> None:
        if self.session is not None:
            self.j.execute(
                "UPDATE gen_sessions SET ended_at=?, status=?, message=? WHERE id=?",
                (utcnow(), status, message, self.session),
            )

    # ---------------------------------------------------------------- calls
    def write_batch(
        self, calls: list[CallRow], commits: list[UnitCommit], pending: list[UnitCommit]
    ) -> None:
        """One transaction: provider calls, units done (records, rejections, pool), and the
        rejections of units that stay pending."""
        with self.j.transaction() as conn:
            self._insert_calls(conn, calls)
            for c in commits:
                self._write_unit(conn, c)
            for c in pending:
                self._write_rejections(conn, c)

    def _insert_calls(self, conn: sqlite3.Connection, rows: Iterable[CallRow]) -> None:
        vals = [
            (
                r.request_hash, r.unit_id, r.chunk_id, r.kind, r.attempt, r.status,
                r.latency_s, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.error_code,
                r.error, r.finish_reason, r.reply, r.reasoning, self.session, r.created_at,
                r.cached_tokens, r.cache_hit, r.cache_corrupt,
            )
            for r in rows
        ]  # fmt: skip
        if vals:
            conn.executemany(
                f"INSERT INTO gen_calls({_CALL_COLS}) VALUES ({','.join('?' * 20)})", vals
            )

    def pending_replies(self) -> list[CallRow]:
        """Successful replies of units not yet done (arrived before a crash or a stop)."""
        rows = self.j.query(
            f"SELECT {_CALL_COLS} FROM gen_calls WHERE status='ok'"
            " AND unit_id NOT IN (SELECT id FROM gen_units) ORDER BY id"
        )
        out = []
        for r in rows:
            d = dict(r)
            d.pop("session")
            out.append(CallRow(**d))
        return out

    def total_cost(self) -> float:
        row = self.j.query("SELECT COALESCE(SUM(cost_usd), 0) AS c FROM gen_calls")[0]
        return float(row["c"])

    # ---------------------------------------------------------------- units
    def done_units(self) -> set[str]:
        return {r["id"] for r in self.j.query("SELECT id FROM gen_units")}

    def _write_unit(self, conn: sqlite3.Connection, c: UnitCommit) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO gen_records(id, unit_id, chunk_id, data) VALUES (?,?,?,?)",
            [(rid, c.unit_id, c.chunk_id, line) for rid, line in c.records],
        )
        self._write_rejections(conn, c)
        conn.executemany(
            "INSERT INTO gen_pool(unit_id, unit_pos, fingerprint, instruction, example)"
            " VALUES (?,?,?,?,?)",
            [
                (c.unit_id, c.unit_pos, c.fingerprint, ex["instruction"], json.dumps(ex))
                for ex in c.pool
            ],
        )
        conn.execute(
            "INSERT OR REPLACE INTO gen_units(id, chunk_id, template, idx, fingerprint, status,"
            " n_accepted, n_rejected, done_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                c.unit_id, c.chunk_id, c.template, c.idx, c.fingerprint, c.status,
                len(c.records), len(c.rejections), utcnow(),
            ),
        )  # fmt: skip

    @staticmethod
    def _write_rejections(conn: sqlite3.Connection, c: UnitCommit) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO gen_rejections(id, unit_id, chunk_id, reason, detail, raw,"
            " data) VALUES (?,?,?,?,?,?,?)",
            [
                (r["id"], c.unit_id, c.chunk_id, r["reason"], r.get("detail"), r.get("raw"), line)
                for r, line in zip(c.rejections, c.rejection_lines(), strict=True)
            ],
        )

    # ---------------------------------------------------------------- healing
    def ids(self, table: str) -> set[str]:
        """Every id of ``gen_records`` or ``gen_rejections``."""
        if table not in ("gen_records", "gen_rejections"):
            raise ValueError(table)
        return {r[0] for r in self.j.query(f"SELECT id FROM {table}")}

    def adopt(
        self,
        records: list[tuple[str, str, str]],
        untrusted: list[tuple[str, str, dict[str, Any]]],
    ) -> None:
        """Take back record lines the journal lost, (id, chunk id, line), with no unit yet;
        journal untrusted lines, (id, chunk id, rejection), as rejections."""
        if not records and not untrusted:
            return
        with self.j.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO gen_records(id, unit_id, chunk_id, data) VALUES (?,'',?,?)",
                records,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO gen_rejections(id, unit_id, chunk_id, reason, detail, raw,"
                " data) VALUES (?,'',?,?,?,?,?)",
                [
                    (rid, chunk, r["reason"], r["detail"], r["raw"], json.dumps(r))
                    for rid, chunk, r in untrusted
                ],
            )

    def adopt_rejections(self, lost: list[tuple[dict[str, Any], str]]) -> None:
        """Take back rejected.jsonl lines (object, line) the journal lost."""
        rows = []
        for obj, line in lost:
            src = obj.get("source")
            chunk = src.get("chunk_id") if isinstance(src, dict) else None
            rows.append((obj["id"], str(obj.get("unit") or ""), str(chunk or ""), obj["reason"],
                         _text(obj.get("detail")), _text(obj.get("raw")), line))  # fmt: skip
        if rows:
            with self.j.transaction() as conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO gen_rejections(id, unit_id, chunk_id, reason, detail,"
                    " raw, data) VALUES (?,?,?,?,?,?,?)",
                    rows,
                )

    def orphans(self) -> Orphans:
        where = "WHERE unit_id NOT IN (SELECT id FROM gen_units)"
        recs = self.j.query(f"SELECT id, unit_id, data FROM gen_records {where} ORDER BY seq")
        rejs = self.j.query(f"SELECT id, unit_id FROM gen_rejections {where}")
        return Orphans(
            [(r["id"], r["unit_id"], r["data"]) for r in recs],
            [(r["id"], r["unit_id"]) for r in rejs],
        )

    def complete_units(self, units: list[UnitDone]) -> None:
        """Mark units done from taken-back lines, in one transaction: their unit rows, pool
        entries, records' unit ids, and one ``adopted`` call row with the records' usage."""
        if not units:
            return
        now = utcnow()
        with self.j.transaction() as conn:
            for u in units:
                conn.executemany(
                    "UPDATE gen_records SET unit_id=? WHERE id=?",
                    [(u.unit_id, r) for r in u.records],
                )
                conn.executemany(
                    "INSERT INTO gen_pool(unit_id, unit_pos, fingerprint, instruction, example)"
                    " VALUES (?,?,?,?,?)",
                    [(u.unit_id, u.unit_pos, u.fingerprint, ex["instruction"], json.dumps(ex))
                     for ex in u.pool],
                )  # fmt: skip
                conn.execute(
                    "INSERT OR IGNORE INTO gen_units(id, chunk_id, template, idx, fingerprint,"
                    " status, n_accepted, n_rejected, done_at) VALUES (?,?,?,?,?,'done',?,?,?)",
                    (u.unit_id, u.chunk_id, u.template, u.idx, u.fingerprint, len(u.records),
                     u.rejections, now),
                )  # fmt: skip
                row = CallRow(
                    request_hash=f"adopted:{u.unit_id}", unit_id=u.unit_id, chunk_id=u.chunk_id,
                    kind="adopted", attempt=1, status="ok", prompt_tokens=u.prompt_tokens,
                    completion_tokens=u.completion_tokens, cost_usd=u.cost_usd,
                    error_code="adopted", created_at=now,
                )  # fmt: skip
                self._insert_calls(conn, [row])

    # ---------------------------------------------------------------- pool and outputs
    def pool(self, fingerprint: str) -> list[tuple[int, dict[str, str]]]:
        """(unit position, example) of the pool of one generation, in commit order."""
        rows = self.j.query(
            "SELECT unit_pos, example FROM gen_pool WHERE fingerprint=? ORDER BY seq",
            (fingerprint,),
        )
        return [(r["unit_pos"], json.loads(r["example"])) for r in rows]

    def pool_instructions(self) -> list[str]:
        """Every accepted instruction of the run (all generations), in commit order."""
        return [
            r["instruction"] for r in self.j.query("SELECT instruction FROM gen_pool ORDER BY seq")
        ]

    def accepted(self, fingerprint: str) -> int:
        """Records accepted so far by one generation."""
        row = self.j.query(
            "SELECT COALESCE(SUM(n_accepted), 0) AS n FROM gen_units WHERE fingerprint=?",
            (fingerprint,),
        )[0]
        return int(row["n"])

    def iter_lines(self, table: str) -> Iterator[tuple[str, str]]:
        """(id, JSON line) of ``gen_records`` or ``gen_rejections`` in commit order."""
        if table not in ("gen_records", "gen_rejections"):
            raise ValueError(table)
        cur = self.j.conn.execute(f"SELECT id, data FROM {table} ORDER BY seq")
        while batch := cur.fetchmany(1000):
            for row in batch:
                yield row["id"], row["data"]


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)
