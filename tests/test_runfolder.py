"""Run folders nothing can corrupt (issue 17, items 1-4), through the CLI: one writer per run,
no writing into a folder that is not a run, the journal heals records.jsonl (and is healed
from it) without paying twice, and a damaged journal is named, not crashed on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from generator.providers import mock
from tests.conftest import cli_env
from tests.generate.engine_helpers import make_docs, query, read_jsonl, units_done

ROOT = Path(__file__).resolve().parent.parent
MODEL = "mock/echo"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", *args]


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def _generate(docs: Path, run: Path, *extra: str):
    return _invoke("generate", docs, "--out", run, "--model", MODEL, "--per-chunk", "10", *extra)


def _mock_calls() -> int:
    """The in-process mock provider's call log: requests it answered since the last reset."""
    return sum(mock._seen.values())


def _one_line_error(res, *needles: str) -> None:
    """Exit 2, no traceback, one ``instructforge: error:`` line naming ``needles``."""
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("instructforge: error:")]
    assert len(lines) == 1, res.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(autouse=True)
def _fresh_mock() -> None:
    mock.reset()


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_docs(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="module")
def done_run(tmp_path_factory: pytest.TempPathFactory, docs: Path) -> Path:
    """A finished generation (copied by tests that damage it)."""
    run = tmp_path_factory.mktemp("done") / "run"
    res = _generate(docs, run)
    assert res.exit_code == 0, res.output
    return run


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


# ------------------------------------------------------------------ 1. one writer per run


