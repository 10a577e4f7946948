"""The job queue on both databases: atomic claims under contention, one job of a run at a
time, stale jobs re-queued (and their old worker told it lost them), cancel, audit rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from generator.service import jobs
from generator.service.db import Database, audit, now, open_database, projects, runs
from generator.service.db import jobs as jobs_table


@pytest.fixture
def db(fresh_db_url: str) -> Iterator[Database]:
    database = open_database(fresh_db_url)
    yield database
    database.close()


def _runs(db: Database, n: int) -> list[tuple[int, int]]:
    """n runs in a new project: [(project id, run id)]."""
    with db.engine.begin() as conn:
        pid = conn.execute(projects.insert().values(
            name=f"q{time.monotonic_ns()}", created_by="t", created_at=now())
        ).inserted_primary_key[0]  # fmt: skip
        return [
            (pid, conn.execute(runs.insert().values(project_id=pid, model="mock/echo",
                                                    created_by="t", created_at=now()))
             .inserted_primary_key[0])
            for _ in range(n)
        ]  # fmt: skip


def _queue(db: Database, pid: int, rid: int, kind: str = "generate") -> int:
    with db.engine.begin() as conn:
        return jobs.enqueue(conn, kind=kind, project_id=pid, run_id=rid,
                            params={"model": "mock/echo"}, actor="t", remote="t")  # fmt: skip


def _actions(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(sa.select(audit.c.action).order_by(audit.c.id)).scalars())


def test_each_job_is_claimed_by_exactly_one_of_many_workers(db: Database) -> None:
    ids = [_queue(db, pid, rid) for pid, rid in _runs(db, 40)]
    claimed: list[tuple[str, int]] = []
    start = threading.Barrier(6)

    def work() -> None:
        me = jobs.worker_name()
        start.wait()
        while (job := jobs.claim(db, me)) is not None:
            claimed.append((me, job["id"]))
            assert jobs.finish(db, job["id"], me, "done", counts={"n": 1}, cost=0.5)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [jid for _, jid in claimed]
    assert sorted(got) == ids  # every job once, none twice
    assert len({w for w, _ in claimed}) > 1  # really contended
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(jobs_table.c.status, jobs_table.c.attempts)).all()
    assert {tuple(r) for r in rows} == {("done", 1)}
    assert _actions(db).count("job.start") == 40 and _actions(db).count("job.done") == 40


def test_a_run_runs_one_job_at_a_time_in_order(db: Database) -> None:
    ((pid, rid),) = _runs(db, 1)
    first, second = _queue(db, pid, rid), _queue(db, pid, rid, "curate")
    job = jobs.claim(db, "w1")
    assert job is not None and job["id"] == first
    assert jobs.claim(db, "w2") is None  # the curate waits for the generate
    jobs.finish(db, first, "w1", "done", counts={}, cost=0.0)
    job = jobs.claim(db, "w2")
    assert job is not None and job["id"] == second and job["kind"] == "curate"


def test_a_stale_job_is_requeued_and_its_old_worker_has_lost_it(db: Database) -> None:
    ((pid, rid),) = _runs(db, 1)
    jid = _queue(db, pid, rid)
    assert jobs.claim(db, "old")["id"] == jid  # type: ignore[index]
    assert jobs.beat(db, jid, "old", {"records": 3}, 0.25) is False
    assert jobs.requeue_stale(db, 60, "new") == []  # beating: not stale
    time.sleep(0.05)
    assert jobs.requeue_stale(db, 0.01, "new") == [jid]
    assert jobs.beat(db, jid, "old", {}, 0.0) is None  # the old worker learns it lost it
    assert jobs.finish(db, jid, "old", "done", counts={}, cost=0.0) is False
    again = jobs.claim(db, "new")
    assert again is not None and again["id"] == jid and again["attempts"] == 2
    assert again["counts"] == {"records": 3} and again["cost_usd"] == 0.25  # kept
    assert "job.requeue" in _actions(db)


def test_cancel_a_queued_job_at_once_and_a_running_one_through_its_worker(db: Database) -> None:
    (p1, r1), (p2, r2) = _runs(db, 2)
    queued, running = _queue(db, p1, r1), _queue(db, p2, r2)
    with db.engine.begin() as conn:
        assert jobs.cancel(conn, queued, actor="op", remote="t") == "cancelled"
    assert jobs.claim(db, "w")["id"] == running  # type: ignore[index]
    with db.engine.begin() as conn:
        assert jobs.cancel(conn, running, actor="op", remote="t") == "running"
    assert jobs.beat(db, running, "w", {}, 0.0) is True  # the worker is told to stop it
    assert jobs.finish(db, running, "w", "cancelled", counts={}, cost=0.0)
    with db.engine.begin() as conn:
        assert jobs.cancel(conn, running, actor="op", remote="t") is None  # already over
        assert jobs.get(conn, queued)["status"] == "cancelled"  # type: ignore[index]
    assert _actions(db).count("job.cancel") == 2


def test_a_0001_database_migrates_forward_to_the_job_tables(fresh_db_url: str) -> None:
    from generator.service.migrate import current, head, upgrade

    engine = sa.create_engine(fresh_db_url.replace("postgresql://", "postgresql+psycopg://"))
    upgrade(engine, "0001")  # a database made before jobs existed
    assert not sa.inspect(engine).has_table("jobs")
    engine.dispose()
    database = open_database(fresh_db_url)
    try:
        assert current(database.engine) == head()
        assert {"runs", "jobs"} <= set(sa.inspect(database.engine).get_table_names())
    finally:
        database.close()
