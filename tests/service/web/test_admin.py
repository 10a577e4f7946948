"""The admin's page: users with add, revoke and token forms (CSRF, audit rows, the new
token shown once), the audit log newest first and paged; the admin lands there."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from generator.service import audit
from generator.service.db import audit as audit_table
from generator.service.db import database_url, open_database
from generator.service.web.admin import newest
from tests.service.web.conftest import CSRF, Site


def _log(page: str) -> list[tuple[int, str, str]]:
    """(id, actor, action) of the audit rows on the page, in page order."""
    body = page.split('id="audit"')[1]
    return [(int(i), a, act) for i, a, act in re.findall(
        r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>", body)]  # fmt: skip


def _by_admin(page: str) -> list[str]:
    """The admin's actions in the page's audit log, newest first (the log's own order)."""
    rows = _log(page)
    assert [n for n, _, _ in rows] == sorted((n for n, _, _ in rows), reverse=True)
    return [action for _, who, action in rows if who == "admin-1"]


def test_admin_lands_on_the_users_page_and_manages_users(site: Site) -> None:
    c = httpx.Client(base_url=site.url, timeout=60)
    token = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    res = c.post("/login", data={"csrf": token, "token": site.server.tokens["admin"]})
    assert res.status_code == 303 and res.headers["location"] == "/admin"
    page = c.get("/admin")
    assert page.status_code == 200
    assert re.search(r"<td>reviewer-1</td><td>reviewer</td>\s*<td>active</td>", page.text)
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    name = f"new-{uuid.uuid4().hex[:6]}"
    assert c.post("/admin/users", data={"name": name, "role": "legal"}).status_code == 403
    made = c.post("/admin/users", data={"csrf": csrf, "name": name, "role": "legal"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    new = re.search(r'id="token-value" readonly value="([^"]+)"', made.text).group(1)  # type: ignore[union-attr]
    with site.server.client(token=new) as api:
        assert api.get("/api/v1/me").json() == {"name": name, "role": "legal"}
    again = c.get("/admin").text
    assert new not in again and f"<td>{name}</td><td>legal</td>" in again  # shown once
    # newest first, by the admin (the shared server's job workers may log in between)
    assert _by_admin(again)[0] == "user.add"
    taken = c.post("/admin/users", data={"csrf": csrf, "name": name, "role": "legal"})
    assert taken.status_code == 409 and "already" in taken.text.lower()
    bad = c.post("/admin/users", data={"csrf": csrf, "name": "<b>", "role": "boss"})
    assert bad.status_code == 422 and "&lt;b&gt;" in bad.text
    replaced = c.post(f"/admin/users/{name}/token", data={"csrf": csrf})
    newer = re.search(r'id="token-value" readonly value="([^"]+)"', replaced.text).group(1)  # type: ignore[union-attr]
    with site.server.client(token=new) as api:
        assert api.get("/api/v1/me").status_code == 401  # the old token stopped working
    res = c.post(f"/admin/users/{name}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert res.status_code == 303
    after = c.get(res.headers["location"]).text
    assert f"revoked {name}" in after
    assert re.search(rf"<td>{name}</td><td>legal</td>\s*<td>revoked ", after)
    assert _by_admin(after)[:3] == ["user.revoke", "user.passwd", "user.add"]
    with site.server.client(token=newer) as api:
        assert api.get("/api/v1/me").status_code == 401
    assert c.post("/admin/users/nobody-here/revoke", data={"csrf": csrf}).status_code == 404


def test_other_roles_get_403_on_the_admin_page_and_forms(site: Site) -> None:
    for role in ("operator", "reviewer", "legal"):
        c, csrf = site.signed_in(role)
        res = c.get("/admin")
        assert res.status_code == 403 and "may not see this page" in res.text, role
        for url, form in (("/admin/users", {"name": f"x-{role}", "role": "admin"}),
                          ("/admin/users/reviewer-1/revoke", {}),
                          ("/admin/users/reviewer-1/token", {})):  # fmt: skip
            res = c.post(url, data={**form, "csrf": csrf})
            assert res.status_code == 403 and "may not do this" in res.text, (role, url)
    assert httpx.get(site.url + "/admin", follow_redirects=False).status_code == 303
    c, _ = site.signed_in("reviewer")
    assert "Users and audit log" not in c.get("/").text


def test_audit_log_pages_newest_first_over_skipped_ids(tmp_path: Path) -> None:
    db = open_database(database_url(tmp_path, None))
    try:
        with db.engine.begin() as conn:
            for i in [*range(1, 31), *range(100, 131), 400]:  # ids may skip (PostgreSQL)
                conn.execute(audit_table.insert().values(
                    id=i, at=f"2026-01-01T00:00:{i % 60:02d}.000000Z", actor="a",
                    action="x", target=f"t{i}", remote="r", detail="{}"))  # fmt: skip
            audit.record(conn, actor="a", action="y", target="last", remote="r")
        seen: list[int] = []
        before = None
        with db.engine.connect() as conn:
            while True:
                rows, before = newest(conn, before, 25)
                seen += [r["id"] for r in rows]
                assert all(isinstance(r["detail"], dict) for r in rows)
                if before is None:
                    break
        assert seen == sorted([*range(1, 31), *range(100, 131), 400, 401], reverse=True)
    finally:
        db.close()
