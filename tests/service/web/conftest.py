"""The web app's tests: one real server (SQLite; the session and password tables are also
checked on PostgreSQL in test_sessions.py), a user per role (the reviewer also has a
password), and one finished mock run whose documents hold hostile text."""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from generator.service import passwords, users
from generator.service.db import database_url, open_database
from tests.service.conftest import ROLES, Server, start_server, stop_server
from tests.service.jobs_helpers import wait_for

PASSWORD = "correct horse battery staple"
HOSTILE = b'<script>alert("pwned")</script>'
DOC = (
    b"# Leave\n\nEmployees get 25 days of paid leave a year. Requests go to the manager.\n\n"
    b"Sick leave needs a note from the third day. " + HOSTILE + b" Unused leave expires in March.\n"
)


def varied_doc(parts: int = 60) -> bytes:
    """A long document of made-up words: mock records from it pass the novelty check, so a
    run gets as many records as it asks for."""
    import random

    rnd = random.Random(1)
    syl = ["ka", "lo", "mi", "ren", "tas", "vo", "pel", "dru", "sin", "gor", "fa", "ne", "bas"]
    word = lambda: "".join(rnd.choice(syl) for _ in range(rnd.randint(2, 3)))  # noqa: E731
    sentence = lambda: " ".join(word() for _ in range(9)).capitalize() + "."  # noqa: E731
    return "\n\n".join(
        f"## Part {i}\n\n" + " ".join(sentence() for _ in range(5)) for i in range(parts)
    ).encode()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def signed_in(self, role: str) -> tuple[httpx.Client, str]:
        """A client with a session for ``role`` (signed in with its token), and its CSRF."""
        c = httpx.Client(base_url=self.url, timeout=60)
        page = c.get("/login")
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        res = c.post("/login", data={"csrf": token, "token": self.server.tokens[role]})
        assert res.status_code == 303, res.text
        return c, session_csrf(c)

    def api(self, role: str) -> httpx.Client:
        return self.server.client(role)


def session_csrf(c: httpx.Client) -> str:
    """The session's CSRF token, as the sign-out form of any page carries it."""
    page = c.get("/login", follow_redirects=True)
    m = CSRF.search(page.text)
    assert m, page.text[:500]
    return m.group(1)


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    data = Path(tempfile.mkdtemp(prefix="instructforge-web-"))
    db_url = database_url(data, None)
    db = open_database(db_url)
    tokens = {}
    try:
        for role in ROLES:
            tokens[role] = users.add(db, f"{role}-1", role, actor="tests", remote="tests")
        passwords.set_password(db, "reviewer-1", PASSWORD, actor="tests", remote="tests")
    finally:
        db.close()
    proc, url = start_server(data, db_url)
    srv = Server(url, data, db_url, "sqlite", tokens, proc)
    try:
        yield Site(srv)
    finally:
        stop_server(proc)
        srv.database().close()
        shutil.rmtree(data, ignore_errors=True)


def make_run(site: Site, records: int = 12, doc: bytes = DOC, **params: object) -> tuple[int, int]:
    """A project with one document and a finished mock run: (project id, run id)."""
    pid = site.server.project(f"web-{uuid.uuid4().hex[:8]}")
    with site.api("operator") as c:
        res = c.post(
            f"/api/v1/projects/{pid}/documents",
            files=[("files", ("leave.md", doc, "text/markdown"))],
        )
        assert res.status_code == 200, res.text
        body = {"model": "mock/echo", "records": records, **params}
        rid = c.post(f"/api/v1/projects/{pid}/runs", json=body).json()["id"]
        assert wait_for(c, f"/api/v1/runs/{rid}")["status"] == "done"
    return pid, rid


@pytest.fixture(scope="session")
def done_run(site: Site) -> tuple[int, int]:
    return make_run(site)
