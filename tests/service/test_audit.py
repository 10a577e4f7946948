"""The audit trail: a row for every state change (who, what, target, from where), read by
admins page by page, and append-only in the database itself."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from generator.service.db import audit
from tests.service.conftest import Server
from tests.service.helpers import DOC, files


def _all(server: Server, **params) -> list[dict]:  # type: ignore[no-untyped-def]
    rows, cursor = [], None
    with server.client("admin") as c:
        while True:
            page = c.get(
                "/api/v1/audit",
                params={**params, "limit": 7, **({"cursor": cursor} if cursor else {})},
            )
            assert page.status_code == 200, page.text
            body = page.json()
            rows += body["items"]
            cursor = body["next"]
            if cursor is None:
                return rows


def test_every_change_is_recorded(server: Server) -> None:
    start = _all(server)
    since = start[-1]["at"] if start else None
    time.sleep(0.01)
    pid = server.project()
    with server.client("operator") as c:
        c.post(f"/api/v1/projects/{pid}/documents", files=files(("a.md", DOC), ("b.exe", b"x")))
    with server.client("admin") as c:
        c.post("/api/v1/users", json={"name": f"aud{pid}", "role": "legal"})
        c.post(f"/api/v1/users/aud{pid}/token")
        c.post(f"/api/v1/users/aud{pid}/revoke")
    rows = _all(server, **({"since": since} if since else {}))
    new = [r for r in rows if r["id"] > (start[-1]["id"] if start else 0)
           and not r["actor"].startswith("worker:")]  # jobs of other tests, meanwhile  # fmt: skip
    assert [(r["actor"], r["action"], r["target"]) for r in new] == [
        ("operator-1", "project.create", f"project:{pid}"),
        ("admin-1", "project.member.add", f"project:{pid}"),  # reviewer-1, legal-1
        ("admin-1", "project.member.add", f"project:{pid}"),
        ("operator-1", "documents.upload", f"project:{pid}"),
        ("admin-1", "user.add", f"user:aud{pid}"),
        ("admin-1", "user.passwd", f"user:aud{pid}"),
        ("admin-1", "user.revoke", f"user:aud{pid}"),
    ]
    assert all(r["remote"] == "127.0.0.1" for r in new)
    assert new[1]["detail"] == {"member": "reviewer-1", "role": "reviewer"}
    assert new[3]["detail"] == {"files": 2, "ingested": 1, "skipped": 1}
    assert new[4]["detail"] == {"role": "legal"}
    assert "token" not in str(new).lower().replace("user.passwd", "")
    ats = [r["at"] for r in rows]
    assert ats == sorted(ats) and (since is None or min(ats) >= since)
    # the setup's CLI-style rows (made before the server started) are there too
    assert any(r["action"] == "user.revoke" and r["target"] == "user:gone-1" for r in _all(server))


def test_since_in_the_future_is_empty(server: Server) -> None:
    with server.client("admin") as c:
        body = c.get("/api/v1/audit", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert body == {"items": [], "next": None}


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_database_refuses_to_change_audit_rows(server: Server, statement: str) -> None:
    engine = server.database().engine
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar_one()
    query = audit.update().values(actor="someone else") if statement == "update" else audit.delete()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(query)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar_one() == count
        assert conn.execute(sa.select(audit).where(audit.c.actor == "someone else")).first() is None
