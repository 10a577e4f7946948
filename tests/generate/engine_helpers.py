"""Shared helpers of the engine tests: a small document folder and journal readers."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Any

TOPICS = ("leave", "expenses", "security", "onboarding", "travel", "laptops")
_WORDS = [
    "policy",
    "employee",
    "manager",
    "request",
    "approve",
    "submit",
    "form",
    "days",
    "annual",
    "sick",
    "holiday",
    "travel",
    "receipt",
    "claim",
    "reimburse",
    "limit",
    "laptop",
    "password",
    "rotate",
    "account",
    "access",
    "badge",
    "office",
    "remote",
    "vpn",
    "backup",
    "restore",
    "incident",
    "report",
    "contract",
    "vendor",
    "invoice",
    "budget",
    "training",
]


def make_docs(root: Path, topics: tuple[str, ...] = TOPICS, sections: int = 2) -> Path:
    """A folder of markdown handbooks (deterministic text), one file per topic."""
    rng = random.Random(7)
    root.mkdir(parents=True, exist_ok=True)
    for topic in topics:
        lines = [f"# {topic.title()} policy", ""]
        for s in range(sections):
            lines += [f"## {topic.title()} rule {s + 1}", ""]
            for _ in range(3):
                sents = [
                    " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 15))).capitalize()
                    + "."
                    for _ in range(4)
                ]
                lines += [" ".join(sents), ""]
        (root / f"{topic}.md").write_text("\n".join(lines), encoding="utf-8")
    return root


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def record_set(run: Path) -> set[str]:
    """Records without their timestamps, as canonical JSON strings (for set comparison)."""
    out = set()
    for rec in read_jsonl(run / "records.jsonl"):
        rec["meta"].pop("created_at")
        out.add(json.dumps(rec, sort_keys=True))
    return out


def query(run: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(run / "run.sqlite")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def units_done(run: Path) -> int:
    """Units committed so far, read while another process writes the journal (read-only;
    0 while the journal is still being created)."""
    try:
        conn = sqlite3.connect(f"file:{run / 'run.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM gen_units").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def ok_calls(run: Path) -> list[tuple[str, int]]:
    """(request hash, session) of every successful provider call."""
    return query(run, "SELECT request_hash, session FROM gen_calls WHERE status='ok'")


def gen(docs: Path, run: Path, *args: str, model: str = "mock/echo") -> Any:
    """``instructforge generate DOCS --out RUN --model MODEL ...`` through the CLI runner."""
    from typer.testing import CliRunner

    from generator.cli import app

    return CliRunner().invoke(
        app, ["generate", str(docs), "--out", str(run), "--model", model, *args]
    )
