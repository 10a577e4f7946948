"""Held out by document: which documents training records were made from, and whether an
evaluation item draws on any of them.

Training documents are read from what the run journaled (``gen_records``: every record
generation accepted, whatever curation did to it later) and from the records files a run
exports training data from (``records.jsonl``, ``curation/*.jsonl``: records brought in with
``curate --input`` are not in the journal). A run that cannot be read is an error, never an
empty set: an unchecked eval set must not pass as held out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from generator.errors import ConfigError

TRAINING_FORMATS = ("alpaca", "chat", "completion")
_FILES = (
    "records.jsonl",
    "curation/curated.jsonl",
    "curation/train.jsonl",
    "curation/validation.jsonl",
    "curation/review.jsonl",
)


class HeldOutUnchecked(ConfigError):
    """The training documents of a run could not be read: the eval set is not checked."""


def _source_docs(meta: object) -> set[str]:
    if not isinstance(meta, dict) or meta.get("format") not in TRAINING_FORMATS:
        return set()
    docs = set()
    src = meta.get("source")
    if isinstance(src, dict) and isinstance(src.get("doc_sha256"), str):
        docs.add(src["doc_sha256"])
    for extra in meta.get("sources") or []:  # several chunks (multi-chunk conversations)
        if isinstance(extra, dict) and isinstance(extra.get("doc_sha256"), str):
            docs.add(extra["doc_sha256"])
    return docs


def training_documents(runs: Iterable[Path]) -> dict[str, str]:
    """doc sha256 -> the run folder whose training records use it."""
    used: dict[str, str] = {}
    for run in runs:
        run = Path(run)
        if not run.is_dir():
            raise HeldOutUnchecked(f"held-out check: training run {run} not found")
        db = run / "run.sqlite"
        if db.is_file():
            try:
                conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                    rows = (
                        conn.execute("SELECT data FROM gen_records")
                        if "gen_records" in tables
                        else []
                    )
                    for (data,) in rows:
                        for doc in _source_docs(json.loads(data).get("meta")):
                            used.setdefault(doc, str(run))
                finally:
                    conn.close()
            except (sqlite3.Error, ValueError) as exc:
                raise HeldOutUnchecked(f"held-out check: {db}: {exc}") from exc
        for name in _FILES:
            path = run / name
            if not path.is_file():
                continue
            try:
                with path.open(encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            for doc in _source_docs(json.loads(line).get("meta")):
                                used.setdefault(doc, str(run))
            except (OSError, ValueError, AttributeError) as exc:
                raise HeldOutUnchecked(f"held-out check: {path}: {exc}") from exc
    return used
