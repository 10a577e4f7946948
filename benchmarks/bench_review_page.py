"""Server time of the web review page and the review list for queues of 50, 5,000, 50,000.

Makes a real mock run (``instructforge generate --model mock/echo``), then fills its review
queue with N records (copies of the run's records with their own ids and texts, each beside
its real source chunk; the first tenth decided) and asks the app in process, signed in as a
reviewer, for the review page (the first undecided record, then records spread over the
queue), one record by its position, the list's first page and a filtered list. Prints the
median and max of the ``Server-Timing`` header over the loads; ``--old`` also times what the
page read before it paged (every page of the API's queue) for comparison.
Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_review_page.py [--sizes 50 5000 50000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from generator.review.store import ReviewStore
from generator.service import jobs, users
from generator.service.app import create_app
from generator.service.db import database_url, now, open_database, projects, runs
from generator.service.settings import ServiceSettings
from generator.store import Journal

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOADS = 15


def _document() -> str:
    words = ["leave", "manager", "request", "days", "salary", "notice", "contract", "travel"]
    return "\n\n".join(
        f"## Part {i}\n\n" + " ".join(words[(i * 7 + j) % len(words)] for j in range(60)) + "."
        for i in range(20)
    )


def _run(data: Path, db_url: str) -> tuple[int, Path]:
    db = open_database(db_url)
    with db.engine.begin() as conn:
        pid = conn.execute(projects.insert().values(
            name=f"bench-{time.monotonic_ns()}", created_by="bench", created_at=now())
        ).inserted_primary_key[0]  # fmt: skip
        rid = conn.execute(runs.insert().values(
            project_id=pid, model="mock/echo", created_by="bench", created_at=now())
        ).inserted_primary_key[0]  # fmt: skip
        jobs.enqueue(conn, kind="generate", project_id=pid, run_id=rid,
                     params={"model": "mock/echo"}, actor="bench", remote="bench")  # fmt: skip
    job = jobs.claim(db, "bench")
    assert job is not None
    jobs.finish(db, job["id"], "bench", "done", counts={"records": 20}, cost=0.0)
    db.close()
    docs = data / "projects" / str(pid) / "docs"
    docs.mkdir(parents=True)
    (docs / "handbook.md").write_text(_document(), encoding="utf-8")
    run_dir = data / "projects" / str(pid) / "runs" / str(rid)
    cmd = [sys.executable, "-m", "generator.cli", "generate", str(docs), "--out", str(run_dir),
           "--model", "mock/echo", "--records", "20"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return rid, run_dir


def _fill(run_dir: Path, n: int) -> None:
    """A queue of ``n`` records, the first tenth decided."""
    with Journal(run_dir) as journal:
        store = ReviewStore(journal)
        base = [it.record for it in store.items()] or _records(run_dir)
        items = []
        for i in range(n):
            rec = base[i % len(base)].model_copy(deep=True)
            rec.meta.id = f"bench-{i:06d}"
            field, text = rec.text_fields()[-1]
            rec.set_text(field, f"{text} (variant {i})")
            items.append((rec, "flagged" if i % 10 == 5 else "sample", "bench", None))
        info = {"source": "records.jsonl", "population": n, "requested": n, "sample_size": n,
                "flagged": n // 10, "seed": 0, "strata": 1}  # fmt: skip
        store.save_sample(items, info)
        for rec, *_ in items[: n // 10]:
            store.decide(rec.meta.id, "accept", reviewer="bench")


def _records(run_dir: Path) -> list:  # type: ignore[type-arg]
    from generator.review.session import read_jsonl

    return list(read_jsonl(run_dir / "records.jsonl"))


def _median_max(client: TestClient, urls: list[str]) -> tuple[float, float]:
    times = []
    for url in urls:
        res = client.get(url)
        assert res.status_code == 200, (url, res.status_code, res.text[:300])
        timing = res.headers.get("server-timing")
        times.append(float(timing.split("dur=")[1]) if timing else float("nan"))
    return statistics.median(times), max(times)


def _wall(client: TestClient, urls: list[str]) -> tuple[float, float]:
    """For pages without a Server-Timing header: time in the app, through the test client
    (no network)."""
    times = []
    for url in urls:
        t = time.perf_counter()
        res = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert res.status_code == 200, (url, res.status_code)
    return statistics.median(times), max(times)


def bench(n: int, old: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_url = database_url(data, None)
        db = open_database(db_url)
        token = users.add(db, "bench-reviewer", "reviewer", actor="bench", remote="bench")
        rid, run_dir = _run(data, db_url)
        _fill(run_dir, n)
        app = create_app(ServiceSettings(data=data, db_url=db_url, workers=0), db)
        client = TestClient(app, base_url="http://127.0.0.1")
        csrf = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"csrf": csrf, "token": token}, follow_redirects=False)
        page = f"/runs/{rid}/review"
        client.get(page)  # warm: templates compiled, the queue's file stamp stored
        step = max(1, n // LOADS)
        first = _median_max(client, [page] * LOADS)
        spread = _median_max(client, [f"{page}?pos={i * step}" for i in range(LOADS)])
        listing = _wall(client, [f"/runs/{rid}/review-list"] * 5)
        pending = _wall(client, [f"/runs/{rid}/review-list?status=pending&origin=flagged"] * 5)
        print(f"queue {n:>6}: review page (first undecided) median {first[0]:.1f} ms, "
              f"max {first[1]:.1f}; by position median {spread[0]:.1f} ms, max {spread[1]:.1f}; "
              f"list page {listing[0]:.1f} ms; filtered list {pending[0]:.1f} ms")  # fmt: skip
        if old:
            api = {"Authorization": f"Bearer {token}"}
            t = time.perf_counter()
            cursor = None
            while True:
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                body = client.get(f"/api/v1/runs/{rid}/review", params=params, headers=api).json()
                cursor = body["next"]
                if cursor is None:
                    break
            print(f"             before paging, the page read the whole API queue: "
                  f"{(time.perf_counter() - t) * 1000:.0f} ms")  # fmt: skip
        db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 5000, 50000])
    ap.add_argument("--old", action="store_true", help="also time reading the whole API queue")
    args = ap.parse_args()
    for n in args.sizes:
        bench(n, args.old)


if __name__ == "__main__":
    main()
