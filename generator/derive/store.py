"""The ``kind_records`` table: every answer and evaluation item a derive stage made, as the
run journaled it (its model, API base, policy tag, prompt, source), for the licence gate.

Generation's ``gen_records`` is kept for training records only: ``heal`` rebuilds
``records.jsonl`` from it, and a side answer of a preference pair or an evaluation item
must never become a training record.
"""

from __future__ import annotations

import contextlib
import hashlib
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
    """,
    # 2: the judge model whose ranking made each judge-ranked pair (its label is model
    # output used for training: its terms bind the pair), keyed by the pair's two sides
    """
    CREATE TABLE pair_judges (
        pair_id TEXT PRIMARY KEY,
        chosen TEXT NOT NULL,    -- kind_records id of the chosen answer
        rejected TEXT NOT NULL,  -- kind_records id of the rejected answer
        data TEXT NOT NULL       -- the judge's meta (model, API base, policy tag, rubric)
    );
    CREATE INDEX pair_judges_sides ON pair_judges(chosen, rejected);
    """,
    # 3: the sha256 of each pair's chosen and rejected text as the stage wrote it (after its
    # curation steps): which text is preferred is the run's fact, not the pair file's
    """
    CREATE TABLE pair_texts (
        pair_id TEXT PRIMARY KEY,
        chosen TEXT NOT NULL,    -- sha256 of the chosen answer's text
        rejected TEXT NOT NULL,  -- sha256 of the rejected answer's text
        prompt TEXT NOT NULL     -- sha256 of the prompt turns (prompt_sha256)
    );
    """,
]


def texts_row(conn: sqlite3.Connection, pair_id: str) -> tuple[str, str, str] | None:
    """(chosen, rejected, prompt) sha256 the run journaled for a pair (None: none)."""
    try:
        row = conn.execute(
            "SELECT chosen, rejected, prompt FROM pair_texts WHERE pair_id=?", (pair_id,)
        ).fetchone()
    except sqlite3.Error:
        return None
    return (row[0], row[1], row[2]) if row else None


def prompt_sha256(turns: list[dict[str, Any]]) -> str:
    """sha256 of a pair's prompt: its turns' roles and contents, in order."""
    plain = [[t.get("role"), t.get("content")] for t in turns]
    return sha256_text(json.dumps(plain, ensure_ascii=False))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def kind_row(conn: sqlite3.Connection, rid: str, table: str = "kind_records") -> tuple[str] | None:
    """The journaled line of ``rid`` in ``table`` (None: no such table or row)."""
    if table not in ("kind_records", "gen_records"):
        raise ValueError(table)
    try:
        return conn.execute(f"SELECT data FROM {table} WHERE id=?", (rid,)).fetchone()
    except sqlite3.Error:
        return None


def judge_row(conn: sqlite3.Connection, chosen: str, rejected: str) -> dict[str, Any] | None:
    """The journaled meta of the judge that ranked ``chosen`` over ``rejected`` (None: the
    run journaled no such ranking, or no judge table)."""
    try:
        row = conn.execute(
            "SELECT data FROM pair_judges WHERE chosen=? AND rejected=?", (chosen, rejected)
        ).fetchone()
        data = json.loads(row[0]) if row else None
    except (sqlite3.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kind_of(conn: sqlite3.Connection, rid: str) -> str | None:
    """The derive stage's kind of a journaled answer (``pair-answer``...), or None."""
    try:
        row = conn.execute("SELECT kind FROM kind_records WHERE id=?", (rid,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


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

    def put_judge(self, pair_id: str, chosen: str, rejected: str, meta: dict[str, Any]) -> None:
        """Journal the judge whose ranking made ``pair_id`` (the latest ranking wins)."""
        self.journal.execute(
            "INSERT OR REPLACE INTO pair_judges(pair_id, chosen, rejected, data) VALUES (?,?,?,?)",
            (pair_id, chosen, rejected, json.dumps(meta, ensure_ascii=False)),
        )

    def put_texts(self, pair: dict[str, Any]) -> None:
        """Journal the sha256 of a pair's chosen and rejected texts and of its prompt as the
        stage wrote it (after curation): the gate checks the pair file against them."""
        self.journal.execute(
            "INSERT OR REPLACE INTO pair_texts(pair_id, chosen, rejected, prompt) VALUES (?,?,?,?)",
            (
                pair["meta"]["id"],
                sha256_text(pair["chosen"]),
                sha256_text(pair["rejected"]),
                prompt_sha256(pair["prompt"]),
            ),
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
    out: Path,
    records: list[dict],
    findings: list[dict],
    report: dict,
    rejected: list[dict],
    excluded: list[dict] | None = None,
) -> None:
    """``records.jsonl``, ``review.jsonl`` (findings: held, never passed), ``rejected.jsonl``
    (with reasons), ``excluded.jsonl`` (records curation removed, with step and reason)
    and ``report.json``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "records.jsonl", _jsonl(records))
    atomic_write_text(out / "excluded.jsonl", _jsonl(excluded or []))
    atomic_write_text(out / "review.jsonl", _jsonl(findings))
    atomic_write_text(out / "rejected.jsonl", _jsonl(rejected))
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def stage_reports(run: Path) -> dict[str, dict[str, Any] | str]:
    """The reports of the derive stages a run has (``pairs``, ``eval``: their
    ``report.json``), for ``runs show``; an unreadable report is a line saying so."""
    out: dict[str, dict[str, Any] | str] = {}
    for stage in ("pairs", "eval"):
        path = run / stage / "report.json"
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("counts"), dict):
                raise ValueError("not a stage report")
            out[stage] = data
        except (OSError, ValueError) as exc:
            out[stage] = f"unreadable {stage}/report.json ({exc})"
    return out


def report_line(stage: str, report: dict[str, Any] | str) -> str:
    """One line of ``runs show`` for a derive stage's report."""
    if isinstance(report, str):
        return report
    c, usd = report["counts"], (report.get("spent") or {}).get("cost_usd") or 0.0
    if stage == "pairs":
        judge = f", judge {report['judge']}" if report.get("judge") else ""
        return (
            f"{c.get('pairs', 0)} ({report.get('method', '?')}{judge}); "
            f"{c.get('findings', 0)} held for review; ${usd:.4f}"
        )
    one, two = c.get("accepted_1hop", 0), c.get("accepted_2hop", 0)
    rejected = sum(n for k, n in c.items() if k.startswith("rejected:"))
    docs = len(report.get("held_out_documents") or [])
    return (
        f"{one + two} ({one} single-hop, {two} two-hop) from {docs} held-out documents; "
        f"{report.get('findings', 0)} held for review, {rejected} rejected; ${usd:.4f}"
    )
