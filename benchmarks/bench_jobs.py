"""Jobs per second of the service's queue: enqueue, then W workers claim and finish.

Measures the queue alone (each job is claimed, beaten once and finished; no stage runs),
which is the ceiling on how many jobs the database can hand out. SQLite by default; give a
PostgreSQL URL with --db (tests/service/pg.py starts a throwaway cluster).
Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_jobs.py [--jobs 2000] [--workers 1 4]
     [--db postgresql://postgres@127.0.0.1:PORT/DB]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from generator.service import jobs
from generator.service.db import Database, database_url, now, open_database, projects, runs


def _fill(db: Database, n: int) -> None:
    with db.engine.begin() as conn:
        pid = conn.execute(projects.insert().values(
            name=f"bench-{time.monotonic_ns()}", created_by="bench", created_at=now())
        ).inserted_primary_key[0]  # fmt: skip
        for _ in range(n):
            rid = conn.execute(runs.insert().values(
                project_id=pid, model="mock/echo", created_by="bench", created_at=now())
            ).inserted_primary_key[0]  # fmt: skip
            jobs.enqueue(conn, kind="generate", project_id=pid, run_id=rid,
                         params={"model": "mock/echo"}, actor="bench", remote="bench")  # fmt: skip


def _drain(db: Database, workers: int) -> tuple[int, float]:
    done = [0] * workers

    def work(i: int) -> None:
        me = jobs.worker_name()
        while (job := jobs.claim(db, me)) is not None:
            jobs.beat(db, job["id"], me, {"records": 1}, 0.0)
            jobs.finish(db, job["id"], me, "done", counts={"records": 1}, cost=0.0)
            done[i] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--db", default=None, help="database URL (default: a new SQLite file)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(database_url(Path(tmp), args.db))
        print(f"queue: {db.dialect}, {args.jobs} jobs per round")
        for w in args.workers:
            _fill(db, args.jobs)
            n, secs = _drain(db, w)
            print(f"  {w} worker(s): {n} jobs claimed+beaten+finished in {secs:.2f} s = "
                  f"{n / secs:,.0f} jobs/s")  # fmt: skip
        db.close()


if __name__ == "__main__":
    main()
