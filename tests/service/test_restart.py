"""Kill-and-restart: a server SIGKILLed mid-run resumes the run on restart, from its
journal, with no record lost or written twice and no provider call paid twice."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa

from generator.service import users
from generator.service.db import audit, open_database
from generator.service.workers import wait_free
from tests.service.conftest import start_server, stop_server
from tests.service.helpers import files
from tests.service.jobs_helpers import wait_for

DOCS = 8  # one chunk each: 8 work units at 0.6 s a call, one call in flight


def _journal(run: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(run / "run.sqlite")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_killed_server_resumes_its_run_on_restart(fresh_db_url: str, tmp_path: Path) -> None:
    import httpx

    data = tmp_path / "data"
    data.mkdir()
    db = open_database(fresh_db_url)
    token = users.add(db, "op", "operator", actor="tests", remote="tests")
    beat = ("--heartbeat", "0.5")
    proc, url = start_server(data, fresh_db_url, *beat)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=url, headers=auth, timeout=30) as c:
            pid = c.post("/api/v1/projects", json={"name": "restart"}).json()["id"]
            docs = [(f"d{i}.md", f"# Topic {i}\n\nFact {i} is that item {i} costs {i} euros. "
                     f"It ships in {i + 2} days.\n".encode()) for i in range(DOCS)]  # fmt: skip
            assert (
                c.post(f"/api/v1/projects/{pid}/documents", files=files(*docs)).status_code == 200
            )
            body = {"model": "mock/echo?latency_ms=600", "concurrency": 1}
            rid = c.post(f"/api/v1/projects/{pid}/runs", json=body).json()["id"]
            deadline = time.monotonic() + 120
            while c.get(f"/api/v1/runs/{rid}").json()["counts"].get("units_done", 0) < 1:
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.1)
        proc.kill()  # SIGKILL: no shutdown, no requeue, the job row says "running"
        proc.wait()
        run = data / "projects" / str(pid) / "runs" / str(rid)
        # the server's child stops with it (PR_SET_PDEATHSIG) rather than finish the run alone
        assert wait_free(run, 30), "the killed server's child still holds the run"
        done_at_kill = _journal(run, "SELECT COUNT(*) FROM gen_units")[0][0]
        assert done_at_kill < DOCS, "the child went on after its server was killed"

        proc, url = start_server(data, fresh_db_url, *beat)
        with httpx.Client(base_url=url, headers=auth, timeout=30) as c:
            final = wait_for(c, f"/api/v1/runs/{rid}", timeout=240)
            job = c.get(f"/api/v1/jobs/{final['job']}").json()
    finally:
        stop_server(proc)
    assert final["status"] == "done", final
    assert job["attempts"] == 2
    # every unit done once; no request paid twice; every record once, in the file and journal
    assert _journal(run, "SELECT COUNT(*) FROM gen_units")[0][0] == DOCS
    paid = [h for (h,) in _journal(run, "SELECT request_hash FROM gen_calls WHERE status='ok'")]
    assert len(paid) == len(set(paid)) >= DOCS
    sessions = [s for (s,) in _journal(run, "SELECT status FROM gen_sessions ORDER BY id")]
    # the first session ended by the signal ("interrupted"), or before it could say so
    assert sessions[0] in ("interrupted", "running") and sessions[1:] == ["done"], sessions
    ids = [json.loads(line)["meta"]["id"] for line in (run / "records.jsonl").open()]
    assert len(ids) == len(set(ids)) == final["counts"]["records"]
    assert set(ids) == {i for (i,) in _journal(run, "SELECT id FROM gen_records")}
    with db.engine.connect() as conn:
        trail = conn.execute(sa.select(audit.c.action, audit.c.detail)).all()
    db.close()
    assert ("job.requeue", json.dumps({"why": "stale heartbeat"})) in [tuple(r) for r in trail]
    shutil.rmtree(data, ignore_errors=True)


def test_stopping_a_server_queues_its_running_job_again(fresh_db_url: str, tmp_path: Path) -> None:
    import httpx

    from generator.service import jobs

    data = tmp_path / "data"
    data.mkdir()
    db = open_database(fresh_db_url)
    token = users.add(db, "op", "operator", actor="tests", remote="tests")
    proc, url = start_server(data, fresh_db_url)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:  # fmt: skip
            pid = c.post("/api/v1/projects", json={"name": "stop"}).json()["id"]
            c.post(f"/api/v1/projects/{pid}/documents", files=files(("a.md", b"# A\n\nA b c.\n")))
            res = c.post(f"/api/v1/projects/{pid}/runs",
                         json={"model": "mock/echo?latency_ms=5000", "concurrency": 1})  # fmt: skip
            wait_for(c, f"/api/v1/runs/{res.json()['id']}", until={"running"}, timeout=60)
    finally:
        stop_server(proc)  # SIGTERM: a graceful stop
    with db.engine.connect() as conn:
        job = jobs.get(conn, res.json()["job"])
        actions = conn.execute(sa.select(audit.c.action)).scalars().all()
    db.close()
    assert job is not None
    assert (job["status"], job["claimed_by"], job["heartbeat"]) == ("queued", None, None)
    assert "job.requeue" in actions


def test_two_servers_share_one_database_and_split_the_jobs(
    fresh_db_url: str, tmp_path: Path
) -> None:
    import httpx

    data = tmp_path / "data"
    data.mkdir()
    db = open_database(fresh_db_url)
    token = users.add(db, "op", "operator", actor="tests", remote="tests")
    servers = [start_server(data, fresh_db_url) for _ in range(2)]
    try:
        with httpx.Client(base_url=servers[0][1], headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:  # fmt: skip
            pid = c.post("/api/v1/projects", json={"name": "shared"}).json()["id"]
            c.post(f"/api/v1/projects/{pid}/documents", files=files(("a.md", b"# A\n\nA b c.\n")))
            body = {"model": "mock/echo?latency_ms=2000", "records": 1}
            rids = [c.post(f"/api/v1/projects/{pid}/runs", json=body).json()["id"] for _ in "ab"]
            ended = [wait_for(c, f"/api/v1/runs/{rid}", timeout=180) for rid in rids]
    finally:
        for proc, _ in servers:
            stop_server(proc)
    assert [r["status"] for r in ended] == ["done", "done"], ended
    with db.engine.connect() as conn:
        starts = conn.execute(
            sa.select(audit.c.actor).where(audit.c.action == "job.start")
        ).scalars().all()  # fmt: skip
    db.close()
    assert len(starts) == 2
    pids = {actor.split(":")[2] for actor in starts}  # worker:HOST:PID:TAG
    assert pids == {str(proc.pid) for proc, _ in servers}  # one job each, one claim each


def test_workers_0_serves_the_api_and_runs_no_job(fresh_db_url: str, tmp_path: Path) -> None:
    import httpx

    data = tmp_path / "data"
    data.mkdir()
    db = open_database(fresh_db_url)
    token = users.add(db, "op", "operator", actor="tests", remote="tests")
    db.close()
    proc, url = start_server(data, fresh_db_url, "--workers", "0")
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:  # fmt: skip
            pid = c.post("/api/v1/projects", json={"name": "api-only"}).json()["id"]
            rid = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo"}).json()["id"]
            time.sleep(3)  # three polls of a worker, had there been one
            assert c.get(f"/api/v1/runs/{rid}").json()["status"] == "queued"
    finally:
        stop_server(proc)
