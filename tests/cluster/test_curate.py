"""``curate --cluster``: every file under curation/ byte for byte as from one process, with
the per-record steps mapped over partitions and dedup partitioned on the workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.curate import near_dedup
from tests.curate.corpus import as_rows, corpus

runner = CliRunner()

CONFIG = """
steps: [pii, heuristics, length, harmful, exact_dedup, near_dedup]
pii:
  actions: {EMAIL: pseudonymize, PHONE: redact, CREDIT_CARD: drop}
heuristics: {enabled: true}
harmful: {enabled: true}  # the default classifier: embeddings when installed
exact_dedup: {on_instruction: false}  # leaves the reworded copies to near dedup
"""


def _rows() -> list[dict]:
    rows = as_rows(corpus(400, 120, seed=11))
    rows[3]["output"] += " Write to jane.doe@example.com or call +1 415 555 0100."
    rows[40]["output"] += " My card is 4111 1111 1111 1111."
    rows[90]["output"] = "ok"
    rows[150]["instruction"] = rows[151]["instruction"]  # an exact instruction duplicate
    rows[200]["output"] += " Step one: mix bleach and ammonia in a closed room to make gas."
    return rows


def _files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "curation").iterdir()) if p.is_file()}


def test_curate_on_a_cluster_writes_the_same_files(
    tmp_path: Path, dask_address: str, monkeypatch: pytest.MonkeyPatch
):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(CONFIG)
    run = tmp_path / "run"  # one run folder: PII pseudonyms use the run's own key
    base = ["curate", "--input", str(src), "--config", str(cfg), "--out", str(run)]
    plain = runner.invoke(app, base)
    assert plain.exit_code == 0, plain.output
    a = _files(run)
    # near dedup must not fall back to its single-process form here
    monkeypatch.setattr(near_dedup, "LocalSimilarity", None)
    spread = runner.invoke(app, [*base, "--cluster", dask_address])
    assert spread.exit_code == 0, spread.output
    b = _files(run)
    assert not list(run.glob(".near-dedup-spill-*"))  # the spilled shingles are removed
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    stats = json.loads(a["stats.json"])
    dropped = {s["step"]: sum(s["dropped"].values()) for s in stats["steps"]}
    assert dropped["near_dedup"] > 20 and dropped["pii"] == 1 and dropped["length"] >= 1
    for step in ("pii", "heuristics", "near_dedup"):
        assert f"stage curate:{step}: " in spread.stdout
