"""``generate --batch`` against the synchronous path: 10,000 requests each, against a local
server that speaks the chat API and both batch APIs (``benchmarks/mock_openai_server.py``,
127.0.0.1 only).

Both runs start from the same ingested corpus and plan the same units; each runs as a real
``instructforge generate`` subprocess. Printed: units and provider calls, records accepted
and whether the two runs accepted the same records (meta.usage and created_at aside), the
cost of each (from the journals, at ``--price``) and their ratio (goal <= 0.5), requests
paid twice (by the server's count of request bodies run more than once, and by the
journal's count of request hashes answered more than once; goal 0), batches created, wall
time and client CPU (the command and its worker processes; the server's CPU is shown
apart).

    .venv/bin/python benchmarks/bench_batch.py [--units 10000] [--latency-ms 50]
        [--batch-delay-s 5] [--concurrency 64] [--batch-max-requests 4000]
        [--sync-workers auto] [--expire 0.05 --errors 0.02 --malformed 0.01]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_generate import make_corpus  # noqa: E402

MODEL = "openai/bench-model"
PRICE = "0.15,0.6,0.075"  # gpt-4o-mini's: input, output, cached input (USD per 1M tokens)
PER_CHUNK = 50  # 10 calls of 5 records per chunk


def start_server(latency_ms: float, delay_s: float) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "mock_openai_server.py"),
           "--latency-ms", str(latency_ms), "--max-seconds", "3600",
           "--batch-delay-s", str(delay_s)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("READY"):
        proc.kill()
        raise SystemExit(f"mock server did not start: {line!r}")
    return proc, int(line.split()[1])


def stats(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=30) as reply:
        return json.loads(reply.read())


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e["PYTHONPATH"] = str(ROOT)
    return e


def generate(docs: Path, run: Path, base: str, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "generator.cli", "generate", str(docs), "--out", str(run),
           "--model", MODEL, "--api-base", base, "--price", PRICE,
           "--per-chunk", str(PER_CHUNK), "--max-retries", "2", *extra]  # fmt: skip
    cpu0, t0 = children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env(), capture_output=True, text=True, cwd=ROOT)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if done.returncode != 0:
        raise SystemExit(f"generate failed ({done.returncode}):\n{done.stderr[-3000:]}")
    with sqlite3.connect(run / "run.sqlite") as conn:
        q = conn.execute
        calls = q("SELECT COUNT(*) FROM gen_calls WHERE status='ok'").fetchone()[0]
        cost = q("SELECT COALESCE(SUM(cost_usd), 0) FROM gen_calls").fetchone()[0]
        twice = q("SELECT COUNT(*) FROM (SELECT request_hash FROM gen_calls WHERE status='ok'"
                  " GROUP BY request_hash HAVING COUNT(*) > 1)").fetchone()[0]  # fmt: skip
        units = q("SELECT COUNT(*) FROM gen_units").fetchone()[0]
        cached = q("SELECT COALESCE(SUM(cached_tokens), 0) FROM gen_calls").fetchone()[0]
        batches = 0
        if q("SELECT 1 FROM sqlite_master WHERE name='gen_batches'").fetchone():
            batches = q("SELECT COUNT(*) FROM gen_batches").fetchone()[0]
    return {"wall": wall, "cpu": cpu, "calls": calls, "cost": cost, "twice": twice,
            "units": units, "cached": cached, "batches": batches,
            "records": records(run), "stderr": done.stderr}  # fmt: skip


def records(run: Path) -> set[str]:
    out = set()
    with (run / "records.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            rec["meta"].pop("created_at")
            rec["meta"].pop("usage")
            out.add(json.dumps(rec, sort_keys=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--batch-delay-s", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--batch-max-requests", type=int, default=4000)
    ap.add_argument("--sync-workers", default="auto", help="--workers of the sync run")
    ap.add_argument("--expire", type=float, default=0.0, help="share of batch requests expired")
    ap.add_argument("--errors", type=float, default=0.0, help="share answered with a 500")
    ap.add_argument("--malformed", type=float, default=0.0, help="share of unreadable lines")
    args = ap.parse_args()
    calls_per_chunk = PER_CHUNK // 5
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    server, port = start_server(args.latency_ms, args.batch_delay_s)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        docs = work / "docs"
        make_corpus(docs, args.units // calls_per_chunk)
        template = work / "ingested"
        ingest = [
            sys.executable,
            "-m",
            "generator.cli",
            "ingest",
            str(docs),
            "--out",
            str(template),
        ]
        subprocess.run(ingest, env=env(), check=True, capture_output=True, cwd=ROOT)
        runs = {}
        for name, extra in (
            ("sync", ["--concurrency", str(args.concurrency), "--workers", args.sync_workers]),
            ("batch", ["--batch", "--batch-poll", "1",
                       "--batch-max-requests", str(args.batch_max_requests)]),
        ):  # fmt: skip
            shutil.copytree(template, work / name)
            if name == "batch":
                faults = {"expire": args.expire, "errors": args.errors,
                          "malformed": args.malformed}  # fmt: skip
                post = urllib.request.Request(f"http://127.0.0.1:{port}/mock/faults",
                                              data=json.dumps(faults).encode())  # fmt: skip
                urllib.request.urlopen(post, timeout=10).close()
            s0 = stats(port)
            runs[name] = generate(docs, work / name, base, *extra)
            s1 = stats(port)
            runs[name]["server_twice"] = (
                s1["sync_paid_twice"] - s0["sync_paid_twice"]
                if name == "sync"
                else s1["batch"]["paid_twice"] - s0["batch"]["paid_twice"]
            )
            runs[name]["server_cpu"] = sum(psutil.Process(server.pid).cpu_times()[:2])
        sync, batch = runs["sync"], runs["batch"]
        print(f"bench_batch: {args.units} units planned, mock latency {args.latency_ms:g} ms, "
              f"batch turnaround {args.batch_delay_s:g} s, {os.cpu_count()} cores; batch "
              f"faults: expire {args.expire:g}, errors {args.errors:g}, "
              f"malformed {args.malformed:g}")  # fmt: skip
        rows = [
            ("work units done", "units"), ("provider requests (ok)", "calls"),
            ("batches created", "batches"), ("cached prompt tokens", "cached"),
            ("requests paid twice (journal)", "twice"),
            ("requests paid twice (server)", "server_twice"),
        ]  # fmt: skip
        print(f"{'':34}{'sync':>14}{'--batch':>14}")
        for label, key in rows:
            print(f"{label:34}{sync[key]:>14,}{batch[key]:>14,}")
        print(f"{'records accepted':34}{len(sync['records']):>14,}{len(batch['records']):>14,}")
        print(f"{'cost (USD)':34}{sync['cost']:>14.4f}{batch['cost']:>14.4f}")
        per = [r["cost"] / max(1, len(r["records"])) for r in (sync, batch)]
        print(f"{'cost per accepted record (USD)':34}{per[0]:>14.7f}{per[1]:>14.7f}")
        print(f"{'wall time (s)':34}{sync['wall']:>14.1f}{batch['wall']:>14.1f}")
        print(f"{'client CPU (s)':34}{sync['cpu']:>14.1f}{batch['cpu']:>14.1f}")
        print(f"cost ratio batch/sync: {batch['cost'] / sync['cost']:.3f} (goal <= 0.5)")
        same = sync["records"] == batch["records"]
        print(f"same records: {same} ({len(sync['records'] ^ batch['records'])} differ)")
        print(f"server CPU over both runs: {runs['batch']['server_cpu']:.1f} s")
        for line in batch["stderr"].splitlines():
            if line.startswith("batches:"):
                print(f"--batch: {line}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
