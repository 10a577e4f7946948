"""A full disk during generate, curate and export, and an export folder that cannot be
written: one line, the documented exit code (4 resumable / 2), no traceback, no hang, and no
half-written file left looking complete.

The real thing where the machine allows it (a small tmpfs, mounted as root: what a full
disk is), and always a patched write that fails with ENOSPC the way the kernel does (part
of the data written, then the error), so CI without mount rights still tests the paths.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import cli_env
from tests.generate.engine_helpers import gen, make_docs, ok_calls, query, record_set

SLOW_MODEL = "mock/slow?latency_ms=250"
ARGS = ["--per-chunk", "20", "--concurrency", "2"]  # 24 units
CURATE_YAML = "steps: [heuristics, length, exact_dedup]\nreport:\n  enabled: false\n"


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, readonly: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path``; skips the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    mount = ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)]
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system; delete the file to free it."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as fh:
        for size in (65536, 4096, 512, 1):  # down to the last byte
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * size)
    return filler


def _one_error_line(output: str) -> str:
    assert "Traceback" not in output, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith("instructforge: error:")]
    assert len(lines) == 1, output[-3000:]
    return lines[0]


def _whole_lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "a partial last line was left"
    return [json.loads(line) for line in data.splitlines()]


def _curate(run: Path, tmp_path: Path) -> object:
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(CURATE_YAML)
    return CliRunner().invoke(app, ["curate", str(run), "--config", str(cfg)])


def _export(run: Path, out: Path) -> object:
    args = ["export", str(run), "--format", "alpaca", "--use", "evaluation", "--out", str(out)]
    args += ["--accept-review", "mock"]  # mock records need a person's yes
    return CliRunner().invoke(app, args)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---------------------------------------------------------------- generate


@pytest.mark.slow
def test_generate_on_a_full_disk_stops_with_exit_4_then_resumes(tmp_path) -> None:
    """Seen: a traceback from an asyncio callback (the journal's COMMIT failed), then a hang,
    with the session left "running"."""
    docs = make_docs(tmp_path / "docs")
    with tmpfs(tmp_path / "disk", "8m") as disk:
        run = disk / "run"
        env = cli_env()
        cmd = [sys.executable, "-m", "generator.cli", "generate", str(docs), "--out", str(run),
               "--model", SLOW_MODEL, *ARGS]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 240
        while not (run / "run.sqlite").exists() or _units(run) < 3:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        filler = fill(disk)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("generate hung on a full disk")
        assert proc.returncode == 4, err.decode()[-3000:]
        line = _one_error_line(err.decode())
        assert "disk full" in line and "resume" in line
        _whole_lines(run / "records.jsonl")
        assert _units(run) < 24

        filler.unlink()  # space is back: the same command resumes
        again = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
        assert again.returncode == 0, again.stderr.decode()[-3000:]
        full = tmp_path / "full"
        assert gen(docs, full, *ARGS, model=SLOW_MODEL).exit_code == 0
        assert record_set(run) == record_set(full)
        records = _whole_lines(run / "records.jsonl")
        assert len(records) == len({r["meta"]["id"] for r in records})
        hashes = [h for h, _ in ok_calls(run)]
        assert len(hashes) == len(set(hashes))  # no reply paid for twice


def _units(run: Path) -> int:
    try:
        return query(run, "SELECT COUNT(*) FROM gen_units")[0][0]
    except Exception:  # the journal is being created
        return 0


def _enospc_on(name: str, after: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.write`` to the file called ``name`` writes half its data on the ``after``-th call,
    then fails with ENOSPC from then on (what a file system that fills up does)."""
    real = os.write
    seen = {"n": 0}

    def write(fd: int, data: bytes) -> int:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if not target.endswith(name):
            return real(fd, data)
        seen["n"] += 1
        if seen["n"] == after and len(data) > 1:
            return real(fd, bytes(data[: len(data) // 2]))
        if seen["n"] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
# The stop cancels the calls in flight. LiteLLM builds a call's coroutine in an executor
# thread before awaiting it; for a call cancelled in between, that coroutine (the mock's,
# which sends nothing) is never awaited, and Python warns when it is collected.
@pytest.mark.filterwarnings("ignore:coroutine 'MockLLM.acompletion' was never awaited")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_records_append_on_a_full_disk_leaves_whole_lines_and_resumes(
    tmp_path, monkeypatch
) -> None:
    docs, run = make_docs(tmp_path / "docs"), tmp_path / "run"
    with monkeypatch.context() as patch:
        _enospc_on("records.jsonl", 3, patch)
        res = gen(docs, run, *ARGS)
    assert res.exit_code == 4, res.output
    line = _one_error_line(res.output)
    assert "disk full" in line and "records.jsonl" in line
    kept = _whole_lines(run / "records.jsonl")  # the half-written batch was cut back
    assert len(kept) < query(run, "SELECT COUNT(*) FROM gen_records")[0][0]
    assert query(run, "SELECT status FROM gen_sessions")[-1][0] == "stopped"

    assert gen(docs, run, *ARGS).exit_code == 0
    full = tmp_path / "full"
    assert gen(docs, full, *ARGS).exit_code == 0
    records = _whole_lines(run / "records.jsonl")
    assert len(records) == len({r["meta"]["id"] for r in records})
    assert record_set(run) == record_set(full)


# ---------------------------------------------------------------- curate


def test_curate_on_a_full_disk_keeps_the_previous_files(tmp_path) -> None:
    docs = make_docs(tmp_path / "docs")
    with tmpfs(tmp_path / "disk", "8m") as disk:
        run = disk / "run"
        assert gen(docs, run).exit_code == 0
        assert _curate(run, tmp_path).exit_code == 0
        before = _files(run / "curation")
        fill(disk)
        res = _curate(run, tmp_path)
        assert res.exit_code == 4, res.output
        assert "disk full" in _one_error_line(res.output)
        assert _files(run / "curation") == before  # the old set, whole; no temp files


def test_curate_failing_half_way_leaves_no_mixed_set(tmp_path, monkeypatch) -> None:
    """ENOSPC while the third file is written: no new train.jsonl beside an old
    validation.jsonl (export would pair them up), and no temp file left."""
    from generator.curate import pipeline

    docs, run = make_docs(tmp_path / "docs"), tmp_path / "run"
    assert gen(docs, run).exit_code == 0
    assert _curate(run, tmp_path).exit_code == 0
    before = _files(run / "curation")
    real = pipeline.write_jsonl
    calls = {"n": 0}

    def write_jsonl(path: Path, rows: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            path.write_text('{"half": ')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, rows)

    monkeypatch.setattr(pipeline, "write_jsonl", write_jsonl)
    (tmp_path / "curate.yaml").write_text(CURATE_YAML.replace("exact_dedup", "exact_dedup, length"))
    res = _curate(run, tmp_path)
    assert res.exit_code == 4, res.output
    assert "disk full" in _one_error_line(res.output)
    assert _files(run / "curation") == before


# ---------------------------------------------------------------- export


def test_export_on_a_full_disk_leaves_nothing_behind(tmp_path) -> None:
    docs = make_docs(tmp_path / "docs")
    run = tmp_path / "run"
    assert gen(docs, run).exit_code == 0
    with tmpfs(tmp_path / "disk", "256k") as disk:
        fill(disk)
        out = disk / "out"
        res = _export(run, out)
        assert res.exit_code == 4, res.output
        assert "disk full" in _one_error_line(res.output)
        assert not out.exists() or _files(out) == {}


def test_export_whose_fsync_reports_enospc_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    from generator import atomic

    docs, run, out = make_docs(tmp_path / "docs"), tmp_path / "run", tmp_path / "out"
    assert gen(docs, run).exit_code == 0

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    res = _export(run, out)
    assert res.exit_code == 4, res.output
    assert "disk full" in _one_error_line(res.output)
    assert _files(out) == {}


def test_export_under_a_file_gives_exit_2_with_the_path(tmp_path) -> None:
    docs, run = make_docs(tmp_path / "docs"), tmp_path / "run"
    assert gen(docs, run).exit_code == 0
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / "a-file" / "out"
    res = _export(run, out)
    assert res.exit_code == 2, res.output
    line = _one_error_line(res.output)
    assert str(out) in line or str(tmp_path / "a-file") in line


def test_export_into_a_read_only_folder_gives_exit_2_with_the_path(tmp_path) -> None:
    docs, run = make_docs(tmp_path / "docs"), tmp_path / "run"
    assert gen(docs, run).exit_code == 0
    with tmpfs(tmp_path / "ro", "64k", readonly=True) as ro:
        res = _export(run, ro / "out")
        assert res.exit_code == 2, res.output
        line = _one_error_line(res.output)
        assert str(ro / "out") in line and "Read-only" in line


def test_export_without_permission_gives_exit_2_with_the_path(tmp_path, monkeypatch) -> None:
    """Root ignores file modes, so the refusal a normal user gets is made by hand here."""
    from generator import atomic

    docs, run, out = make_docs(tmp_path / "docs"), tmp_path / "run", tmp_path / "out"
    assert gen(docs, run).exit_code == 0

    def mkstemp(prefix: str = "", suffix: str = "", dir: str | None = None) -> tuple[int, str]:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), f"{dir}/{prefix}{suffix}")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    res = _export(run, out)
    assert res.exit_code == 2, res.output
    line = _one_error_line(res.output)
    assert str(out) in line and "Permission denied" in line


def test_curate_failing_while_a_plot_is_written_keeps_the_previous_report(
    tmp_path, monkeypatch
) -> None:
    """ENOSPC half-way through a PNG of the report: the previous curation (its report and
    plots) stays whole and no half PNG or temp folder is left in the run."""
    from matplotlib.figure import Figure

    docs, run = make_docs(tmp_path / "docs"), tmp_path / "run"
    assert gen(docs, run).exit_code == 0
    cfg = tmp_path / "curate.yaml"
    cfg.write_text(CURATE_YAML.replace("enabled: false", "enabled: true"))
    args = ["curate", str(run), "--config", str(cfg)]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = _files(run / "curation")
    assert any(name.endswith(".png") for name in before)

    def savefig(self: Figure, path: Path, **kw: object) -> None:
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", savefig)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 4, res.output
    assert "disk full" in _one_error_line(res.output)
    assert _files(run / "curation") == before
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize("inodes_left", [0, 1, 2, 3, 4])
def test_a_new_run_folder_on_a_full_disk_is_exit_4(tmp_path, inodes_left) -> None:
    """A disk with no room for one more file (no inodes left, or just a few: the folder,
    run.lock, run.sqlite, its WAL and its index each take one) gave exit 2 "cannot open the
    run folder" / "cannot lock" / "unable to open database file": it is a full disk, exit 4."""
    docs = make_docs(tmp_path / "docs")
    with tmpfs(tmp_path / "disk", "4m,nr_inodes=16") as disk:
        taken = []
        with contextlib.suppress(OSError):
            while True:
                taken.append(disk / f"f{len(taken)}")
                taken[-1].touch()
        for path in taken[:-1][:inodes_left]:
            path.unlink()
        res = gen(docs, disk / "run")
        assert res.exit_code == 4, res.output
        assert "disk full" in _one_error_line(res.output)
