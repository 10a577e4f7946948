"""`instructforge ingest` through typer's runner and once as a real process; the samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.records import AlpacaRecord, record_id
from generator.store import Journal
from tests.conftest import REPO, SAMPLES, cli_env
from tests.ingest.conftest import PARAGRAPH, write

runner = CliRunner()
SAMPLE_DOCS = {
    "handbook/employee-handbook.md": "md",
    "handbook/travel-and-expenses-policy.docx": "docx",
    "it/information-security-policy.html": "html",
    "product/fieldlog-x2-user-manual.pdf": "pdf",
    "support/customer-faq.txt": "txt",
}


def test_ingest_samples_prints_a_table_and_fills_the_journal(tmp_path: Path):
    run = tmp_path / "run"
    result = runner.invoke(app, ["ingest", str(SAMPLES), "--out", str(run)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ingest by file type" in out
    for t in ("md", "txt", "html", "pdf", "docx"):
        assert any(line.split()[:1] == [t] for line in out.splitlines()), t
    assert "skipped seed_tasks.jsonl: unknown type: .jsonl" in out
    with Journal(run) as journal:
        docs = {d.path: d for d in journal.documents()}
        assert {p: d.type for p, d in docs.items()} == SAMPLE_DOCS
        pdf = docs["product/fieldlog-x2-user-manual.pdf"]
        assert len(pdf.pages) >= 3 and pdf.metadata["created"].startswith("2026")
        assert all(c.pages for c in journal.chunks(pdf.path))
        html = docs["it/information-security-policy.html"]
        assert "cookies" not in html.text and "Imprint" not in html.text
        assert sum(len(d.text) for d in docs.values()) > 30_000
        assert all(c.tokens <= 800 for c in journal.chunks())
    again = runner.invoke(app, ["ingest", str(SAMPLES), "--out", str(run)])
    assert again.exit_code == 0
    all_row = next(ln.split() for ln in again.stdout.splitlines() if ln.split()[:1] == ["all"])
    n_files = sum(1 for p in SAMPLES.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert all_row[1:4] == [str(n_files), "0", "5"]  # files, ingested, unchanged


def test_bad_files_are_one_line_each_and_exit_zero(docs: Path, tmp_path: Path):
    write(docs / "ok.md", f"# Ok\n\n{PARAGRAPH}\n")
    write(docs / "broken.pdf", b"%PDF-1.4 nothing else")
    write(docs / "empty.html", b"")
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("error")] == [
        "error   broken.pdf: corrupt PDF: " + lines[0].split("corrupt PDF: ", 1)[1],
        "error   empty.html: empty file: 0 bytes",
    ]
    assert "1 documents in" in result.stdout


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path):
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines() == [
        f"instructforge: error: document folder not found: {tmp_path / 'nope'}"
    ]
    assert not (tmp_path / "r").exists()
    bad = runner.invoke(
        app, ["ingest", str(tmp_path), "--out", str(tmp_path / "r"), "--overlap", "900"]
    )
    assert bad.exit_code == 2 and "--overlap" in bad.stderr and "Traceback" not in bad.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-file-mb", "nan"], "--max-file-mb must be a positive number"),
        (["--max-file-mb", "inf"], "--max-file-mb must be a positive number"),
        (["--max-file-mb", "0"], "--max-file-mb must be a positive number"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(docs: Path, tmp_path: Path, args, message):
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(tmp_path / "r"), *args])
    assert (result.exit_code, result.stderr.strip()) == (2, f"instructforge: error: {message}")


def test_a_run_folder_that_cannot_be_created_is_one_line_and_exit_2(docs: Path, tmp_path: Path):
    (tmp_path / "a-file").write_text("not a folder")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "run"):
        result = runner.invoke(app, ["ingest", str(docs), "--out", str(out)])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"instructforge: error: cannot open the run folder {out}: "
        ), lines
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.sqlite").write_bytes(b"this is not a database" * 100)
    result = runner.invoke(app, ["ingest", str(docs), "--out", str(tmp_path / "junk")])
    assert result.exit_code == 2 and "not a database" in result.stderr, result.output


def test_help_describes_the_command():
    result = runner.invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0
    words = ("--out", "--max-tokens", "--overlap", "--model", "--max-file-mb", "sha256")
    for word in (*words, "--max-unzipped-mb", "--max-zip-entries", "--reingest"):
        assert word in result.stdout


def test_ingest_as_a_real_process(tmp_path: Path):
    env = cli_env()

    def ingest(docs: Path, out: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "generator.cli", "ingest", str(docs), "--out", str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    proc = ingest(SAMPLES, tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "5 documents in" in proc.stdout
    missing = ingest(tmp_path / "none", tmp_path / "r2")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_seed_tasks_are_valid_alpaca_records():
    lines = (SAMPLES / "seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 20
    instructions = set()
    for n, line in enumerate(lines, 1):
        task = json.loads(line)
        assert set(task) == {"instruction", "input", "output"}, n
        AlpacaRecord.model_validate(
            {**task, "meta": {"id": record_id("seed", str(n)), "format": "alpaca"}}
        )
        instructions.add(task["instruction"])
    assert len(instructions) == len(lines)
    assert sum(bool(json.loads(ln)["input"]) for ln in lines) >= 5  # varied: some with input
