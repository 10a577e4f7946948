"""The record index alone: any text a user types as ``q`` is a valid full-text query (no
FTS5 syntax, no phrase the index cannot answer), and ids stay stable as a file grows."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.service.records_index import SHIFT, RecordIndex, fts_query


def _index(tmp: Path) -> RecordIndex:
    run = tmp / "run"
    run.mkdir(exist_ok=True)
    line = {"instruction": "check_failed: e\u0301t\u00e9 leave?", "output": "x",
            "meta": {"id": "a", "policy": {"id": "p"}, "source": {"path": "d.md"}}}  # fmt: skip
    (run / "records.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    return RecordIndex(run, tmp / "ix.sqlite")


def test_any_text_is_a_query(tmp_path: Path) -> None:
    index = _index(tmp_path)

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.text(max_size=40))
    def one(q: str) -> None:
        match = fts_query(q)
        if match is not None:
            with index.open() as conn:
                index.page(conn, stage=None, filters={}, q=match, after=0, limit=5)

    one()
    with index.open() as conn:
        [row] = index.page(conn, stage=None, filters={}, q=fts_query("CHECK_failed"), after=0,
                           limit=5)  # fmt: skip
    assert row.id == 1 << SHIFT and row.policy == "p" and row.document == "d.md"
