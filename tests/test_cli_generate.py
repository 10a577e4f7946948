"""``instructforge generate`` as a real subprocess: end to end, and killed with SIGKILL at
two moments then resumed, against an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli_env
from tests.generate.engine_helpers import (
    make_docs,
    ok_calls,
    query,
    read_jsonl,
    record_set,
    units_done,
)

MODEL = "mock/slow?latency_ms=250"
ARGS = ["--per-chunk", "20", "--concurrency", "2"]  # 4 units per chunk, 24 in all


def _cmd(docs: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "generator.cli", "generate", str(docs), "--out", str(run),
            "--model", MODEL, *ARGS]  # fmt: skip


def _kill_after(docs: Path, run: Path, units: int, sig: int = signal.SIGKILL) -> tuple[int, str]:
    """Start the command, send ``sig`` once ``units`` units are done; (exit code, stderr)."""
    proc = subprocess.Popen(_cmd(docs, run), env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 240
    try:
        while units_done(run) < units:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    return proc.returncode, err.decode()


@pytest.mark.slow
def test_subprocess_end_to_end_and_kill_resume(tmp_path):
    docs = make_docs(tmp_path / "docs")
    full = tmp_path / "full"
    done = subprocess.run(_cmd(docs, full), env=cli_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "summary" in done.stdout and "records:" in done.stdout
    total = query(full, "SELECT COUNT(*) FROM gen_units")[0][0]
    assert total == 24

    run = tmp_path / "killed"
    _kill_after(docs, run, 3)
    first = units_done(run)
    assert 3 <= first < total
    _kill_after(docs, run, first + 5)
    second = units_done(run)
    code, err = _kill_after(docs, run, second + 3, signal.SIGINT)  # Ctrl-C
    assert code == 130 and "interrupted" in err and "resume" in err, (code, err[-2000:])
    assert query(run, "SELECT status FROM gen_sessions ORDER BY id")[-1][0] == "interrupted"
    assert units_done(run) < total
    resumed = subprocess.run(_cmd(docs, run), env=cli_env(), capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr

    # Same records as the uninterrupted run: none lost, none duplicated.
    assert record_set(run) == record_set(full)
    lines = read_jsonl(run / "records.jsonl")
    assert len(lines) == len({r["meta"]["id"] for r in lines})
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] == len(lines)
    rej = {(r["id"], r["reason"]) for r in read_jsonl(run / "rejected.jsonl")}
    assert rej == {(r["id"], r["reason"]) for r in read_jsonl(full / "rejected.jsonl")}
    # No request whose reply was journaled was sent again in a later session.
    calls = ok_calls(run)
    hashes = [h for h, _ in calls]
    assert len(hashes) == len(set(hashes))
    sessions = {s for _, s in calls}
    assert len(sessions) >= 2
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == total
