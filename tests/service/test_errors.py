"""Bad requests: each one clear JSON error with the right status, and nothing changed."""

from __future__ import annotations

import pytest

from tests.service.conftest import Server, audit_count
from tests.service.helpers import error


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"name": ', 400, "bad_json"),
        (b"\xff\xfe not json", 400, "bad_request"),  # not UTF-8
        (b'{"name": "x", "owner": "me"}', 422, "invalid"),  # unknown field
        (b'{"name": 42}', 422, "invalid"),  # wrong type
        (b'{"name": "   "}', 422, "invalid"),
        (b'{"name": "a\\u0000b"}', 422, "invalid"),
        (b"{}", 422, "invalid"),
        (b"[]", 422, "invalid"),
    ],
)
def test_malformed_json_bodies(server: Server, body: bytes, status: int, code: str) -> None:
    before = audit_count(server)
    with server.client("operator") as c:
        res = c.post("/api/v1/projects", content=body, headers={"Content-Type": "application/json"})
    assert res.status_code == status, res.text
    assert error(res)["code"] == code
    assert audit_count(server) == before


def test_unknown_routes_and_methods(server: Server) -> None:
    with server.client("operator") as c:
        missing = c.get("/api/v1/nothing-here")
        wrong = c.delete("/api/v1/projects")
    assert missing.status_code == 404 and error(missing)["code"] == "not_found"
    assert wrong.status_code == 405 and error(wrong)["code"] == "method_not_allowed"


def test_unknown_and_out_of_range_ids(server: Server) -> None:
    with server.client("operator") as c:
        unknown = c.get("/api/v1/projects/999999")
        huge = c.get(f"/api/v1/projects/{2**63}")
        text = c.get("/api/v1/projects/abc")
        docs = c.get("/api/v1/projects/999999/documents")
    assert unknown.status_code == 404 and error(unknown)["code"] == "not_found"
    assert docs.status_code == 404
    assert huge.status_code == 422 and text.status_code == 422
    error(huge)


def test_oversized_json_body_is_413_before_it_is_read(server: Server) -> None:
    before = audit_count(server)
    with server.client("operator") as c:
        res = c.post("/api/v1/projects", json={"name": "x" * 2_000_000})
    assert res.status_code == 413, res.text
    assert error(res)["code"] == "too_large"
    assert audit_count(server) == before


def test_oversized_chunked_json_body_is_cut_off_while_streaming(server: Server) -> None:
    """No Content-Length: the cap is counted as the body streams in."""

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}'

    with server.client("operator") as c:
        res = c.post(
            "/api/v1/projects", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert res.status_code == 413, res.text
    assert error(res)["code"] == "too_large"


def test_audit_since_and_cursor_are_checked(server: Server) -> None:
    with server.client("admin") as c:
        assert c.get("/api/v1/audit", params={"since": "yesterday"}).status_code == 422
        assert c.get("/api/v1/audit", params={"cursor": "-1"}).status_code == 422
        assert c.get("/api/v1/audit", params={"limit": 0}).status_code == 422
        assert c.get("/api/v1/audit", params={"limit": 5000}).status_code == 422


def test_openapi_and_offline_docs(server: Server) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
        docs = c.get("/docs")
        redoc = c.get("/redoc")
        js = c.get("/static-docs/swagger-ui-bundle.js")
    assert spec["info"]["title"] == "instructforge"
    assert "/api/v1/projects/{pid}/documents" in spec["paths"]
    upload = spec["paths"]["/api/v1/projects/{pid}/documents"]["post"]["requestBody"]
    assert "multipart/form-data" in upload["content"]
    assert docs.status_code == 200 and "/static-docs/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "cdn" not in redoc.text.lower()
    assert js.status_code == 200 and len(js.content) > 100_000
