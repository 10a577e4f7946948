"""``ingest --cluster``: the journal is the same as the single-process run's, written by the
coordinator in scan order; a bad file is still one error line."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import SAMPLES
from tests.ingest.conftest import PARAGRAPH, pdf_bytes

runner = CliRunner()


def _dump(run: Path) -> list[tuple]:
    """Documents, chunks and skipped files as stored (ids, text, order of insertion)."""
    with sqlite3.connect(run / "run.sqlite") as conn:
        rows = []
        for table, cols in (
            ("documents", "rowid, path, sha256, type, title, size_bytes, n_chunks, n_tokens, data"),
            ("chunks", "rowid, id, doc_path, idx, tokens, data"),
            ("skipped", "path, kind, reason"),
        ):
            rows += [(table, *r) for r in conn.execute(f"SELECT {cols} FROM {table} ORDER BY 1")]
        return rows


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLES, docs)
    (docs / "extra").mkdir()
    for i in range(6):
        (docs / "extra" / f"manual-{i}.pdf").write_bytes(pdf_bytes([PARAGRAPH * (i + 1)] * 3))
    (docs / "extra" / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really a pdf")
    return docs


def test_ingest_on_a_cluster_writes_the_same_journal(tmp_path: Path, dask_address: str):
    docs = _docs(tmp_path)
    one, many = tmp_path / "one", tmp_path / "many"
    plain = runner.invoke(app, ["ingest", str(docs), "--out", str(one)])
    assert plain.exit_code == 0, plain.output
    spread = runner.invoke(
        app, ["ingest", str(docs), "--out", str(many), "--cluster", dask_address]
    )
    assert spread.exit_code == 0, spread.output
    assert _dump(many) == _dump(one)
    assert len([r for r in _dump(one) if r[0] == "documents"]) == 11
    assert "error   extra/broken.pdf" in spread.stdout
    assert f"cluster {dask_address} stage ingest: 12 items" in spread.stdout
    assert "peak worker memory" in spread.stdout
    # a re-run on the cluster finds every file unchanged and parses none
    again = runner.invoke(app, ["ingest", str(docs), "--out", str(many), "--cluster", dask_address])
    assert again.exit_code == 0, again.output
    assert "stage ingest: 1 items" in again.stdout  # only the bad file is read again
    assert _dump(many) == _dump(one)


def test_a_bad_cluster_value_is_a_usage_error(tmp_path: Path):
    result = runner.invoke(
        app, ["ingest", str(SAMPLES), "--out", str(tmp_path / "r"), "--cluster", "local:x"]
    )
    assert result.exit_code == 2
    assert "--cluster must be local:N or tcp://HOST:PORT" in result.output
    assert not (tmp_path / "r").exists()


def test_a_task_that_kills_its_worker_is_reported_and_the_rest_go_on(dask_address: str):
    """What a PDF that crashes its parser gets: Dask tries it on other workers (each dies
    and is restarted), then ``on_lost`` answers for it; the items around it still come
    back, in order."""
    import operator
    import os

    from distributed import Client

    from generator.cluster.mapping import ordered_map

    items = [(abs, -1), (os._exit, 1), (abs, -3)]
    with Client(dask_address, timeout="10s") as client:
        got = list(
            ordered_map(
                client,
                operator.call,
                items,
                window=3,
                args=lambda item: item,
                on_lost=lambda item, exc: f"lost {type(exc).__name__}",
            )
        )
        client.wait_for_workers(2, timeout=120)  # the nannies restart them
    assert got == [1, "lost KilledWorker", 3]
