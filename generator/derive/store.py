"""The ``kind_records`` table: every answer and evaluation item a derive stage made, as the
run journaled it (its model, API base, policy tag, prompt, source), for the licence gate.

Generation's ``gen_records`` is kept for training records only: ``heal`` rebuilds
``records.jsonl`` from it, and a side answer of a preference pair or an evaluation item
must never become a training record.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from generator.atomic import atomic_write_text
from generator.policies import resolve_policy
from generator.providers.keys import provider_prefix
from generator.records import Ref, record_id, utcnow
from generator.redact import scrub_url_credentials
from generator.store import Journal

KIND_MIGRATIONS = [
    """
    CREATE TABLE kind_records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,      -- pair-answer | pair-flawed | eval
        data TEXT NOT NULL       -- the record (or answer) line with its meta, JSON
    );
    """
]


def kind_row(conn: sqlite3.Connection, rid: str, table: str = "kind_records") -> tuple[str] | None:
    """The journaled line of ``rid`` in ``table`` (None: no such table or row)."""
    if table not in ("kind_records", "gen_records"):
        raise ValueError(table)
    try:
        return conn.execute(f"SELECT data FROM {table} WHERE id=?", (rid,)).fetchone()
    except sqlite3.Error:
        return None


class KindStore:
    """Writes and reads ``kind_records`` of one run journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        journal.migrate("kinds", KIND_MIGRATIONS)

    def put(self, kind: str, data: dict[str, Any]) -> None:
        self.journal.execute(
            "INSERT OR IGNORE INTO kind_records(id, kind, data) VALUES (?,?,?)",
            (data["meta"]["id"], kind, json.dumps(data, ensure_ascii=False)),
        )

    def get(self, rid: str) -> dict[str, Any] | None:
        rows = self.journal.query("SELECT data FROM kind_records WHERE id=?", (rid,))
        return json.loads(rows[0]["data"]) if rows else None


def made_by(model: str, api_base: str | None, prompt: Ref, fmt: str, *parts: str) -> dict[str, Any]:
    """The provenance part of a meta for something ``model`` wrote now: a stable id from
    ``parts``, the provider, the policy tag its model resolves to, the prompt template."""
    policy = resolve_policy(model, api_base).ref()
    meta: dict[str, Any] = {
        "id": record_id(fmt, model, *parts),
        "format": fmt,
        "provider": provider_prefix(model),
        "model": model,
        "policy": policy.model_dump(),
        "prompt": prompt.model_dump(),
        "created_at": utcnow(),
    }
    # always present (None: the provider's own host), as generation writes it: the gate
    # holds a journaled record whose API base was never recorded
    meta["api_base"] = scrub_url_credentials(api_base) if api_base else None
    return meta


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def source_infos(run: Path, journal: Journal) -> dict[str, dict[str, Any]]:
    """The source labels of every document of the run (path -> ``meta.source_info``), as
    generation records them: from the document folder's ``sources.yaml`` (the folder named
    in ``config.json``) and each document's own metadata."""
    from generator.generate.setup import _source_infos

    docs = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        docs = json.loads((run / "config.json").read_text(encoding="utf-8")).get("docs")
    return _source_infos(Path(docs) if docs else run / "no-documents-folder", journal)


def write_outputs(
    out: Path, records: list[dict], findings: list[dict], report: dict, rejected: list[dict]
) -> None:
    """``records.jsonl``, ``review.jsonl`` (findings: held, never passed), ``rejected.jsonl``
    (with reasons) and ``report.json``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "records.jsonl", _jsonl(records))
    atomic_write_text(out / "review.jsonl", _jsonl(findings))
    atomic_write_text(out / "rejected.jsonl", _jsonl(rejected))
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
