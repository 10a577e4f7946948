"""Re-runs keep what was ingested: `generate` (or `ingest` again) on a run uses the settings
the run was ingested with; differing flags are refused unless --reingest asks for them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.errors import ConfigError
from generator.ingest.settings import IngestSettings, resolve, stored_values
from tests.generate.engine_helpers import gen, make_docs
from tests.ingest.conftest import PARAGRAPH, write

runner = CliRunner()
INGEST_FLAGS = ["--max-tokens", "120", "--overlap", "20", "--max-file-mb", "0.004"]


def _snapshot(run: Path) -> tuple[list[tuple], list[tuple]]:
    """Documents (path, sha, chunks, ingest time) and chunks (id, doc, index, tokens)."""
    conn = sqlite3.connect(run / "run.sqlite")
    try:
        docs = conn.execute(
            "SELECT path, sha256, n_chunks, ingested_at FROM documents ORDER BY path"
        ).fetchall()
        chunks = conn.execute(
            "SELECT id, doc_path, idx, tokens FROM chunks ORDER BY doc_path, idx"
        ).fetchall()
    finally:
        conn.close()
    return docs, chunks


@pytest.fixture
def ingested(tmp_path: Path) -> tuple[Path, Path]:
    docs = make_docs(tmp_path / "docs", ("leave", "travel"), sections=3)
    write(docs / "big.md", "# Big\n\n" + (PARAGRAPH + "\n\n") * 25)  # 5 kB: above the limit
    run = tmp_path / "run"
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(run), *INGEST_FLAGS])
    assert result.exit_code == 0, result.output
    assert "error   big.md: too large" in result.stdout
    return docs, run


def test_generate_keeps_the_ingest_settings_of_the_run(ingested: tuple[Path, Path]):
    # Seen: generate re-ingested with its own defaults (50 MB limit, the model's tokenizer):
    # big.md came in, and every document was chunked again with o200k for a gpt-4o model.
    docs, run = ingested
    before = _snapshot(run)
    assert before[1] and max(c[3] for c in before[1]) <= 120
    result = gen(docs, run, "--dry-run", model="mock/gpt-4o-mini")
    assert result.exit_code == 0, result.output
    assert "ingest: 0 new or changed, 2 unchanged" in result.stderr
    assert _snapshot(run) == before  # same documents, same chunks, nothing re-chunked
    result = gen(docs, run, "--records", "2", "--concurrency", "1", model="mock/gpt-4o-mini")
    assert result.exit_code == 0, result.output
    assert _snapshot(run) == before
    config = json.loads((run / "config.json").read_text())
    assert config["ingest"] == {
        "max_tokens": 120,
        "overlap": 20,
        "tokenizer": "cl100k_base",
        "max_file_mb": 0.004,
        "max_unzipped_mb": 100.0,
        "max_zip_entries": 10_000,
    }


def test_ingest_again_without_flags_keeps_the_settings(ingested: tuple[Path, Path]):
    docs, run = ingested
    before = _snapshot(run)
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "error   big.md: too large: 4.4 kB is above the limit of 4.0 kB" in result.stdout
    assert _snapshot(run) == before


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--max-tokens", "400"], "--max-tokens 120 (asked: 400)"),
        (["--max-file-mb", "50"], "--max-file-mb 0.004 (asked: 50.0)"),
        (["--model", "openai/gpt-4o"], "--model (tokenizer) cl100k_base (asked: o200k_base)"),
    ],
)
def test_differing_flags_are_refused_without_reingest(ingested, flags, named):
    docs, run = ingested
    before = _snapshot(run)
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(run), *flags])
    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert named in line and "--reingest" in line
    assert _snapshot(run) == before


def test_the_same_flags_again_are_fine(ingested: tuple[Path, Path]):
    docs, run = ingested
    before = _snapshot(run)
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(run), *INGEST_FLAGS])
    assert result.exit_code == 0, result.output
    assert _snapshot(run) == before


def test_reingest_applies_new_settings_and_says_so(ingested: tuple[Path, Path]):
    docs, run = ingested
    old_docs, old_chunks = _snapshot(run)
    args = ["ingest", str(docs), "--out", str(run), "--max-tokens", "400", "--reingest"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "re-ingesting with new settings: --max-tokens 120 (asked: 400)" in result.stderr
    new_docs, new_chunks = _snapshot(run)
    assert [d[0] for d in new_docs] == [d[0] for d in old_docs]  # limit kept: big.md still out
    assert len(new_chunks) < len(old_chunks) and max(c[3] for c in new_chunks) <= 400
    again = runner.invoke(app, ["ingest", str(docs), "--out", str(run)])  # the new ones stick
    assert again.exit_code == 0 and _snapshot(run)[1] == new_chunks


def test_runs_from_before_keep_their_chunker_key_settings():
    legacy = {"chunker": "v2|300|40|o200k_base", "max_file_mb": 7.5}
    settings, note = resolve(legacy, {}, model="anthropic/claude-sonnet-4-5")
    assert note == ""
    assert settings.values() == {
        **IngestSettings().values(),
        "max_tokens": 300,
        "overlap": 40,
        "tokenizer": "o200k_base",
        "max_file_mb": 7.5,
    }
    assert stored_values(settings.stored()) == settings.values()
    with pytest.raises(ConfigError, match="--overlap 40 \\(asked: 10\\)"):
        resolve(legacy, {"overlap": 10})


def test_a_new_run_takes_the_tokenizer_of_the_model():
    settings, _ = resolve(None, {"max_tokens": 500}, model="openai/gpt-4o")
    assert (settings.chunks.encoding, settings.chunks.max_tokens) == ("o200k_base", 500)
