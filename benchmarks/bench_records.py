"""Latency of ``GET /api/v1/runs/{rid}/records`` on a run of 1,000,000 records.

Writes a run folder the size of a big run (``records.jsonl`` with N generated records,
``rejected.jsonl`` with 5% more, and a curation of them: 70% curated with a 90/10 train and
validation split, 25% excluded by four steps, 5% sent to review), starts the real server
(``instructforge serve --workers 0`` in a subprocess on a loopback port, SQLite), times the
first call (it builds the run's record index), then the p50/p95 of pages of 100 through HTTP
for several filter combinations, each from the first page and from deep cursors.
Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_records.py [--records 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from generator.service import users
from generator.service.db import database_url, open_database

_VOCAB = """leave salary manager holiday request policy sensor logger battery firmware warranty
invoice refund shipping calibration humidity soil moisture temperature report employee contract
overtime training safety incident ticket escalation password network backup laptop printer
access badge parking travel expense"""
WORDS = _VOCAB.split()
POLICIES = ("openai", "anthropic", "mock")
STEPS = (("heuristics", "too_short"), ("exact_dedup", "duplicate"),
         ("near_dedup", "near_duplicate"), ("pii", "pii_found"))  # fmt: skip


def _record(i: int, rng: random.Random, curation: str = "") -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
    doc = f"docs/d{i % 500:03d}.md"
    meta = {"id": f"{i:024x}", "format": "alpaca", "provider": "openai",
            "model": "openai/gpt-4o-mini",
            "policy": {"id": POLICIES[i % 3], "version": "1", "sha256": "0" * 64},
            "prompt": {"id": "qa", "version": "1.1", "sha256": "1" * 64},
            "source": {"path": doc, "doc_sha256": "2" * 64, "chunk_id": f"{i // 7:024x}",
                       "span": [0, 1234]},
            "created_at": "2026-12-04T23:01:33Z",
            "usage": {"prompt_tokens": 159, "completion_tokens": 49,
                      "cost_usd": 0.0001}}  # fmt: skip
    head = json.dumps({"instruction": f"Question {i}: what about {words}?", "input": "",
                       "output": f"Answer {i}: {words[::-1]} {words}", "meta": meta})  # fmt: skip
    return head[:-2] + curation + "}}\n" if curation else head + "\n"


def _removed(step: str, reason: str, dest: str = "excluded") -> str:
    """The ``curation`` entry a step adds to a record it removes (spliced into ``meta``)."""
    entry = {"excluded": {"step": step, "reason": reason, "destination": dest,
                          "duplicate_of": None}}  # fmt: skip
    return ', "curation": ' + json.dumps(entry)


def write_run(run: Path, n: int) -> None:
    rng = random.Random(7)
    (run / "curation").mkdir(parents=True, exist_ok=True)
    files = {name: (run / name).open("w", encoding="utf-8") for name in (
        "records.jsonl", "rejected.jsonl", "curation/curated.jsonl", "curation/train.jsonl",
        "curation/validation.jsonl", "curation/excluded.jsonl",
        "curation/review.jsonl")}  # fmt: skip
    try:
        for i in range(n):
            line = _record(i, rng)
            files["records.jsonl"].write(line)
            if i % 20 == 0:
                files["rejected.jsonl"].write(json.dumps({
                    "id": f"r{i:023x}", "reason": "not_novel", "detail": "ROUGE-L 0.8",
                    "raw": line[:300], "model": "openai/gpt-4o-mini", "template": "qa",
                    "source": {"path": f"docs/d{i % 500:03d}.md"}}) + "\n")  # fmt: skip
            roll = i % 20
            if roll < 14:
                files["curation/curated.jsonl"].write(line)
                files["curation/train.jsonl" if i % 10 else "curation/validation.jsonl"].write(line)
            elif roll < 19:
                files["curation/excluded.jsonl"].write(_record(i, rng, _removed(*STEPS[i % 4])))
            else:
                removed = _removed("judge", "check_failed:judge", "review")
                files["curation/review.jsonl"].write(_record(i, rng, removed))
    finally:
        for fh in files.values():
            fh.close()


def start(data: Path, db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "generator.cli", "serve", "--port", str(port),
                             "--data", str(data), "--db", db_url, "--workers", "0"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def timed(client: httpx.Client, path: str, params: dict[str, str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    res = client.get(path, params=params)
    took = (time.perf_counter() - t0) * 1000
    if res.status_code != 200:
        raise SystemExit(f"{path} {params}: {res.status_code} {res.text[:300]}")
    return took, res.json()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=40, help="timed pages per combination")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_url = database_url(data, None)
        db = open_database(db_url)
        token = users.add(db, "bench", "operator", actor="bench", remote="bench")
        db.close()
        proc, url = start(data, db_url)
        try:
            with httpx.Client(base_url=url, timeout=3600,
                              headers={"Authorization": f"Bearer {token}"}) as c:  # fmt: skip
                pid = c.post("/api/v1/projects", json={"name": "bench"}).json()["id"]
                rid = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo"}).json()
                rid = rid["id"]
                run = data / "projects" / str(pid) / "runs" / str(rid)
                t0 = time.perf_counter()
                write_run(run, args.records)
                size = sum(p.stat().st_size for p in run.rglob("*.jsonl"))
                print(f"run: {args.records:,} records, {size / 1e9:.2f} GB of JSONL "
                      f"(written in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
                path = f"/api/v1/runs/{rid}/records"
                took, _ = timed(c, path, {"limit": "1"})
                index = data / "projects" / str(pid) / "index" / f"{rid}.sqlite"
                print(f"index build (first call): {took / 1000:.1f} s, "
                      f"{index.stat().st_size / 1e9:.2f} GB")  # fmt: skip
                _combos(c, path, args.pages, args.records)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# stage of the deep cursors -> (stage number, share of the records in its file)
DEEP = {"generated": (1, 1.0), "rejected": (2, 0.05), "curated": (3, 0.7), "train": (4, 0.6),
        "excluded": (6, 0.25), "review": (7, 0.05)}  # fmt: skip


def _combos(c: httpx.Client, path: str, pages: int, n: int) -> None:
    combos = {  # name -> (query, the stage its deep cursors point into)
        "no filter": ({}, "generated"),
        "stage=generated": ({"stage": "generated"}, "generated"),
        "stage=excluded&step=pii": ({"stage": "excluded", "step": "pii"}, "excluded"),
        "reason=not_novel (rejected)": ({"reason": "not_novel"}, "rejected"),
        "policy=anthropic&document=docs/d123.md": (
            {"policy": "anthropic", "document": "docs/d123.md"}, "generated"),
        "stage=review&policy=mock": ({"stage": "review", "policy": "mock"}, "review"),
        "q=calibration humidity": ({"q": "calibration humidity"}, "generated"),
        "stage=curated&q=refund": ({"stage": "curated", "q": "refund"}, "curated"),
        "stage=train&policy=openai&q=firmware": (
            {"q": "firmware", "policy": "openai", "stage": "train"}, "train"),
    }  # fmt: skip
    rng = random.Random(11)
    every: list[float] = []
    print(f"{'filter (half from the start, half deep)':44} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'pages':>6}")  # fmt: skip
    for name, (params, deep) in combos.items():
        times, cursor = [], None
        for i in range(pages):
            if i >= pages // 2:  # a deep cursor: somewhere in the second half of the file
                num, share = DEEP[deep]
                cursor = str((num << 40) | int(n * share * rng.uniform(0.5, 0.99)))
            took, body = timed(c, path, {**params, "limit": "100",
                                         **({"cursor": cursor} if cursor else {})})  # fmt: skip
            if not body["items"]:
                raise SystemExit(f"{name}: an empty page (cursor {cursor})")
            times.append(took)
            cursor = body["next"]  # None after the last page: the walk starts again
        every += times
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"{name:44} {statistics.median(times):7.1f} {p95:7.1f} {len(times):6}")
    print(f"{'all pages':44} {statistics.median(every):7.1f} "
          f"{statistics.quantiles(every, n=20)[-1]:7.1f} {len(every):6}")  # fmt: skip


if __name__ == "__main__":
    main()
