"""OS and SQLite failures are mapped to our tree in one place (``from_os_error``)."""

from __future__ import annotations

import errno
import os
import sqlite3

import pytest

from generator.errors import (
    ConfigError,
    DiskFull,
    GuardStop,
    Interrupted,
    NotWritable,
    Terminated,
    from_os_error,
)


def _os(code: int, filename: str | None = None) -> OSError:
    return OSError(code, os.strerror(code), *([filename] if filename else []))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_a_full_disk_is_a_resumable_stop_naming_the_file(code: int) -> None:
    err = from_os_error(_os(code), "/data/run/records.jsonl")
    assert isinstance(err, DiskFull) and isinstance(err, GuardStop) and err.exit_code == 4
    assert "/data/run/records.jsonl" in str(err) and "resume" in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EROFS, "Read-only file system"),
        (errno.EACCES, "Permission denied"),
        (errno.ENOTDIR, "is a file, not a folder"),
        (errno.EEXIST, "not a folder"),
    ],
)
def test_an_unwritable_target_is_a_usage_error_naming_the_path(code: int, words: str) -> None:
    err = from_os_error(_os(code, "/mnt/out/train.jsonl"))
    assert isinstance(err, NotWritable) and isinstance(err, ConfigError) and err.exit_code == 2
    assert "/mnt/out/train.jsonl" in str(err) and words in str(err)


def test_sqlite_full_and_its_wal_index_that_cannot_grow_are_a_full_disk() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    assert isinstance(from_os_error(full), DiskFull)
    shm = sqlite3.OperationalError("disk I/O error")
    shm.sqlite_errorcode = 4874  # SQLITE_IOERR_SHMSIZE
    assert isinstance(from_os_error(shm), DiskFull)
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = 8
    assert isinstance(from_os_error(readonly, "/r/run.sqlite"), NotWritable)


def test_what_is_not_ours_to_explain_stays_unmapped() -> None:
    assert from_os_error(_os(errno.EIO)) is None  # a failing disk: keep the traceback
    assert from_os_error(ValueError("bug")) is None
    assert from_os_error(sqlite3.IntegrityError("UNIQUE constraint failed")) is None
    ours = DiskFull("x")
    assert from_os_error(ours) is ours


def test_sigterm_exits_143_as_an_interrupt() -> None:
    assert Terminated("t").exit_code == 143 and isinstance(Terminated("t"), Interrupted)
