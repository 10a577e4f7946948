"""A generated run (mock) and an ingested-only run of several-chunk documents."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.providers import mock
from tests.generate.engine_helpers import gen, make_docs


@pytest.fixture(autouse=True)
def _fresh_mock() -> None:
    mock.reset()


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    docs = make_docs(tmp_path / "docs")
    result = gen(docs, tmp_path / "run", "--records", "6")
    assert result.exit_code == 0, result.output
    return tmp_path / "run"


@pytest.fixture
def ingested(tmp_path: Path) -> Path:
    docs = make_docs(tmp_path / "edocs", topics=("leave", "travel"), sections=3)
    run = tmp_path / "erun"
    r = cli("ingest", docs, "--out", run, "--max-tokens", "120", "--overlap", "0")
    assert r.exit_code == 0, r.output
    return run
