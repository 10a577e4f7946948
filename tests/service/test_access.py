"""Per-project access: every id under a project the caller is not a member of (project,
document, run, job, export, record) answers 404 exactly like an unknown id, changes nothing
and shows nothing; admins see every project and manage its members."""

from __future__ import annotations

import re

import pytest

from tests.service.conftest import Server
from tests.service.helpers import error
from tests.service.matrix import MATRIX, WRITES, Ctx, call, make_ctx, prepare

SCOPED = ("{pid}", "{did}", "{rid}", "{fresh}", "{jid}", "{eid}")
UNKNOWN = 2**31 - 2
# project-scoped routes a non-admin may call, with a role that holds the right
CROSS = [(m, p, make, sorted(allowed - {"admin"})[0]) for m, p, make, allowed, _ in MATRIX
         if any(k in p for k in SCOPED) and allowed - {"admin"}]  # fmt: skip


@pytest.fixture(scope="module")
def ctx(server: Server) -> Ctx:
    return make_ctx(server)


def _rows_by(server: Server, actor: str) -> int:
    import sqlalchemy as sa

    from generator.service.db import audit

    with server.database().engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(audit).where(audit.c.actor == actor)
        return conn.execute(query).scalar_one()


def _shape(res) -> dict:  # type: ignore[no-untyped-def]
    """The 404 answer with its ids blanked, to compare an outsider's with an unknown id's."""
    assert res.status_code == 404, res.text
    body = error(res)
    return {"code": body["code"], "message": re.sub(r"\d+", "N", body["message"])}


@pytest.mark.parametrize(("method", "path", "make", "role"), CROSS,
                         ids=[f"{m} {p}" for m, p, *_ in CROSS])  # fmt: skip
def test_another_projects_ids_are_unknown(server: Server, ctx, method, path, make, role):  # type: ignore[no-untyped-def]
    fill = prepare(server, ctx, role, method, path)
    outsider = call(server, fill, f"outsider-{role}", method, path, make)
    unknown_ids = {k.strip("{}"): UNKNOWN for k in SCOPED}
    unknown = call(server, {**fill, **unknown_ids}, role, method, path, make)
    assert _shape(outsider) == _shape(unknown)  # the same words: nothing about the project
    if method in WRITES:  # nothing changed (workers write rows of their own meanwhile)
        assert _rows_by(server, f"{role}-2") == 0


def test_listing_shows_only_members_projects(server: Server, ctx) -> None:  # type: ignore[no-untyped-def]
    for role in ("operator", "reviewer", "legal"):
        with server.client(f"outsider-{role}") as c:
            ids = [p["id"] for p in c.get("/api/v1/projects").json()["items"]]
        assert ctx["pid"] not in ids
        with server.client(role) as c:
            assert ctx["pid"] in [p["id"] for p in c.get("/api/v1/projects").json()["items"]]
    with server.client("admin") as c:  # admins see every project
        assert ctx["pid"] in [p["id"] for p in c.get("/api/v1/projects").json()["items"]]
        assert c.get(f"/api/v1/projects/{ctx['pid']}").status_code == 200


def test_members_added_and_removed_by_an_admin(server: Server) -> None:
    pid = server.project()
    with server.client("outsider-operator") as outsider:
        assert outsider.get(f"/api/v1/projects/{pid}").status_code == 404
        made = outsider.post("/api/v1/projects", json={"name": f"own-{pid}"}).json()["id"]
        assert outsider.get(f"/api/v1/projects/{made}").status_code == 200  # the creator
    with server.client("admin") as admin:
        url = f"/api/v1/projects/{pid}/members"
        assert admin.post(url, json={"name": "operator-2"}).status_code == 201
        again = admin.post(url, json={"name": "operator-2"})
        assert again.status_code == 409 and error(again)["code"] == "conflict"
        assert admin.post(url, json={"name": "nobody"}).status_code == 404
        assert admin.post(url, json={"name": "gone-1"}).status_code == 409  # revoked
        assert admin.post(url, json={"name": "x", "role": "admin"}).status_code == 422
        names = {m["name"]: m for m in admin.get(url).json()["items"]}
        assert set(names) == {"operator-1", "reviewer-1", "legal-1", "operator-2"}
        assert names["operator-2"]["added_by"] == "admin-1"
        with server.client("outsider-operator") as now_member:
            assert now_member.get(f"/api/v1/projects/{pid}").status_code == 200
        assert admin.delete(f"{url}/operator-2").status_code == 204
        assert admin.delete(f"{url}/operator-2").status_code == 404
        with server.client("outsider-operator") as outsider:
            assert outsider.get(f"/api/v1/projects/{pid}").status_code == 404
        trail = admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    mine = [(r["action"], r["detail"].get("member")) for r in trail
            if r["target"] == f"project:{pid}" and "member" in r["action"]]  # fmt: skip
    assert mine[-2:] == [("project.member.add", "operator-2"),
                         ("project.member.remove", "operator-2")]  # fmt: skip
    with server.client("operator") as c:  # members do not manage members
        assert (
            c.post(f"/api/v1/projects/{pid}/members", json={"name": "legal-2"}).status_code == 403
        )
