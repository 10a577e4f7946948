"""``generate --cluster``: calls on Dask workers, one limiter and one budget in the
coordinator, records committed in plan order; a worker killed mid-run loses nothing and
no answered call is paid again."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from distributed import Client

from tests.generate.engine_helpers import gen, make_docs, ok_calls, query, read_jsonl

MODEL = "mock/echo?latency_ms=400"


def _records(run: Path, name: str = "records.jsonl") -> list[str]:
    """The file in order, without the timestamps."""
    out = []
    for rec in read_jsonl(run / name):
        rec.pop("created_at", None)
        rec.get("meta", {}).pop("created_at", None)
        out.append(json.dumps(rec, sort_keys=True))
    return out


def _kill_a_worker_once_calls_landed(run: Path, address: str, killed: list[int]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if query(run, "SELECT COUNT(*) FROM gen_calls WHERE status='ok'")[0][0] >= 3:
                break
        except Exception:  # the journal is not created yet
            pass
        time.sleep(0.1)
    with Client(address, timeout="10s") as client:
        pids = client.run(os.getpid)
    pid = sorted(pids.values())[0]
    os.kill(pid, signal.SIGKILL)
    killed.append(pid)


def test_generate_on_a_cluster_survives_a_killed_worker(tmp_path: Path, dask_address: str):
    docs = make_docs(tmp_path / "docs")
    args = ["--per-chunk", "3", "--concurrency", "4"]
    one = tmp_path / "one"
    plain = gen(docs, one, *args, model=MODEL)
    assert plain.exit_code == 0, plain.output
    many = tmp_path / "many"
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_a_worker_once_calls_landed, args=(many, dask_address, killed)
    )
    killer.start()
    spread = gen(docs, many, *args, "--cluster", dask_address, model=MODEL)
    killer.join()
    assert spread.exit_code == 0, spread.output
    assert killed, "no worker was killed"
    assert "workers lost 1" in spread.output, spread.output
    assert _records(many) == _records(one)  # same records, same order
    assert _records(many, "rejected.jsonl") == _records(one, "rejected.jsonl")
    hashes = [h for h, _ in ok_calls(many)]
    assert len(hashes) == len(set(hashes))  # no answered call was paid twice
    assert sorted(hashes) == sorted(h for h, _ in ok_calls(one))
    assert "stage generate:" in spread.output


def test_one_budget_for_every_worker(tmp_path: Path, dask_address: str):
    docs = make_docs(tmp_path / "docs")
    run = tmp_path / "run"
    price = ["--price", "1000,1000"]  # USD per 1M tokens: a call costs about $1
    res = gen(docs, run, "--max-cost", "4", "--concurrency", "4", *price, "--cluster", dask_address)
    assert res.exit_code == 4, res.output
    assert "budget" in res.output
    spent = query(run, "SELECT SUM(cost_usd) FROM gen_calls")[0][0]
    assert 0 < spent <= 4.0  # the guard is the coordinator's: two workers, one budget
    calls = len(ok_calls(run))
    assert f"calls allowed by the coordinator {calls}; workers lost 0" in res.output
