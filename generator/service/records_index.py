"""A run's records at scale: a per-run SQLite index over the run folder's JSONL files.

The records stay where the stages write them (PRODUCT.md "Run folder"); the service keeps
beside the project, in ``DATA/projects/PID/index/RID.sqlite``, one row per record line:
its stage (the file it is in), curation step and reason, policy, source document, and where
the line is (offset, length, CRC-32), with an index on each filter column and a contentless
FTS5 table of the record's text for ``q``. A row's id is ``stage << 40 | line number``, so
the same line keeps its id across rebuilds and a page is a keyset scan (``id > cursor``).

:meth:`RecordIndex.refresh` compares each file's (inode, size, mtime) with what was indexed:
unchanged, nothing; grown with the indexed part intact (the generate stage appends), only the
new complete lines are indexed; anything else (curate rewrote its files, healing rewrote
``records.jsonl``) rebuilds the index in one transaction, so readers see the old index or
the new one, never half of it. A page reads its lines back by offset and checks each CRC:
a file changed under the index is found, the index refreshed, and the page read again.
Lines that are not a JSON object are not listed (counted in the ``files`` table).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# stage -> (number, file under the run folder); the number is the top of each row id
STAGES: dict[str, tuple[int, str]] = {
    "generated": (1, "records.jsonl"),
    "rejected": (2, "rejected.jsonl"),
    "curated": (3, "curation/curated.jsonl"),
    "train": (4, "curation/train.jsonl"),
    "validation": (5, "curation/validation.jsonl"),
    "excluded": (6, "curation/excluded.jsonl"),
    "review": (7, "curation/review.jsonl"),
    "quarantine": (8, "curation/quarantine.jsonl"),
}
_NAME = {n: s for s, (n, _) in STAGES.items()}
SHIFT = 40  # 2**40 lines per file
TAIL = 4096  # bytes before the indexed end whose CRC proves a file only grew
FILTERS = ("step", "reason", "policy", "document")
_BATCH = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (stage INTEGER PRIMARY KEY, ino INTEGER, size INTEGER,
    mtime_ns INTEGER, indexed_end INTEGER, lines INTEGER, skipped INTEGER, tail_crc INTEGER);
CREATE TABLE IF NOT EXISTS recs (id INTEGER PRIMARY KEY, step TEXT, reason TEXT,
    policy TEXT, document TEXT, off INTEGER NOT NULL, len INTEGER NOT NULL,
    crc INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, content='', detail=none);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS recs_step ON recs(step);
CREATE INDEX IF NOT EXISTS recs_reason ON recs(reason);
CREATE INDEX IF NOT EXISTS recs_policy ON recs(policy);
CREATE INDEX IF NOT EXISTS recs_document ON recs(document);
CREATE INDEX IF NOT EXISTS recs_step_reason ON recs(step, reason);
CREATE INDEX IF NOT EXISTS recs_policy_document ON recs(policy, document);
"""


class StaleIndex(Exception):
    """A line is not what the index says (its file changed since): refresh and read again."""


@dataclass(frozen=True)
class Row:
    id: int
    stage: str
    step: str | None
    reason: str | None
    policy: str | None
    document: str | None
    off: int
    len: int
    crc: int


def fts_query(q: str) -> str | None:
    """``q`` as an FTS5 query: every word must occur (any order); None if it has no word.
    A word is a run of letters and digits, as the index's tokenizer (unicode61) splits text:
    each is one token, so no query is a phrase (the index keeps no positions)."""
    words = re.findall(r"[^\W_]+", q)
    return " ".join(f'"{w}"' for w in words[:32]) or None


def _text(data: dict[str, Any]) -> str:
    """The words of a record (or of a rejected output) that ``q`` searches."""
    parts: list[Any] = [data.get(k) for k in ("instruction", "input", "output", "prompt",
                                              "completion", "raw", "detail")]  # fmt: skip
    for m in data.get("messages") or []:
        if isinstance(m, dict):
            parts.append(m.get("content"))
    return "\n".join(p for p in parts if isinstance(p, str))


