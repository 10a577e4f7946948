"""Legal sign-offs kept in the run journal: a ``review`` verdict of POLICY accepted for USE.

The service's ``POST /runs/{rid}/signoffs`` writes them; an export job of the run for that
use passes each as ``--accept-review POLICY`` (the gate's own acceptance), naming the signers
as the ones who accepted (README "Service").
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

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
    journal.execute(
        "INSERT INTO signoffs(policy, use, note, signed_by, at) VALUES (?,?,?,?,?)",
        (policy, use, note, signed_by, at),
    )
    row = journal.query("SELECT * FROM signoffs ORDER BY id DESC LIMIT 1")[0]
    return dict(row)


def for_use(journal: Journal, use: str) -> list[dict[str, Any]]:
    """The sign-offs that hold for an export with ``use``, oldest first."""
    _migrate(journal)
    return [
        dict(r) for r in journal.query("SELECT * FROM signoffs WHERE use=? ORDER BY id", (use,))
    ]


def recorded(run: Path, use: str, accepted: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """For an export's legal pack: the sign-offs of ``run`` for ``use`` per accepted policy
    or label (``{id: [{by, at, note}]}``). Read only: a run never signed off stays untouched."""
    if not (run / JOURNAL_NAME).is_file():
        return {}
    journal = Journal(run, create=False)
    try:
        if not journal.query("SELECT 1 FROM sqlite_master WHERE name='signoffs'"):
            return {}
        rows = journal.query("SELECT * FROM signoffs WHERE use=? ORDER BY id", (use,))
    finally:
        journal.close()
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        key = r["policy"].removeprefix("source:")
        if key in set(accepted):
            out.setdefault(key, []).append({"by": r["signed_by"], "at": r["at"], "note": r["note"]})
    return out
