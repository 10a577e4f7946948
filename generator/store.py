"""The run journal: one SQLite file per run (``RUN/run.sqlite``, WAL mode).

Each component owns its tables and declares them as an ordered list of migrations
(``Journal.migrate(component, [sql, ...])``); applied versions are kept in
``schema_migrations`` so a newer instructforge upgrades an older run in place. Writes are
committed as they happen, so a killed process loses at most the statement in flight.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from generator.errors import ConfigError, DiskFull, JournalDamagedError, from_os_error
from generator.records import Chunk, Document

JOURNAL_NAME = "run.sqlite"

CORE_MIGRATIONS: list[str] = [
    """
    CREATE TABLE documents (
        path TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        type TEXT NOT NULL,
        title TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        n_chunks INTEGER NOT NULL,
        n_tokens INTEGER NOT NULL,
        data TEXT NOT NULL,           -- Document JSON
        ingested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
    );
    CREATE TABLE chunks (
        id TEXT PRIMARY KEY,
        doc_path TEXT NOT NULL REFERENCES documents(path) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        data TEXT NOT NULL            -- Chunk JSON
    );
    CREATE INDEX chunks_doc ON chunks(doc_path, idx);
    CREATE TABLE skipped (
        path TEXT PRIMARY KEY,
        kind TEXT NOT NULL,           -- 'error' (bad file) or 'skipped' (hidden, unknown type)
        reason TEXT NOT NULL
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL           -- JSON
    );
    """,
]


class Journal:
    """A run's SQLite journal. Thread-safe for the simple use we make of it (one lock)."""

    def __init__(self, run_dir: str | Path, *, create: bool = True) -> None:
        self.run_dir = Path(run_dir)
        path = self.run_dir / JOURNAL_NAME
        if not path.exists() and not create:
            raise ConfigError(f"{self.run_dir} is not an instructforge run (no {JOURNAL_NAME})")
        self.path = path
        self._lock = threading.RLock()
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise ConfigError(f"cannot open the run folder {self.run_dir}: it is a file")
        try:  # a run folder that is unwritable or not a database: one clear line
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._check_integrity()
            self.conn.execute("PRAGMA journal_mode=WAL")
            # the first read in WAL mode creates the WAL index: fail here, with the path
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:  # cannot open, locked, read-only, disk full
            if isinstance(full := from_os_error(exc, path), DiskFull):
                raise full from exc  # exit 4: free space and re-run
            raise ConfigError(f"cannot open the run folder {self.run_dir}: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # not a database, malformed
            raise damaged(path, str(exc)) from exc
        except OSError as exc:
            if isinstance(full := from_os_error(exc, path), DiskFull):
                raise full from exc
            why = exc.strerror or str(exc)
            raise ConfigError(f"cannot open the run folder {self.run_dir}: {why}") from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component TEXT NOT NULL, version INTEGER NOT NULL,"
            " PRIMARY KEY (component, version))"
        )
        self.migrate("core", CORE_MIGRATIONS)

    # ------------------------------------------------------------ plumbing

    def _check_integrity(self) -> None:
        """``PRAGMA quick_check`` (b-trees, page headers, free list; about 0.15 s per 200 MB
        once cached): a damaged journal is refused before anything reads or writes it."""
        rows = self.conn.execute("PRAGMA quick_check(5)").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            self.conn.close()
            raise damaged(self.path, "; ".join(str(r[0]) for r in rows))

    def migrate(self, component: str, migrations: Sequence[str]) -> None:
        """Apply the migrations of ``component`` not yet applied, in order, atomically each."""
        with self._lock:
            done = {
                r[0]
                for r in self.conn.execute(
                    "SELECT version FROM schema_migrations WHERE component=?", (component,)
                )
            }
            for version, sql in enumerate(migrations, start=1):
                if version in done:
                    continue
                # executescript commits implicitly; wrap in one explicit transaction.
                mark = f"INSERT INTO schema_migrations VALUES ('{component}', {version});"
                try:
                    self.conn.executescript(f"BEGIN;\n{sql}\n;{mark}\nCOMMIT;")
                except sqlite3.Error:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; rolled back on error, a failed COMMIT (a full disk)
        included: SQLite leaves the transaction open then, and every later ``BEGIN`` of
        this connection would fail."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    with suppress(sqlite3.Error):  # the first error is the one to report
                        self.conn.execute("ROLLBACK")
                raise

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ settings

    def get_setting(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0]["value"]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value, sort_keys=True)),
        )

    # ------------------------------------------------------------ documents and chunks

    def document_sha(self, path: str) -> str | None:
        rows = self.query("SELECT sha256 FROM documents WHERE path=?", (path,))
        return rows[0]["sha256"] if rows else None

    def put_document(self, doc: Document, chunks: Iterable[Chunk]) -> tuple[int, int]:
        """Store a document and its chunks, replacing an older version. Returns
        (number of chunks, tokens)."""
        chunks = list(chunks)
        n_tokens = sum(c.tokens for c in chunks)
        with self.transaction() as conn:
            conn.execute("DELETE FROM documents WHERE path=?", (doc.path,))
            conn.execute("DELETE FROM skipped WHERE path=?", (doc.path,))
            conn.execute(
                "INSERT INTO documents(path, sha256, type, title, size_bytes, n_chunks, n_tokens,"
                " data) VALUES (?,?,?,?,?,?,?,?)",
                (
                    doc.path,
                    doc.sha256,
                    doc.type,
                    doc.title,
                    doc.size_bytes,
                    len(chunks),
                    n_tokens,
                    doc.model_dump_json(),
                ),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO chunks(id, doc_path, idx, tokens, data) VALUES (?,?,?,?,?)",
                [(c.id, c.doc_path, c.index, c.tokens, c.model_dump_json()) for c in chunks],
            )
        return len(chunks), n_tokens

    def put_skipped(self, path: str, kind: str, reason: str) -> None:
        self.execute(
            "INSERT INTO skipped(path, kind, reason) VALUES (?,?,?) "
            "ON CONFLICT(path) DO UPDATE SET kind=excluded.kind, reason=excluded.reason",
            (path, kind, reason),
        )

    def remove_document(self, path: str) -> None:
        self.execute("DELETE FROM documents WHERE path=?", (path,))

    def documents(self) -> Iterator[Document]:
        for row in self.query("SELECT data FROM documents ORDER BY path"):
            yield Document.model_validate_json(row["data"])

    def document(self, path: str) -> Document | None:
        rows = self.query("SELECT data FROM documents WHERE path=?", (path,))
        return Document.model_validate_json(rows[0]["data"]) if rows else None

    def chunks(self, doc_path: str | None = None) -> Iterator[Chunk]:
        """Chunks in a stable order: by document path, then position."""
        if doc_path is None:
            rows = self.query("SELECT data FROM chunks ORDER BY doc_path, idx")
        else:
            rows = self.query("SELECT data FROM chunks WHERE doc_path=? ORDER BY idx", (doc_path,))
        for row in rows:
            yield Chunk.model_validate_json(row["data"])

    def chunk(self, chunk_id: str) -> Chunk | None:
        rows = self.query("SELECT data FROM chunks WHERE id=?", (chunk_id,))
        return Chunk.model_validate_json(rows[0]["data"]) if rows else None

    def skipped(self) -> list[sqlite3.Row]:
        return self.query("SELECT path, kind, reason FROM skipped ORDER BY path")


def damaged(path: Path, detail: str) -> JournalDamagedError:
    """The one message for a journal that cannot be trusted."""
    detail = " ".join(detail.split())[:200]
    return JournalDamagedError(
        f"{path} is damaged ({detail}); nothing was read or written. Restore run.sqlite from "
        "a backup, or start a new run folder (records.jsonl is left as it is)"
    )


def open_run(run_dir: str | Path, *, create: bool = False) -> Journal:
    """Open an existing run (``create=False`` makes a missing run a ConfigError)."""
    return Journal(run_dir, create=create)
