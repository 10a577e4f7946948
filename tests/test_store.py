"""The journal: migrations apply once per component, documents round-trip."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from generator.errors import ConfigError, JournalDamagedError
from generator.records import Chunk, Document
from generator.store import Journal, open_run


def _doc(path: str = "a.md") -> Document:
    return Document(path=path, sha256="ab" * 32, type="md", title="A", text="# A\nhello")


def _chunk(i: int, path: str = "a.md") -> Chunk:
    return Chunk(
        id=f"c{i}",
        doc_path=path,
        doc_sha256="ab" * 32,
        index=i,
        text="hello",
        span=(0, 5),
        tokens=1,
    )


def test_migrations_apply_once_and_in_order(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.migrate("demo", ["CREATE TABLE t1 (x INTEGER)", "ALTER TABLE t1 ADD COLUMN y TEXT"])
    j.migrate("demo", ["CREATE TABLE t1 (x INTEGER)", "ALTER TABLE t1 ADD COLUMN y TEXT"])
    j.execute("INSERT INTO t1(x, y) VALUES (1, 'a')")
    versions = [tuple(r) for r in j.query("SELECT * FROM schema_migrations ORDER BY 1, 2")]
    assert versions == [("core", 1), ("demo", 1), ("demo", 2)]
    j.close()
    # A newer release adds a migration: only the new one runs.
    j2 = Journal(tmp_path)
    j2.migrate(
        "demo",
        [
            "CREATE TABLE t1 (x INTEGER)",
            "ALTER TABLE t1 ADD COLUMN y TEXT",
            "CREATE TABLE t2 (z INTEGER)",
        ],
    )
    assert [r[0] for r in j2.query("SELECT x FROM t1")] == [1]
    assert j2.query("SELECT count(*) FROM t2")[0][0] == 0


def test_failed_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - sqlite's error type is not ours to pin
        j.migrate("bad", ["CREATE TABLE ok_table (x INTEGER); CREATE TABLE broken ("])
    names = {r[0] for r in j.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "ok_table" not in names
    assert not j.query("SELECT * FROM schema_migrations WHERE component='bad'")


def test_documents_and_chunks_round_trip_and_replace(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.put_document(_doc(), [_chunk(1), _chunk(0)])
    assert [c.index for c in j.chunks()] == [0, 1]
    assert j.document("a.md") == _doc()
    j.put_document(_doc(), [_chunk(0)])  # re-ingest replaces the old chunks
    assert [c.id for c in j.chunks()] == ["c0"]
    j.set_setting("model", {"name": "mock/x"})
    assert j.get_setting("model") == {"name": "mock/x"}


def test_open_run_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an instructforge run"):
        open_run(tmp_path / "nothing")


def test_a_journal_of_random_bytes_is_named_damaged(tmp_path: Path) -> None:
    (tmp_path / "run.sqlite").write_bytes(os.urandom(64 * 1024))
    with pytest.raises(JournalDamagedError, match=r"run\.sqlite is damaged \(file is not a"):
        Journal(tmp_path)


def test_a_journal_with_pages_overwritten_mid_file_is_named_damaged(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    with j.transaction() as conn:
        conn.execute("CREATE TABLE filler (x TEXT)")
        conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 900,) for _ in range(400)])
    j.close()  # checkpointed: everything is in run.sqlite
    db = tmp_path / "run.sqlite"
    size = db.stat().st_size
    with db.open("r+b") as fh:
        fh.seek((size // 2) // 4096 * 4096)
        fh.write(os.urandom(2 * 4096))
    with pytest.raises(JournalDamagedError, match="damaged") as err:
        Journal(tmp_path)
    assert "\n" not in str(err.value)


def test_a_commit_that_fails_is_rolled_back_not_left_open(tmp_path: Path) -> None:
    """A COMMIT can fail (a full disk; here a deferred foreign key, which SQLite checks only
    at COMMIT): the transaction must be rolled back, not left open on the connection, where
    the next ``BEGIN`` would fail and later writes would never be committed."""
    j = Journal(tmp_path / "run")
    j.conn.execute("PRAGMA foreign_keys=ON")
    j.conn.executescript(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
    )
    with pytest.raises(sqlite3.IntegrityError), j.transaction() as conn:
        conn.execute("INSERT INTO child VALUES (42)")  # no parent 42: COMMIT fails
    assert not j.conn.in_transaction
    assert j.query("SELECT COUNT(*) FROM child")[0][0] == 0
    with j.transaction() as conn:  # the next unit of work starts and commits normally
        conn.execute("INSERT INTO parent VALUES (1)")
    assert j.query("SELECT COUNT(*) FROM parent")[0][0] == 1
    j.close()
