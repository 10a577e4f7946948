"""Tokens and roles: 401 without a live token, 403 for a role without the right, for every
endpoint x every role; a refused call changes nothing (no audit row, no data)."""

from __future__ import annotations

import uuid

import pytest

from tests.service.conftest import ROLES, Server, audit_count
from tests.service.helpers import error
from tests.service.matrix import MATRIX, WRITES, Ctx, call, make_ctx, prepare


@pytest.fixture(scope="module")
def ctx(server: Server) -> Ctx:
    return make_ctx(server)


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
            .replace("{file}", "{name}")
            .replace("{member}", "{name}"),
        )
        for m, p, *_ in MATRIX
    }
    assert routes == listed


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "make", "allowed", "ok"), MATRIX,
                         ids=[f"{m} {p}" for m, p, *_ in MATRIX])  # fmt: skip
def test_role_matrix(server, ctx, role, method, path, make, allowed, ok):  # type: ignore[no-untyped-def]
    fill = prepare(server, ctx, role, method, path)
    before = audit_count(server) if method in WRITES else None
    res = call(server, fill, role, method, path, make)
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
    fill = prepare(server, {**ctx, "victim": "x"}, None, method, path.replace("{victim}", "x"))
    before = audit_count(server)
    res = call(server, fill, None, method, path.replace("{victim}", "x"), make, token=real)
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
