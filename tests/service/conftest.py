"""The real server in a subprocess (uvicorn on a free loopback port), once per database.

Every test that takes ``server`` runs twice: against SQLite and against a throwaway
PostgreSQL 15 (tests/service/pg.py). Users of each role are made before the server starts;
tests make their own projects (unique names), so they do not depend on each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from generator.service import users
from generator.service.db import Database, database_url, open_database
from tests.conftest import cli_env
from tests.service.pg import free_port, pg_bindir, postgres_cluster

REPO = Path(__file__).resolve().parents[2]
ROLES = ("admin", "operator", "reviewer", "legal")
MAX_UPLOAD_MB = 1.0


@dataclass
class Server:
    url: str
    data: Path
    db_url: str
    backend: str
    tokens: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    _db: Database | None = None

    def database(self) -> Database:
        """The server's database, opened once from the test process (to check it directly)."""
        if self._db is None:
            self._db = open_database(self.db_url, migrate=False)
        return self._db

    def client(self, role: str | None = None, token: str | None = None) -> httpx.Client:
        token = token or (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def project(self, name: str | None = None) -> int:
        """A new project made by operator-1, with reviewer-1 and legal-1 added as members by
        the admin (the ``outsider-*`` users are members of none); its id."""
        with self.client("operator") as c:
            res = c.post("/api/v1/projects", json={"name": name or f"p-{uuid.uuid4().hex[:10]}"})
        assert res.status_code == 201, res.text
        pid = res.json()["id"]
        with self.client("admin") as c:
            for member in ("reviewer-1", "legal-1"):
                added = c.post(f"/api/v1/projects/{pid}/members", json={"name": member})
                assert added.status_code == 201, added.text
        return pid


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    if pg_bindir() is None and os.environ.get("CI") != "true":
        pytest.skip("PostgreSQL 15 server programs not installed (CI has them)")
    with postgres_cluster() as url:
        yield url


def _die_with_parent() -> None:
    """The server gets SIGTERM if the test process dies without stopping it (Linux)."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_server(data: Path, db_url: str, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "generator.cli", "serve", "--port", str(port), "--data",
           str(data), "--db", db_url, *extra]  # fmt: skip
    log = open(data / "server.log", "ab")  # noqa: SIM115 (the server's, closed with it)
    proc = subprocess.Popen(
        cmd, env=cli_env(), stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"serve exited {proc.returncode}: {(data / 'server.log').read_text()}"
            )
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("serve did not answer /healthz within 60 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    data = Path(tempfile.mkdtemp(prefix=f"instructforge-svc-{request.param}-"))
    if request.param == "sqlite":
        db_url = database_url(data, None)
    else:
        db_url = request.getfixturevalue("pg_url")
    db = open_database(db_url)
    tokens = {}
    try:
        for role in ROLES:
            tokens[role] = users.add(db, f"{role}-1", role, actor="tests", remote="tests")
        for role in ROLES[1:]:  # members of no project
            tokens[f"outsider-{role}"] = users.add(
                db, f"{role}-2", role, actor="tests", remote="tests"
            )
        tokens["revoked"] = users.add(db, "gone-1", "operator", actor="tests", remote="tests")
        users.revoke(db, "gone-1", actor="tests", remote="tests")
    finally:
        db.close()
    proc, url = start_server(data, db_url, "--max-upload-mb", str(MAX_UPLOAD_MB))
    try:
        srv = Server(url, data, db_url, request.param, tokens, proc)
        yield srv
    finally:
        stop_server(proc)
        srv.database().close()
        shutil.rmtree(data, ignore_errors=True)


def audit_count(server: Server) -> int:
    """Rows in the audit trail written by API callers, read straight from the database (the
    workers' own rows, of jobs other tests queued, come and go in the background)."""
    import sqlalchemy as sa

    from generator.service.db import audit

    query = sa.select(sa.func.count()).select_from(audit).where(~audit.c.actor.like("worker:%"))
    with server.database().engine.connect() as conn:
        return conn.execute(query).scalar_one()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database of each kind (its own PostgreSQL database in the cluster), so a
    test's server or queue shares nothing with the session's server."""
    if request.param == "sqlite":
        return database_url(tmp_path, None)
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(request.getfixturevalue("pg_url"))
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres",
                         autocommit=True) as conn:  # fmt: skip
        conn.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)
