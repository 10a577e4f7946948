"""Tokens and roles: 401 without a live token, 403 for a role without the right, for every
endpoint x every role; a refused call changes nothing (no audit row, no data)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.service.conftest import ROLES, Server, audit_count
from tests.service.helpers import DOC, error, files

Ctx = dict[str, Any]
READERS = {"operator", "reviewer", "legal"}
# (method, path template, request kwargs maker, roles allowed, success status)
MATRIX: list[tuple[str, str, Callable[[Ctx], dict[str, Any]], set[str], int]] = [
    ("GET", "/api/v1/me", lambda c: {}, set(ROLES), 200),
    ("POST", "/api/v1/projects", lambda c: {"json": {"name": f"m-{uuid.uuid4().hex}"}},
     {"operator"}, 201),
    ("GET", "/api/v1/projects", lambda c: {}, {"operator", "reviewer", "legal"}, 200),
    ("GET", "/api/v1/projects/{pid}", lambda c: {}, {"operator", "reviewer", "legal"}, 200),
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
    # the role got past the check: an unknown record (404), a run with nothing to sign (409)
    ("POST", "/api/v1/runs/{rid}/review/{record_id}", lambda c: {"json": {"decision": "accept"}},
     {"reviewer"}, 404),
    ("POST", "/api/v1/runs/{rid}/signoffs",
     lambda c: {"json": {"policy": "mock", "use": "evaluation", "note": "ok"}}, {"legal"}, 409),
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
WRITES = {"POST"}


@pytest.fixture(scope="module")
def ctx(server: Server) -> Ctx:
    pid = server.project()
    with server.client("operator") as c:
        res = c.post(f"/api/v1/projects/{pid}/documents", files=files(("leave.md", DOC)))
        assert res.status_code == 200, res.text
        did = c.get(f"/api/v1/projects/{pid}/documents").json()["items"][0]["id"]
    with server.client("admin") as c:
        for name in ("other-1",):
            assert c.post("/api/v1/users", json={"name": name, "role": "legal"}).status_code == 201
    rid, jid = _quiet_run(server, pid)
    return {
        "pid": pid,
        "did": did,
        "other": "other-1",
        "rid": rid,
        "jid": jid,
        "fresh": rid,
        "record_id": "no-such-record",
        "eid": _quiet_export(server, rid),
        "file": "manifest.json",
    }


def _quiet_run(server: Server, pid: int) -> tuple[int, int]:
    """A run whose job is cancelled at once (so the matrix does not fill the job queue)."""
    with server.client("operator") as c:
        res = c.post(f"/api/v1/projects/{pid}/runs", json={"model": "mock/echo", "records": 1})
        assert res.status_code == 202, res.text
        c.post(f"/api/v1/runs/{res.json()['id']}/cancel")
    return res.json()["id"], res.json()["job"]


def _quiet_export(server: Server, rid: int) -> int:
    """An export job of the run, cancelled before it runs."""
    with server.client("operator") as c:
        res = c.post(f"/api/v1/runs/{rid}/exports", json={"format": "alpaca", "use": "evaluation"})
        assert res.status_code == 202, res.text
        c.post(f"/api/v1/runs/{rid}/cancel")
    return res.json()["id"]


def _victim(server: Server) -> str:
    name = f"v{uuid.uuid4().hex[:12]}"
    with server.client("admin") as c:
        assert c.post("/api/v1/users", json={"name": name, "role": "reviewer"}).status_code == 201
    return name


def _call(server: Server, ctx: Ctx, role: str | None, method: str, path: str, make, token=None):  # type: ignore[no-untyped-def]
    fill = {**ctx, "victim": _victim(server) if "{victim}" in path else ""}
    if "{fresh}" in path and role == "operator":  # cancel needs a run with a live job
        fill["fresh"] = _quiet_run(server, ctx["pid"])[0]
        with server.client("operator") as c:  # its job is live again
            c.post(f"/api/v1/runs/{fill['fresh']}/curate", json={})
    with server.client(role, token=token) as c:
        return c.request(method, path.format(**fill), **make(ctx))


def test_matrix_covers_every_endpoint(server: Server) -> None:
    """A new endpoint must be added to MATRIX (and so to the role tests) to pass."""
    spec = server.client().get("/openapi.json").json()
    routes = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routes.discard(("GET", "/healthz"))
    listed = {
        (
            m,
            p.replace("{victim}", "{name}")
            .replace("{other}", "{name}")
            .replace("{fresh}", "{rid}")
            .replace("{file}", "{name}"),
        )
        for m, p, *_ in MATRIX
    }
    assert routes == listed


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "make", "allowed", "ok"), MATRIX,
                         ids=[f"{m} {p}" for m, p, *_ in MATRIX])  # fmt: skip
def test_role_matrix(server, ctx, role, method, path, make, allowed, ok):  # type: ignore[no-untyped-def]
    before = audit_count(server) if method in WRITES and "{victim}" not in path else None
    res = _call(server, ctx, role, method, path, make)
    if role in allowed:
        assert res.status_code == ok, res.text
        if ok == 202 and "job" in res.json():  # a queued job: cancel it, keep the queue short
            with server.client("operator") as c:
                c.post(
                    f"/api/v1/runs/{res.json()['id'] if '/projects/' in path else ctx['rid']}"
                    "/cancel"
                )
    else:
        assert res.status_code == 403, res.text
        assert error(res)["code"] == "forbidden"
        if before is not None:
            assert audit_count(server) == before  # refused: nothing was changed


@pytest.mark.parametrize(("method", "path", "make", "allowed", "ok"), MATRIX,
                         ids=[f"{m} {p}" for m, p, *_ in MATRIX])  # fmt: skip
@pytest.mark.parametrize("token", [None, "garbage", "ifk_aaaaaaaaaaaaaaaa_" + "b" * 43, "revoked"])
def test_401_without_a_live_token(server, ctx, method, path, make, allowed, ok, token):  # type: ignore[no-untyped-def]
    real = server.tokens["revoked"] if token == "revoked" else token
    before = audit_count(server)
    res = _call(server, {**ctx, "victim": "x"}, None, method, path.replace("{victim}", "x"),
                make, token=real)  # fmt: skip
    assert res.status_code == 401, res.text
    assert error(res)["code"] == "unauthorized"
    assert res.headers["www-authenticate"] == "Bearer"
    assert audit_count(server) == before


def test_healthz_needs_no_token(server: Server) -> None:
    res = server.client().get("/healthz")
    assert res.status_code == 200
    assert res.json() == {"status": "ok", "database": server.backend}


def test_wrong_scheme_and_tampered_token(server: Server) -> None:
    token = server.tokens["operator"]
    with server.client() as c:
        basic = c.get("/api/v1/me", headers={"Authorization": f"Basic {token}"})
        tampered = c.get("/api/v1/me", headers={"Authorization": f"Bearer {token[:-1]}x"})
        good = c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert basic.status_code == 401
    assert tampered.status_code == 401
    assert good.status_code == 200


def test_passwd_revokes_the_old_token_and_revoke_disables_the_user(server: Server) -> None:
    with server.client("admin") as admin:
        first = admin.post("/api/v1/users", json={"name": f"t{uuid.uuid4().hex[:8]}",
                                                   "role": "reviewer"}).json()  # fmt: skip
        name = first["name"]
        with server.client(token=first["token"]) as c:
            assert c.get("/api/v1/me").json() == {"name": name, "role": "reviewer"}
        second = admin.post(f"/api/v1/users/{name}/token").json()["token"]
        with server.client(token=first["token"]) as c:
            assert c.get("/api/v1/me").status_code == 401
        with server.client(token=second) as c:
            assert c.get("/api/v1/me").status_code == 200
        assert admin.post(f"/api/v1/users/{name}/revoke").status_code == 204
        with server.client(token=second) as c:
            assert c.get("/api/v1/me").status_code == 401
        again = admin.post(f"/api/v1/users/{name}/revoke")
        assert again.status_code == 409 and error(again)["code"] == "conflict"
        missing = admin.post("/api/v1/users/nobody-here/revoke")
        assert missing.status_code == 404
        dup = admin.post("/api/v1/users", json={"name": name, "role": "legal"})
        assert dup.status_code == 409
        listed = {u["name"]: u for u in admin.get("/api/v1/users").json()["items"]}
    assert listed[name]["revoked_at"] and listed[name]["tokens"] == 0
    assert "token" not in listed[name] and "secret_sha256" not in str(listed)
