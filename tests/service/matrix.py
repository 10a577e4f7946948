"""The role matrix: every endpoint (method, path, request maker, roles allowed, success
status), and the ids and users its calls need. Used by test_auth (roles, tokens) and
test_access (another project's ids)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.service.conftest import ROLES, Server
from tests.service.helpers import DOC, files

Ctx = dict[str, Any]
READERS = {"operator", "reviewer", "legal"}
# (method, path template, request kwargs maker, roles allowed, success status)
MATRIX: list[tuple[str, str, Callable[[Ctx], dict[str, Any]], set[str], int]] = [
    ("GET", "/api/v1/me", lambda c: {}, set(ROLES), 200),
    ("POST", "/api/v1/projects", lambda c: {"json": {"name": f"m-{uuid.uuid4().hex}"}},
     {"operator"}, 201),
    ("GET", "/api/v1/projects", lambda c: {}, set(ROLES), 200),
    ("GET", "/api/v1/projects/{pid}", lambda c: {}, set(ROLES), 200),
    ("GET", "/api/v1/projects/{pid}/members", lambda c: {}, set(ROLES), 200),
    ("POST", "/api/v1/projects/{pid}/members", lambda c: {"json": {"name": c["member"]}},
     {"admin"}, 201),
    ("DELETE", "/api/v1/projects/{pid}/members/{member}", lambda c: {}, {"admin"}, 204),
    ("POST", "/api/v1/projects/{pid}/documents",
     lambda c: {"files": files((f"{uuid.uuid4().hex}.md", DOC))}, {"operator"}, 200),
    ("GET", "/api/v1/projects/{pid}/documents", lambda c: {}, {"operator", "reviewer", "legal"},
     200),
    ("GET", "/api/v1/projects/{pid}/documents/{did}", lambda c: {},
     {"operator", "reviewer", "legal"}, 200),
    ("POST", "/api/v1/projects/{pid}/runs", lambda c: {"json": {"model": "mock/echo",
                                                                "records": 1}}, {"operator"}, 202),
    ("GET", "/api/v1/projects/{pid}/runs", lambda c: {}, READERS, 200),
    ("GET", "/api/v1/runs/{rid}", lambda c: {}, READERS, 200),
    ("GET", "/api/v1/runs/{rid}/events", lambda c: {}, READERS, 200),
    ("POST", "/api/v1/runs/{fresh}/cancel", lambda c: {}, {"operator"}, 202),
    ("POST", "/api/v1/runs/{rid}/curate", lambda c: {"json": {}}, {"operator"}, 202),
    ("POST", "/api/v1/runs/{rid}/exports", lambda c: {"json": {"format": "alpaca",
                                                               "use": "evaluation"}},
     {"operator", "legal"}, 202),
    ("GET", "/api/v1/runs/{rid}/records", lambda c: {}, READERS, 200),
    ("GET", "/api/v1/runs/{rid}/review", lambda c: {}, READERS, 200),
    # the role got past the check: an unknown record (404), a policy the gate does not know (422)
    ("POST", "/api/v1/runs/{rid}/review/{record_id}", lambda c: {"json": {"decision": "accept"}},
     {"reviewer"}, 404),
    ("POST", "/api/v1/runs/{rid}/signoffs",
     lambda c: {"json": {"policy": "no-such-policy", "use": "evaluation", "note": "ok"}},
     {"legal"}, 422),
    ("GET", "/api/v1/jobs/{jid}", lambda c: {}, READERS, 200),
    # an export job cancelled before it ran: found, no files (404 for a name)
    ("GET", "/api/v1/exports/{eid}", lambda c: {}, {"operator", "legal"}, 200),
    ("GET", "/api/v1/exports/{eid}/files/{file}", lambda c: {}, {"operator", "legal"}, 404),
    ("GET", "/api/v1/users", lambda c: {}, {"admin"}, 200),
    ("POST", "/api/v1/users", lambda c: {"json": {"name": f"u{uuid.uuid4().hex[:12]}",
                                                  "role": "reviewer"}}, {"admin"}, 201),
    ("POST", "/api/v1/users/{victim}/revoke", lambda c: {}, {"admin"}, 204),
    ("POST", "/api/v1/users/{other}/token", lambda c: {}, {"admin"}, 200),
    ("GET", "/api/v1/audit", lambda c: {}, {"admin"}, 200),
]  # fmt: skip
WRITES = {"POST", "DELETE"}


def make_ctx(server: Server) -> Ctx:
    """The ids the matrix fills in: a project with a document, a run, a job, an export."""
    pid = server.project()
    with server.client("operator") as c:
        res = c.post(f"/api/v1/projects/{pid}/documents", files=files(("leave.md", DOC)))
        assert res.status_code == 200, res.text
        did = c.get(f"/api/v1/projects/{pid}/documents").json()["items"][0]["id"]
    with server.client("admin") as c:
        other = f"other-{uuid.uuid4().hex[:8]}"
        assert c.post("/api/v1/users", json={"name": other, "role": "legal"}).status_code == 201
    rid, jid = quiet_run(server, pid)
    return {
        "pid": pid,
        "did": did,
        "other": other,
        "rid": rid,
        "jid": jid,
        "fresh": rid,
        "record_id": "no-such-record",
        "eid": quiet_export(server, rid),
        "file": "manifest.json",
    }


def quiet_run(server: Server, pid: int) -> tuple[int, int]:
    """A run whose job is cancelled at once (so the matrix does not fill the job queue)."""
    with server.client("operator") as c:
        res = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo", "records": 1})
        assert res.status_code == 202, res.text
        c.post(f"/api/v1/runs/{res.json()['id']}/cancel")
    return res.json()["id"], res.json()["job"]


def quiet_export(server: Server, rid: int) -> int:
    """An export job of the run, cancelled before it runs."""
    with server.client("operator") as c:
        res = c.post(f"/api/v1/runs/{rid}/exports", json={"format": "alpaca", "use": "evaluation"})
        assert res.status_code == 202, res.text
        c.post(f"/api/v1/runs/{rid}/cancel")
    return res.json()["id"]


def victim(server: Server) -> str:
    name = f"v{uuid.uuid4().hex[:12]}"
    with server.client("admin") as c:
        assert c.post("/api/v1/users", json={"name": name, "role": "reviewer"}).status_code == 201
    return name


def prepare(server: Server, ctx: Ctx, role: str | None, method: str, path: str) -> Ctx:
    """The ids of one call: new users and memberships where the call uses them up."""
    fill = {**ctx, "victim": victim(server) if "{victim}" in path else ctx.get("victim", "")}
    fill["member"] = victim(server) if path.endswith("/members") else "x"
    if "{member}" in path:  # a member to remove
        fill["member"] = victim(server)
        with server.client("admin") as c:
            res = c.post(f"/api/v1/projects/{ctx['pid']}/members", json={"name": fill["member"]})
            assert res.status_code == 201, res.text
    if "{fresh}" in path and role == "operator":  # cancel needs a run with a live job
        fill["fresh"] = quiet_run(server, ctx["pid"])[0]
        with server.client("operator") as c:  # its job is live again
            c.post(f"/api/v1/runs/{fill['fresh']}/curate", json={})
    return fill


def call(server: Server, fill: Ctx, role: str | None, method: str, path: str, make, token=None):  # type: ignore[no-untyped-def]
    with server.client(role, token=token) as c:
        return c.request(method, path.format(**fill), **make(fill))
