"""Projects: create (operator), list and show (its members, and admins); names unique."""

from __future__ import annotations

import uuid

from tests.service.conftest import Server
from tests.service.helpers import error


def test_create_list_show(server: Server) -> None:
    name = f"Handbook {uuid.uuid4().hex[:6]}"
    with server.client("operator") as c:
        made = c.post("/api/v1/projects", json={"name": f"  {name} "})
        assert made.status_code == 201, made.text
        project = made.json()
        assert project["name"] == name and project["created_by"] == "operator-1"
        dup = c.post("/api/v1/projects", json={"name": name})
    assert dup.status_code == 409 and error(dup)["code"] == "conflict"
    with server.client("operator") as c:
        assert project in c.get("/api/v1/projects").json()["items"]  # the creator is a member
    with server.client("legal") as c:
        assert project not in c.get("/api/v1/projects").json()["items"]  # not a member yet
        assert c.get(f"/api/v1/projects/{project['id']}").status_code == 404
    with server.client("admin") as c:
        res = c.post(f"/api/v1/projects/{project['id']}/members", json={"name": "legal-1"})
        assert res.status_code == 201, res.text
    with server.client("legal") as c:
        listed = c.get("/api/v1/projects").json()["items"]
        shown = c.get(f"/api/v1/projects/{project['id']}").json()
    assert project in listed and shown == project
