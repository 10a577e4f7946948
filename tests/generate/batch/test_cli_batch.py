"""``generate --batch`` end to end against a loopback server speaking both batch APIs:
the same records as the synchronous path at half the cost, ``runs show`` lists the
batches, ``--max-cost`` refuses a batch, ``--dry-run`` prices sync and batch, a run killed
while its batch is in flight re-attaches (no second batch, nothing paid twice), and
``runs cancel`` cancels at the provider."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import cli_env
from tests.generate.batch.conftest import ROOT, BatchServer
from tests.generate.engine_helpers import read_jsonl

runner = CliRunner()
PRICE = ["--price", "1,4,0.5"]  # USD per 1M: input, output, cached input


def gen(docs: Path, run: Path, model: str, base: str, *extra: str) -> tuple[int, str]:
    args = ["generate", str(docs), "--out", str(run), "--model", model, "--api-base", base,
            *PRICE, *extra]  # fmt: skip
    res = runner.invoke(app, args)
    return res.exit_code, res.output


def record_set(run: Path) -> set[str]:
    """Records without what differs between two runs of the same plan: when they were
    made and what they cost (batch: half)."""
    out = set()
    for rec in read_jsonl(run / "records.jsonl"):
        rec["meta"].pop("created_at")
        rec["meta"].pop("usage")
        out.add(json.dumps(rec, sort_keys=True))
    return out


def cost_of(run: Path) -> float:
    with sqlite3.connect(run / "run.sqlite") as conn:
        return conn.execute("SELECT SUM(cost_usd) FROM gen_calls").fetchone()[0]


@pytest.mark.parametrize("model", ["openai/mock-model", "anthropic/mock-claude"])
def test_batch_gives_the_sync_records_at_half_the_cost(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer], model: str
) -> None:
    server = batch_server()
    base = server.openai_base if model.startswith("openai") else server.anthropic_base
    code, out = gen(docs, tmp_path / "b", model, base, "--batch", "--batch-poll", "0.05")
    assert code == 0, out
    assert "1 created" in out and "cost per accepted record" in out
    if model.startswith("openai"):  # the same wire body: compare with a synchronous run
        code, out = gen(docs, tmp_path / "s", model, base)
        assert code == 0, out
        assert record_set(tmp_path / "b") == record_set(tmp_path / "s") != set()
        assert cost_of(tmp_path / "b") == pytest.approx(cost_of(tmp_path / "s") / 2)
    stats = server.stats()["batch"]
    assert (stats["batches_created"], stats["paid_twice"]) == (1, 0)
    shown = runner.invoke(app, ["runs", "show", str(tmp_path / "b")])
    assert "batches" in shown.output and "collected" in shown.output
    # resuming a finished run sends nothing
    code, out = gen(docs, tmp_path / "b", model, base, "--batch", "--batch-poll", "0.05")
    assert code == 0 and server.stats()["batch"]["batches_created"] == 1


def test_seeded_template_in_batches_gives_the_sync_records(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer]
) -> None:
    """Self-instruct shows earlier units' records as examples: batches hold at most
    --pool-lag units, so every prompt (and every record) is the synchronous run's."""
    server = batch_server(delay_s=0.1)
    args = ["--template", "self-instruct", "--per-chunk", "20", "--pool-lag", "8"]
    code, out = gen(docs, tmp_path / "b", "openai/mock-model", server.openai_base, *args,
                    "--batch", "--batch-poll", "0.05")  # fmt: skip
    assert code == 0, out
    code, out = gen(docs, tmp_path / "s", "openai/mock-model", server.openai_base, *args)
    assert code == 0, out
    assert record_set(tmp_path / "b") == record_set(tmp_path / "s") != set()
    with sqlite3.connect(tmp_path / "b" / "run.sqlite") as conn:
        sizes = [r[0] for r in conn.execute("SELECT n_requests FROM gen_batches")]
    assert len(sizes) > 1 and max(sizes) <= 8 + 1


