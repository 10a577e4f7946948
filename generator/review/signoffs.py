"""Legal sign-offs kept in the run journal: a ``review`` verdict of POLICY accepted for USE.

The service's ``POST /runs/{rid}/signoffs`` writes them; an export job of the run for that
use passes each as ``--accept-review POLICY`` (the gate's own acceptance), and the export's
legal pack lists who signed off, when, and their note (README "Service").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from generator.errors import InstructforgeError
from generator.records import utcnow
from generator.store import JOURNAL_NAME, Journal

SIGNOFF_MIGRATIONS = [
    """
    CREATE TABLE signoffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        policy TEXT NOT NULL,
        use TEXT NOT NULL,
        note TEXT NOT NULL,
        signed_by TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """
]


def _migrate(journal: Journal) -> None:
    journal.migrate("signoffs", SIGNOFF_MIGRATIONS)


def add(journal: Journal, *, policy: str, use: str, note: str, signed_by: str) -> dict[str, Any]:
    """Record one sign-off; returns it as stored."""
    _migrate(journal)
    at = utcnow()
    cur = journal.execute(
        "INSERT INTO signoffs(policy, use, note, signed_by, at) VALUES (?,?,?,?,?)",
        (policy, use, note, signed_by, at),
    )
    return dict(journal.query("SELECT * FROM signoffs WHERE id=?", (cur.lastrowid,))[0])


def for_use(run: Path, use: str) -> list[dict[str, Any]]:
    """The sign-offs of ``run`` that hold for an export with ``use``, oldest first. Read
    only; a journal that cannot be read gives none (the gate then refuses, failing closed)."""
    if not (run / JOURNAL_NAME).is_file():
        return []
    try:
        journal = Journal(run, create=False)
    except InstructforgeError:
        return []
    try:
        if not journal.query("SELECT 1 FROM sqlite_master WHERE name='signoffs'"):
            return []
        rows = journal.query("SELECT * FROM signoffs WHERE use=? ORDER BY id", (use,))
        return [dict(r) for r in rows]
    except sqlite3.Error:
        return []
    finally:
        journal.close()


def recorded(run: Path, use: str, accepted: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """For an export's legal pack: the sign-offs of ``run`` for ``use`` per accepted policy
    or label (``{id: [{by, at, note}]}``)."""
    keys = set(accepted)
    out: dict[str, list[dict[str, str]]] = {}
    for r in for_use(run, use):
        key = r["policy"].removeprefix("source:")
        if key in keys:
            out.setdefault(key, []).append({"by": r["signed_by"], "at": r["at"], "note": r["note"]})
    return out