def _wait_for(check, what: str, proc: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert proc.poll() is None, f"the first command ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_second_writer_is_refused_at_once_naming_the_first(tmp_path, docs):
    """Seen: two `generate` on one --out both exited 0, every record written and paid twice."""
    run = tmp_path / "run"
    gen = ("generate", str(docs), "--out", str(run), "--model", "mock/slow?latency_ms=2000",
           "--per-chunk", "20", "--concurrency", "1")  # fmt: skip
    first = subprocess.Popen(
        _cli(*gen), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_for(lambda: units_done(run) >= 1, "the first unit", first)
        for args in (
            gen,  # the very same command, in a second terminal
            ("curate", str(run)),
            ("export", str(run), "--format", "alpaca", "--use", "evaluation",
             "--out", str(tmp_path / "exp")),
            ("ingest", str(docs), "--out", str(run)),
            ("review", "status", str(run)),
        ):  # fmt: skip
            assert first.poll() is None, "the first writer ended before the test was done"
            started = time.monotonic()
            second = subprocess.run(_cli(*args), env=cli_env(), capture_output=True, text=True,
                                    timeout=120)  # fmt: skip
            took = time.monotonic() - started
            assert second.returncode == 2, (args, second.returncode, second.stderr[-2000:])
            err = second.stderr
            assert "Traceback" not in err
            assert f"pid {first.pid}" in err and "generate" in err, err
            assert "started" in err, err
            assert took < 30, f"{args[0]} was not refused at once ({took:.1f} s)"
        assert not (tmp_path / "exp").exists()
        assert first.poll() is None, "the first writer must go on undisturbed"
        # `runs show` only reads: it works while the run is being written.
        show = subprocess.run(_cli("runs", "show", str(run)), env=cli_env(), capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert show.returncode == 0, show.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    # The OS released the lock of the killed process: nothing to clear by hand.
    again = subprocess.run(_cli(*gen, "--dry-run"), env=cli_env(), capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr


def test_same_process_cannot_open_a_run_twice_for_writing(tmp_path):
    from generator.errors import RunBusyError
    from generator.runfolder import open_run_folder

    run = tmp_path / "run"
    with (
        open_run_folder(run, "generate", create=True),
        pytest.raises(RunBusyError, match=f"pid {os.getpid()}"),
        open_run_folder(run, "curate"),
    ):
        pass
    with open_run_folder(run, "curate"):  # released on exit
        pass


# ------------------------------------------------------------------ 2. someone else's folder


def test_foreign_folder_as_out_is_refused_and_left_untouched(tmp_path, docs):
    """Seen: a folder with the user's records.jsonl and config.json had its last line
    deleted, its config overwritten and generated records mixed in."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "records.jsonl").write_text('{"instruction": "a", "output": "b"}\n{"half": ')
    (mine / "config.json").write_text('{"owner": "me"}\n')
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "What is leave?", "output": "Time off work."}\n')
    for args in (
        ("generate", docs, "--out", mine, "--model", MODEL),
        ("ingest", docs, "--out", mine),
        ("curate", "--input", src, "--out", mine),
    ):
        _one_line_error(_invoke(*args), str(mine), "not an instructforge run")
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_a_file_as_run_folder_gives_exit_2_everywhere(tmp_path, docs, done_run):
    """Seen: `curate --input ... --out FILE` gave a traceback."""
    file = tmp_path / "file.txt"
    file.write_text("mine\n")
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "What is leave?", "output": "Time off work."}\n')
    for args in (
        ("generate", docs, "--out", file, "--model", MODEL),
        ("ingest", docs, "--out", file),
        ("curate", "--input", src, "--out", file),
        ("curate", file),
        ("export", file, "--format", "alpaca", "--use", "evaluation", "--out", tmp_path / "e"),
        ("export", done_run, "--format", "alpaca", "--use", "evaluation", "--out", file),
        ("review", "status", file),
        ("runs", "show", file),
    ):
        _one_line_error(_invoke(*args), str(file))
    assert file.read_text() == "mine\n"


def test_empty_folder_and_new_folder_are_fine(tmp_path, docs):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _invoke("ingest", docs, "--out", empty).exit_code == 0
    assert (empty / "run.sqlite").is_file()
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "What is annual leave?", "output": "Paid time off."}\n')
    res = _invoke("curate", "--input", src, "--out", tmp_path / "new")
    assert res.exit_code == 0, res.output
    # curate --input made a run: curating into it again is not "someone else's folder".
    res = _invoke("curate", "--input", src, "--out", tmp_path / "new")
    assert res.exit_code == 0, res.output


# ------------------------------------------------------------------ 3. the journal heals


def test_restored_journal_takes_records_back_instead_of_paying_again(tmp_path, docs):
    """records.jsonl holds accepted records the journal lost (a restored backup): they go
    back into the journal; the re-run pays no call and writes no line twice."""
    run = tmp_path / "run"
    assert _generate(docs, run, "--records", "12").exit_code == 0
    backup = tmp_path / "backup.sqlite"
    shutil.copy(run / "run.sqlite", backup)
    assert _generate(docs, run).exit_code == 0
    full = read_jsonl(run / "records.jsonl")
    units = query(run, "SELECT COUNT(*) FROM gen_units")[0][0]
    shutil.copy(backup, run / "run.sqlite")  # the journal goes back to 12 records
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] < len(full)
    mock.reset()
    res = _generate(docs, run)
    assert res.exit_code == 0, res.output
    assert _mock_calls() == 0, "calls whose records are in records.jsonl were paid again"
    lines = read_jsonl(run / "records.jsonl")
    assert len(lines) == len({r["meta"]["id"] for r in lines}) == len(full)
    assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] == len(full)
    assert query(run, "SELECT COUNT(*) FROM gen_units")[0][0] == units


def _start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "mock_openai_server.py"),
         "--latency-ms", "150", "--max-seconds", "280"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("READY"), line
    return proc, int(line.split()[1])


def _server_stats(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_kill_9_and_deleted_wal_neither_duplicates_lines_nor_pays_again(tmp_path, docs):
    """Seen: after a kill -9 and a deleted run.sqlite-wal a re-run wrote 218 lines for 172
    ids and paid every call again. The loopback server counts requests it saw before."""
    server, port = _start_server()
    try:
        run = tmp_path / "run"
        cmd = _cli("generate", str(docs), "--out", str(run), "--model", "openai/wal-test",
                   "--api-base", f"http://127.0.0.1:{port}/v1", "--per-chunk", "20",
                   "--concurrency", "1", "--workers", "0")  # fmt: skip
        env = cli_env(OPENAI_API_KEY="sk-loopback-test")
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for(lambda: units_done(run) >= 8, "8 units", first, limit=200)
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=60)
        assert (run / "run.sqlite-wal").exists(), "the test needs a WAL to lose"
        (run / "run.sqlite-wal").unlink()
        kept = read_jsonl(run / "records.jsonl")
        assert len(kept) >= 8
        before = _server_stats(port)
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=280)
        assert again.returncode == 0, again.stderr[-3000:]
        lines = read_jsonl(run / "records.jsonl")
        ids = {r["meta"]["id"] for r in lines}
        assert len(lines) == len(ids), f"{len(lines)} lines for {len(ids)} ids"
        assert ids >= {r["meta"]["id"] for r in kept}
        assert query(run, "SELECT COUNT(*) FROM gen_records")[0][0] == len(ids)
        repaid = _server_stats(port)["cached"] - before["cached"]
        # At most the one call in flight at the kill (--concurrency 1) is sent again.
        assert repaid <= 1, f"{repaid} calls were paid a second time"
    finally:
        server.terminate()
        server.wait(10)


def test_truncated_records_file_is_rebuilt_before_curate(tmp_path, done_run):
    """Seen: a truncated records.jsonl made `curate` silently curate 86 of 174 records."""
    run = _copy(done_run, tmp_path / "run")
    total = query(run, "SELECT COUNT(*) FROM gen_records")[0][0]
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    (run / "records.jsonl").write_text("".join(lines[: len(lines) // 2]) + lines[-1][:40])
    res = _invoke("curate", run)
    assert res.exit_code == 0, res.output
    assert f"of {total} records" in res.output, res.output
    rebuilt = read_jsonl(run / "records.jsonl")
    assert len(rebuilt) == len({r["meta"]["id"] for r in rebuilt}) == total


def test_truncated_records_file_is_rebuilt_before_export(tmp_path, done_run):
    run = _copy(done_run, tmp_path / "run")
    total = query(run, "SELECT COUNT(*) FROM gen_records")[0][0]
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    (run / "records.jsonl").write_text("".join(lines[:3]))
    out = tmp_path / "exp"
    res = _invoke("export", run, "--format", "alpaca", "--use", "evaluation", "--out", out,
                  "--accept-review", "mock")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"of {total} records" in res.output, res.output


def test_duplicate_and_untrusted_lines_are_healed(tmp_path, done_run):
    """Lines written twice by an older version are kept once; a line that is not a record of
    this run goes to rejected.jsonl with its reason, and stays out of curation."""
    run = _copy(done_run, tmp_path / "run")
    total = query(run, "SELECT COUNT(*) FROM gen_records")[0][0]
    lines = (run / "records.jsonl").read_text().splitlines(keepends=True)
    forged = json.loads(lines[0])
    forged["meta"]["id"] = "forged0000000000000000"
    forged["meta"]["source"]["chunk_id"] = "no-such-chunk"
    garbage = "this is not json\n"
    with (run / "records.jsonl").open("a") as fh:
        fh.writelines(lines[:5])
        fh.write(json.dumps(forged) + "\n")
        fh.write(garbage)
    res = _invoke("curate", run)
    assert res.exit_code == 0, res.output
    assert f"of {total} records" in res.output, res.output
    assert "records.jsonl" in res.output and "rejected.jsonl" in res.output  # said, not silent
    healed = read_jsonl(run / "records.jsonl")
    assert len(healed) == len({r["meta"]["id"] for r in healed}) == total
    rejected = {r["id"]: r for r in read_jsonl(run / "rejected.jsonl")}
    untrusted = [r for r in rejected.values() if r["reason"] == "untrusted_record"]
    assert len(untrusted) == 2
    assert any("no-such-chunk" in r["detail"] for r in untrusted)
    assert any(r["raw"] == garbage.strip() for r in untrusted)


# ------------------------------------------------------------------ 4. a damaged journal


def _damage_pages(db: Path) -> None:
    size = db.stat().st_size
    assert size > 16 * 4096, "the journal is too small to damage mid-file"
    with db.open("r+b") as fh:
        fh.seek((size // 2) // 4096 * 4096)
        fh.write(os.urandom(4 * 4096))


@pytest.mark.parametrize("damage", ["random-bytes", "pages-overwritten"])
def test_damaged_journal_is_named_in_every_command(tmp_path, docs, done_run, damage):
    run = _copy(done_run, tmp_path / "run")
    db = run / "run.sqlite"
    if damage == "random-bytes":
        db.write_bytes(os.urandom(64 * 1024))
    else:
        _damage_pages(db)
    before = (run / "records.jsonl").read_bytes()
    for args in (
        ("generate", docs, "--out", run, "--model", MODEL, "--per-chunk", "10"),
        ("ingest", docs, "--out", run),
        ("curate", run),
        ("export", run, "--format", "alpaca", "--use", "evaluation", "--out", tmp_path / "e"),
        ("review", "status", run),
        ("runs", "show", run),
    ):
        _one_line_error(_invoke(*args), "run.sqlite", "damaged")
    assert not (run / "curation").exists() and not (tmp_path / "e").exists()
    assert (run / "records.jsonl").read_bytes() == before


def test_a_run_on_a_read_only_file_system_is_read_without_lock_or_healing(
    tmp_path, done_run, monkeypatch
):
    """Nobody can write a run on a read-only mount: export reads it as it is."""
    import errno

    from generator.runfolder import open_run_folder

    run = _copy(done_run, tmp_path / "run")
    real_open = Path.open

    def read_only(self: Path, mode: str = "r", *args, **kwargs):
        if any(c in mode for c in "wa+x"):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", read_only)
    with open_run_folder(run, "export", heal=True) as folder:
        assert folder.journal_or_none is None
    with pytest.raises(Exception, match="Read-only"), open_run_folder(run, "ingest", create=True):
        pass


def test_damage_found_past_the_check_is_named_and_other_errors_pass(tmp_path):
    """quick_check does not read every row: damage met later in the command is the same
    one line; a constraint or a busy database is not called damage."""
    from generator.errors import JournalDamagedError
    from generator.runfolder import open_run_folder

    run = tmp_path / "run"
    with (
        pytest.raises(JournalDamagedError, match=r"run\.sqlite is damaged \(database disk"),
        open_run_folder(run, "curate", create=True),
    ):
        raise sqlite3.DatabaseError("database disk image is malformed")
    for exc in (sqlite3.IntegrityError("UNIQUE"), sqlite3.OperationalError("database is locked")):
        with pytest.raises(type(exc)), open_run_folder(run, "curate"):
            raise exc


# ------------------------------------------------------------------ sessions left "running"


def _left_running(run: Path, holder: dict | None) -> str:
    """The last session row as a full disk leaves it (its end could not be written), with
    ``holder`` in run.lock (None: empty, as a command that ended normally leaves it)."""
    conn = sqlite3.connect(run / "run.sqlite")
    with conn:
        conn.execute("UPDATE gen_sessions SET status='running', ended_at=NULL, message=NULL")
    conn.close()
    (run / "run.lock").write_text(json.dumps(holder) + "\n" if holder else "")
    res = _invoke("runs", "show", run)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())  # the status cell may wrap


def test_a_session_whose_end_was_never_written_is_not_shown_running(tmp_path, done_run):
    """Seen: after a full disk the session row stays "running" and `runs show` said so."""
    run = _copy(done_run, tmp_path / "run")
    line = _left_running(run, None)  # the command ended (its lock is released)
    assert "running" not in line.replace("not running", "")
    assert "disk full" in line and "killed" in line and "resume" in line
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    line = _left_running(run, {"pid": int(dead), "command": "instructforge generate"})
    assert "running" not in line.replace("not running", "") and "killed" in line


def test_a_session_whose_process_lives_is_shown_running_with_its_pid(tmp_path, done_run):
    run = _copy(done_run, tmp_path / "run")
    line = _left_running(run, {"pid": os.getpid(), "command": "instructforge generate"})
    assert f"running (pid {os.getpid()}" in line