def test_records_limit_sizes_batches_to_what_is_still_needed(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer]
) -> None:
    server = batch_server()
    run = tmp_path / "r"
    code, out = gen(docs, run, "openai/mock-model", server.openai_base, "--batch",
                    "--batch-poll", "0.05", "--records", "5")  # fmt: skip
    assert code == 0, out
    with sqlite3.connect(run / "run.sqlite") as conn:
        sizes = [r[0] for r in conn.execute("SELECT n_requests FROM gen_batches ORDER BY rowid")]
        accepted = conn.execute("SELECT COUNT(*) FROM gen_records").fetchone()[0]
    assert sizes[0] == 2  # 5 records, 5 a call, plus a quarter: 2 requests, not the plan
    assert accepted >= 5 and server.stats()["batch"]["billed"] == sum(sizes)


def test_batch_refuses_other_providers(docs: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["generate", str(docs), "--out", str(tmp_path / "r"),
                              "--model", "mock/echo", "--batch"])  # fmt: skip
    assert res.exit_code == 2 and "--batch needs an openai/ or anthropic/ model" in res.output


def _costs(output: str) -> tuple[float, float]:
    """(sync, batch) of the dry run's "no prompt caching" row."""
    row = next(line for line in output.splitlines() if "no prompt caching" in line)
    sync, batch = (float(x.strip("$")) for x in row.split()[-2:])
    return sync, batch


def test_max_cost_refuses_a_batch_that_could_exceed_it(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer]
) -> None:
    """The expected cost fits the budget, the worst case (every reply at max_tokens) does
    not: only the requests whose worst case fits are submitted, the rest are refused
    (exit 4, resumable)."""
    server = batch_server()
    run = tmp_path / "r"
    code, out = gen(docs, run, "openai/mock-model", server.openai_base, "--dry-run")
    expected_batch = _costs(out)[1]
    budget = 1.1 * expected_batch
    code, out = gen(docs, run, "openai/mock-model", server.openai_base, "--batch",
                    "--batch-poll", "0.05", "--max-cost", f"{budget:.6f}")  # fmt: skip
    assert code == 4, out
    assert "worst case" in out and "--max-cost" in out
    with sqlite3.connect(run / "run.sqlite") as conn:
        n, worst = conn.execute("SELECT n_requests, worst_cost_usd FROM gen_batches").fetchone()
        units = conn.execute("SELECT COUNT(*) FROM gen_units").fetchone()[0]
        plan = conn.execute("SELECT value FROM settings WHERE key='generate.plan'").fetchone()
    plan = json.loads(plan[0])["units"]
    assert 0 < n < plan and worst <= budget and units == n
    assert server.stats()["batch"]["batches_created"] == 1
    # a budget that holds: the run resumes with the refused requests only
    code, out = gen(docs, run, "openai/mock-model", server.openai_base, "--batch",
                    "--batch-poll", "0.05", "--max-cost", "1")  # fmt: skip
    assert code == 0, out
    stats = server.stats()["batch"]
    assert (stats["batches_created"], stats["billed"], stats["paid_twice"]) == (2, plan, 0)


def _dry_run(docs: Path, run: Path, *extra: str) -> tuple[float, float, float, float]:
    """(sync, batch, sync with caching, batch with caching) of a dry run."""
    args = ["generate", str(docs), "--out", str(run), "--model", "openai/gpt-4o-mini",
            "--per-chunk", "100", "--dry-run", *extra]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "sync" in res.output and "--batch" in res.output
    sync, batch = _costs(res.output)
    lines = res.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "expected caching" in line)
    cached = [float(x.strip("$")) for x in lines[at].split() if x.startswith("$")]
    return sync, batch, *cached


def test_dry_run_prices_sync_and_batch_side_by_side(docs: Path, tmp_path: Path) -> None:
    sync, batch, sync_cached, batch_cached = _dry_run(docs, tmp_path / "r")
    assert batch == pytest.approx(sync / 2, rel=0.01)  # gpt-4o-mini's batch rates: half
    # the qa template's static prefix is under the 1,024 tokens providers cache
    assert (sync_cached, batch_cached) == (sync, batch)