def _fields(stage: str, data: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(step, reason, policy, document) of one line."""
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else None
    if meta is None:  # a rejected output: its own flat fields
        source = data.get("source") if isinstance(data.get("source"), dict) else {}
        return None, _str(data.get("reason")), None, _str(source.get("path"))
    policy = meta.get("policy") if isinstance(meta.get("policy"), dict) else {}
    source = meta.get("source") if isinstance(meta.get("source"), dict) else {}
    curation = meta.get("curation") if isinstance(meta.get("curation"), dict) else {}
    removed = curation.get("excluded") if isinstance(curation.get("excluded"), dict) else {}
    return (_str(removed.get("step")), _str(removed.get("reason")), _str(policy.get("id")),
            _str(source.get("path")))  # fmt: skip


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _signature(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (0, -1, 0)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _tail_crc(fh: Any, end: int) -> int:
    start = max(0, end - TAIL)
    fh.seek(start)
    return zlib.crc32(fh.read(end - start))


class RecordIndex:
    """The index of one run folder, kept in ``path``."""

    def __init__(self, run_dir: Path, path: Path) -> None:
        self.run_dir = run_dir
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _script(conn, _SCHEMA)
        return conn

    def _current(self) -> dict[int, tuple[int, int, int]]:
        return {n: _signature(self.run_dir / f) for n, f in STAGES.values()}

    @staticmethod
    def _stored(conn: sqlite3.Connection) -> dict[int, tuple[int, ...]]:
        rows = conn.execute("SELECT stage, ino, size, mtime_ns, indexed_end, tail_crc FROM files")
        return {r[0]: tuple(r[1:]) for r in rows}

    @contextlib.contextmanager
    def open(self, *, rebuild: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection to an index that matches the run's files (refreshed first; built
        again from scratch with ``rebuild``, after a read found a line changed in place)."""
        conn = self._connect()
        try:
            self._refresh(conn, rebuild)
            yield conn
        finally:
            conn.close()

    def refresh(self) -> None:
        with self.open():
            pass

    def _fresh(self, conn: sqlite3.Connection, current: dict[int, tuple[int, int, int]]) -> bool:
        stored = self._stored(conn)
        return all(stored.get(n, (None,))[:3] == sig for n, sig in current.items())

    def _refresh(self, conn: sqlite3.Connection, rebuild: bool) -> None:
        if not rebuild and self._fresh(conn, self._current()):
            return
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; the others wait, then find it done
            current = self._current()
            if not rebuild and self._fresh(conn, current):
                return
            stored = self._stored(conn)
            plan = {n: self._start(n, sig, stored.get(n)) for n, sig in current.items()}
            rebuild = rebuild or any(start is None for start in plan.values())
            conn.execute("BEGIN IMMEDIATE")
            try:
                if rebuild:  # indexes are made after the rows: faster than row by row
                    _script(conn, "DROP TABLE recs; DROP TABLE fts; DELETE FROM files")
                    _script(conn, _SCHEMA)
                    plan = dict.fromkeys(current, 0)
                for n, start in plan.items():
                    self._index_file(conn, n, start, current[n])
                _script(conn, _INDEXES)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if rebuild:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _start(
        self, n: int, sig: tuple[int, int, int], stored: tuple[int, ...] | None
    ) -> int | None:
        """Where to index file ``n`` from: its indexed end when it only grew, None to rebuild."""
        if stored is None:
            return 0 if sig[1] == -1 else None
        ino, size, mtime_ns, end, tail = stored
        if (ino, size, mtime_ns) == sig:
            return end
        if size == -1 or sig[1] == -1 or ino != sig[0] or sig[1] < end:
            return None if (size, sig[1]) != (-1, -1) else 0
        path = self.run_dir / STAGES[_NAME[n]][1]
        try:
            with path.open("rb") as fh:
                return end if _tail_crc(fh, end) == tail else None
        except OSError:
            return None

    def _index_file(self, conn: sqlite3.Connection, n: int, start: int,
                    sig: tuple[int, int, int]) -> None:  # fmt: skip
        stage = _NAME[n]
        path = self.run_dir / STAGES[stage][1]
        old = conn.execute("SELECT lines, skipped FROM files WHERE stage = ?", (n,)).fetchone()
        lines, skipped = old if old and start else (0, 0)
        end = start
        if sig[1] > 0:
            with path.open("rb") as fh:
                fh.seek(start)
                recs, texts = [], []
                for raw in fh:
                    if not raw.endswith(b"\n"):
                        break  # a line still being written: indexed when it is complete
                    off, end = end, end + len(raw)
                    line = raw.rstrip(b"\r\n")
                    rid = (n << SHIFT) | lines
                    lines += 1
                    try:
                        data = json.loads(line)
                    except ValueError:
                        data = None
                    if not isinstance(data, dict):
                        skipped += 1
                        continue
                    recs.append((rid, *_fields(stage, data), off, len(line), zlib.crc32(line)))
                    texts.append((rid, _text(data)))
                    if len(recs) >= _BATCH:
                        _insert(conn, recs, texts)
                        recs, texts = [], []
                _insert(conn, recs, texts)
                tail = _tail_crc(fh, end)
        else:
            tail = zlib.crc32(b"")
        conn.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (n, *sig, end, lines, skipped, tail))  # fmt: skip

    def page(self, conn: sqlite3.Connection, *, stage: str | None, filters: dict[str, str],
             q: str | None, after: int, limit: int) -> list[Row]:  # fmt: skip
        """Up to ``limit`` rows after id ``after`` that match, in id order."""
        where, args = ["r.id > ?"], [after]
        if stage is not None:
            n = STAGES[stage][0]
            where.append("r.id < ?")
            args[0] = max(after, (n << SHIFT) - 1)
            args.append((n + 1) << SHIFT)
        for name in FILTERS:
            if filters.get(name) is not None:
                where.append(f"r.{name} = ?")
                args.append(filters[name])
        cols = "r.id, r.step, r.reason, r.policy, r.document, r.off, r.len, r.crc"
        if q is not None:
            sql = (f"SELECT {cols} FROM fts JOIN recs r ON r.id = fts.rowid "
                   f"WHERE fts MATCH ? AND fts.rowid > ? AND {' AND '.join(where)} "
                   "ORDER BY fts.rowid LIMIT ?")  # fmt: skip
            args = [q, args[0], *args, limit]
        else:
            sql = f"SELECT {cols} FROM recs r WHERE {' AND '.join(where)} ORDER BY r.id LIMIT ?"
            args.append(limit)
        return [Row(r[0], _NAME[r[0] >> SHIFT], *r[1:]) for r in conn.execute(sql, args)]

    def read(self, rows: list[Row]) -> list[bytes]:
        """The lines of ``rows``, each checked against its CRC (StaleIndex if one changed)."""
        out: list[bytes] = []
        fds: dict[str, int] = {}
        try:
            for row in rows:
                if row.stage not in fds:
                    try:
                        fds[row.stage] = os.open(self.run_dir / STAGES[row.stage][1], os.O_RDONLY)
                    except FileNotFoundError as exc:
                        raise StaleIndex(row.stage) from exc
                line = os.pread(fds[row.stage], row.len, row.off)
                if len(line) != row.len or zlib.crc32(line) != row.crc:
                    raise StaleIndex(row.stage)
                out.append(line)
        finally:
            for fd in fds.values():
                os.close(fd)
        return out


def run_index(data: Path, project_id: int, rid: int) -> RecordIndex:
    """The index of run ``rid``, kept by the service beside (not in) the run folder."""
    project = data / "projects" / str(project_id)
    return RecordIndex(project / "runs" / str(rid), project / "index" / f"{rid}.sqlite")


def _insert(conn: sqlite3.Connection, recs: list[tuple[Any, ...]],
            texts: list[tuple[int, str]]) -> None:  # fmt: skip
    if recs:
        conn.executemany("INSERT INTO recs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", recs)
        conn.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", texts)


def _script(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script`` inside the caller's transaction (``executescript`` would
    commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
