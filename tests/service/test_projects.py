"""Projects: create (operator), list and show (operator, reviewer, legal); names unique."""

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
    with server.client("legal") as c:
        listed = c.get("/api/v1/projects").json()["items"]
        shown = c.get(f"/api/v1/projects/{project['id']}").json()
    assert project in listed and shown == project