def test_dry_run_expects_caching_of_a_long_static_prefix(docs: Path, tmp_path: Path) -> None:
    qa = (ROOT / "prompts" / "qa.yaml").read_text(encoding="utf-8")
    rules = "".join(f"  - House rule {i}: keep answers factual, short and polite.\n"
                    for i in range(150))  # fmt: skip
    long = qa.replace("id: qa\n", "id: qa-long\n").replace(
        "  The request says how many", rules + "\n  The request says how many"
    )
    template = tmp_path / "qa-long.yaml"
    template.write_text(long, encoding="utf-8")
    sync, batch, sync_cached, batch_cached = _dry_run(
        docs, tmp_path / "r", "--template", str(template)
    )
    # every call after the first reads the shared prefix at gpt-4o-mini's cached rate (half)
    assert sync_cached < sync and batch_cached < batch
    assert batch_cached == pytest.approx(sync_cached / 2, rel=0.01)


def _cmd(docs: Path, run: Path, base: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", "generate", str(docs), "--out", str(run),
            "--model", "openai/mock-model", "--api-base", base, *PRICE, "--batch",
            "--batch-poll", "0.2"]  # fmt: skip


def _batch_state(run: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{run / 'run.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute(
                "SELECT state, batch_id FROM gen_batches ORDER BY rowid LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row and row[1] else None


def _start_until_in_flight(docs: Path, run: Path, server: BatchServer) -> subprocess.Popen:
    proc = subprocess.Popen(_cmd(docs, run, server.openai_base), env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while _batch_state(run) not in ("validating", "in_progress"):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "no batch was submitted"
        time.sleep(0.05)
    return proc


def _run_again(docs: Path, run: Path, server: BatchServer) -> str:
    """The same command run again to its end in a subprocess (it must succeed): its stderr."""
    done = subprocess.run(_cmd(docs, run, server.openai_base), env=cli_env(),
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.slow
def test_killed_while_a_batch_is_in_flight_resumes_without_a_second_batch(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer]
) -> None:
    server = batch_server(delay_s=4.0)
    run = tmp_path / "r"
    proc = _start_until_in_flight(docs, run, server)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert server.stats()["batch"]["billed"] == 0  # still running at the provider
    err = _run_again(docs, run, server)
    assert "re-attached" in err and "0 created, 1 re-attached" in err
    stats = server.stats()["batch"]
    assert (stats["batches_created"], stats["paid_twice"]) == (1, 0)
    # the same records as a run that was never killed
    code, out = gen(docs, tmp_path / "whole", "openai/mock-model", server.openai_base,
                    "--batch", "--batch-poll", "0.2")  # fmt: skip
    assert code == 0, out
    assert record_set(run) == record_set(tmp_path / "whole")


@pytest.mark.slow
def test_runs_cancel_cancels_at_the_provider_and_the_run_stops(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer]
) -> None:
    server = batch_server(delay_s=30.0)
    run = tmp_path / "r"
    proc = _start_until_in_flight(docs, run, server)
    res = runner.invoke(app, ["runs", "cancel", str(run)])
    assert res.exit_code == 0, res.output
    assert "cancelling" in res.output
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 4, err.decode()  # stopped by the cancellation, resumable
    assert "was cancelled" in err.decode()
    assert server.stats()["batch"]["cancels"] == 1
    shown = runner.invoke(app, ["runs", "show", str(run)])
    assert "cancelled" in shown.output
    nothing = runner.invoke(app, ["runs", "cancel", str(run)])
    assert "no batch in flight" in " ".join(nothing.output.split())
    # re-running asks the requests the cancelled batch left unanswered, in a new batch
    server.faults(delay_s=0.2)
    _run_again(docs, run, server)
    stats = server.stats()["batch"]
    with sqlite3.connect(run / "run.sqlite") as conn:
        units = conn.execute("SELECT COUNT(*) FROM gen_units").fetchone()[0]
    assert (stats["batches_created"], stats["billed"], stats["paid_twice"]) == (2, units, 0)


@pytest.mark.slow
def test_ctrl_c_while_a_batch_runs_says_how_to_collect_or_cancel_it(
    docs: Path, tmp_path: Path, batch_server: Callable[..., BatchServer]
) -> None:
    server = batch_server(delay_s=3.0)
    run = tmp_path / "r"
    proc = _start_until_in_flight(docs, run, server)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    said = " ".join(err.decode().split())
    assert "1 batch(es) still run at the provider" in said and "runs cancel" in said
    _run_again(docs, run, server)
    assert server.stats()["batch"]["batches_created"] == 1  # collected, not created again
