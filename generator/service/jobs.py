"""The job queue: rows in the ``jobs`` table, claimed atomically by workers of any server.

A job moves ``queued -> running -> done | failed | stopped | cancelled``; a running job
whose worker stops beating (its server was killed) goes back to ``queued`` and is run
again, and the stage resumes from its run journal. Every change is one statement guarded
by the state it expects (and, for a running job, by ``claimed_by``), so two workers never
both win, and a worker that lost its claim learns it at its next heartbeat.

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING``: on PostgreSQL the
inner select takes ``FOR UPDATE SKIP LOCKED`` under a transaction-level advisory lock (so
the "no other job of this run is running" test cannot race); SQLite runs one writer at a
time, so the single statement is atomic there. Every state change writes its audit row in
the same transaction.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from generator.service import audit
from generator.service.db import Database, jobs, now

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled", "stopped")
_CLAIM_LOCK = 0x1F0E6F  # advisory lock key of the claim (PostgreSQL)


def worker_name() -> str:
    """A name unique to this worker: host, pid and a random tail (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def stamp(seconds_ago: float) -> str:
    """The stored time ``seconds_ago`` before now."""
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_json(row: Any) -> dict[str, Any]:
    """A job row with its JSON columns decoded."""
    out = dict(row)
    out["params"] = json.loads(out["params"])
    out["counts"] = json.loads(out["counts"])
    out["cancel_requested"] = bool(out["cancel_requested"])
    return out


def enqueue(
    conn: Connection,
    *,
    kind: str,
    project_id: int,
    run_id: int,
    params: dict[str, Any],
    actor: str,
    remote: str,
) -> int:
    """Queue a job (inside the caller's transaction); its id."""
    jid = conn.execute(
        jobs.insert().values(
            kind=kind, project_id=project_id, run_id=run_id, params=json.dumps(params),
            status="queued", cancel_requested=False, counts="{}", cost_usd=0.0, attempts=0,
            created_by=actor, created_at=now(),
        )
    ).inserted_primary_key[0]  # fmt: skip
    audit.record(conn, actor=actor, action="job.queue", target=f"job:{jid}", remote=remote,
                 detail={"kind": kind, "run": run_id, "params": params})  # fmt: skip
    return int(jid)


def get(conn: Connection, jid: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(jobs).where(jobs.c.id == jid)).mappings().first()
    return row_json(row) if row else None


def claim(db: Database, worker: str) -> dict[str, Any] | None:
    """Take the oldest queued job whose run has no running job; None when there is none."""
    busy = jobs.alias("busy")
    pick = (
        sa.select(jobs.c.id)
        .where(jobs.c.status == "queued")
        .where(~sa.exists().where(busy.c.run_id == jobs.c.run_id, busy.c.status == "running"))
        .order_by(jobs.c.id)
        .limit(1)
    )
    if db.dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True, of=jobs)
    at = now()
    stmt = (
        jobs.update()
        .where(jobs.c.id == pick.scalar_subquery(), jobs.c.status == "queued")
        .values(
            status="running",
            claimed_by=worker,
            heartbeat=at,
            started_at=at,
            attempts=jobs.c.attempts + 1,
        )
        .returning(*jobs.c)
    )
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})
        row = conn.execute(stmt).mappings().first()
        if row is None:
            return None
        job = row_json(row)
        audit.record(conn, actor=_actor(worker), action="job.start", target=f"job:{job['id']}",
                     remote=_host(worker), detail={"attempt": job["attempts"]})  # fmt: skip
    return job


def beat(db: Database, jid: int, worker: str, counts: dict[str, Any], cost: float) -> bool | None:
    """Record progress; whether a cancel was asked, or None if this worker lost the job."""
    stmt = (
        jobs.update()
        .where(jobs.c.id == jid, jobs.c.claimed_by == worker, jobs.c.status == "running")
        .values(heartbeat=now(), counts=json.dumps(counts), cost_usd=cost)
        .returning(jobs.c.cancel_requested)
    )
    with db.engine.begin() as conn:
        row = conn.execute(stmt).first()
    return None if row is None else bool(row[0])


def finish(
    db: Database,
    jid: int,
    worker: str,
    status: str,
    *,
    counts: dict[str, Any],
    cost: float,
    error: str | None = None,
    exit_code: int | None = None,
) -> bool:
    """End a running job this worker holds (``queued`` puts it back); False if it lost it."""
    assert status in (*FINAL, "queued")
    values: dict[str, Any] = {"status": status, "counts": json.dumps(counts), "cost_usd": cost,
                              "error": error, "exit_code": exit_code}  # fmt: skip
    if status == "queued":
        values.update(claimed_by=None, heartbeat=None)
    else:
        values["ended_at"] = now()
    with db.engine.begin() as conn:
        done = conn.execute(
            jobs.update()
            .where(jobs.c.id == jid, jobs.c.claimed_by == worker, jobs.c.status == "running")
            .values(**values)
        ).rowcount
        if done:
            action = "job.requeue" if status == "queued" else f"job.{status}"
            audit.record(conn, actor=_actor(worker), action=action, target=f"job:{jid}",
                         remote=_host(worker), detail={"error": error, "exit_code": exit_code,
                                                       "cost_usd": cost})  # fmt: skip
    return bool(done)


def requeue_stale(db: Database, stale_after: float, worker: str) -> list[int]:
    """Put back running jobs whose worker has not beaten for ``stale_after`` seconds."""
    stmt = (
        jobs.update()
        .where(jobs.c.status == "running", jobs.c.heartbeat < stamp(stale_after))
        .values(status="queued", claimed_by=None, heartbeat=None)
        .returning(jobs.c.id, jobs.c.claimed_by)
    )
    with db.engine.begin() as conn:
        rows = conn.execute(stmt).all()
        for jid, _old in rows:
            audit.record(conn, actor=_actor(worker), action="job.requeue", target=f"job:{jid}",
                         remote=_host(worker), detail={"why": "stale heartbeat"})  # fmt: skip
    return [r[0] for r in rows]


def cancel(conn: Connection, jid: int, *, actor: str, remote: str) -> str | None:
    """Cancel a queued job at once, or ask the worker of a running one to stop it.
    The resulting status (``cancelled``, or ``running`` until the worker stops it), or
    None when the job has already ended."""
    at = now()
    if conn.execute(
        jobs.update().where(jobs.c.id == jid, jobs.c.status == "queued")
        .values(status="cancelled", ended_at=at)
    ).rowcount:  # fmt: skip
        result = "cancelled"
    elif conn.execute(
        jobs.update().where(jobs.c.id == jid, jobs.c.status == "running")
        .values(cancel_requested=True)
    ).rowcount:  # fmt: skip
        result = "running"
    else:
        return None
    audit.record(conn, actor=actor, action="job.cancel", target=f"job:{jid}", remote=remote,
                 detail={"status": result})  # fmt: skip
    return result


def _actor(worker: str) -> str:
    return f"worker:{worker}"[:64]


def _host(worker: str) -> str:
    return worker.split(":", 1)[0][:64]
