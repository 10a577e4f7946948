"""Every page x role on the server (403 for a page a role may not see), every action needs
its right and the session's CSRF token, security headers and no third-party asset."""

from __future__ import annotations

import re

import httpx
import pytest

from generator.service.web.security import CSP
from generator.service.web.views import STATIC, TEMPLATES
from tests.service.web.conftest import Site

ALL = ("admin", "operator", "reviewer", "legal")
# page -> roles that see it (everyone else: 403)
MATRIX = {
    "/": {"operator", "reviewer", "legal"},
    "/projects/{pid}": {"operator", "reviewer", "legal"},
    "/runs/{rid}": {"operator", "reviewer", "legal"},
    "/runs/{rid}/curation": {"operator", "reviewer", "legal"},
    "/runs/{rid}/review": {"operator", "reviewer"},
    "/runs/{rid}/review-list": {"operator", "reviewer"},
    "/runs/{rid}/legal": {"operator", "legal"},
    "/runs/{rid}/records/{record}": {"operator", "reviewer", "legal"},
}


@pytest.fixture(scope="module")
def clients(site: Site) -> dict[str, tuple[httpx.Client, str]]:
    return {role: site.signed_in(role) for role in ALL}


@pytest.mark.parametrize("page", sorted(MATRIX))
def test_each_page_for_each_role(site: Site, done_run, clients, page: str) -> None:  # type: ignore[no-untyped-def]
    pid, rid = done_run
    path = page.format(pid=pid, rid=rid, record=_first_record(site, rid))
    for role in ALL:
        res = clients[role][0].get(path)
        want = 200 if role in MATRIX[page] else 403
        assert res.status_code == want, (role, path, res.text[:300])
        if want == 403:
            assert "may not see this page" in res.text
    anon = httpx.get(site.url + path, follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login?next=")


ACTIONS = [  # (path, form, the roles whose right allows it)
    ("/projects", {"name": "acl-{n}"}, {"operator"}),
    ("/projects/{pid}/estimate", {"model": "mock/echo"}, {"operator"}),
    ("/runs/{rid}/review/{record}", {"decision": "accept"}, {"reviewer"}),
    ("/runs/{rid}/review-bulk", {"decision": "accept", "ids": "{record}"}, {"reviewer"}),
    ("/runs/{rid}/signoffs", {"policy": "mock", "use": "evaluation", "note": "ok"}, {"legal"}),
    ("/runs/{rid}/exports", {"format": "alpaca", "use": "evaluation"}, {"operator", "legal"}),
    ("/runs/{rid}/cancel", {}, {"operator"}),  # 409 for the operator: nothing to cancel
]


def _first_record(site: Site, rid: int) -> str:
    with site.api("reviewer") as c:
        return c.get(f"/api/v1/runs/{rid}/review").json()["items"][0]["record_id"]


@pytest.mark.parametrize(("path", "form", "allowed"), ACTIONS)
def test_each_action_needs_its_right_and_the_csrf_token(  # type: ignore[no-untyped-def]
    site: Site, done_run, clients, path: str, form: dict, allowed: set[str]
) -> None:
    pid, rid = done_run
    record = _first_record(site, rid)
    url = path.format(pid=pid, rid=rid, record=record)
    for n, role in enumerate(ALL):
        c, csrf = clients[role]
        data = {k: v.format(n=n, record=record) for k, v in form.items()}
        forged = c.post(url, data={**data, "csrf": "not-the-token"})
        assert forged.status_code == 403 and "security token" in forged.text, (role, url)
        assert c.post(url, data=data).status_code == 403  # no token at all
        res = c.post(url, data={**data, "csrf": csrf})
        if role in allowed:
            assert res.status_code in (200, 303, 409), (role, url, res.text[:300])
        else:
            assert res.status_code == 403 and "may not do this" in res.text, (role, url)
    assert httpx.post(site.url + url, data=form).status_code == 401  # no session


def test_upload_needs_the_csrf_header(site: Site, done_run, clients) -> None:  # type: ignore[no-untyped-def]
    pid, _ = done_run
    c, csrf = clients["operator"]
    files = [("files", ("a.md", b"# A\n\nSome text about leave days.\n", "text/markdown"))]
    assert c.post(f"/projects/{pid}/documents", files=files).status_code == 403
    r, rcsrf = clients["reviewer"]
    denied = r.post(f"/projects/{pid}/documents", files=files, headers={"X-CSRF-Token": rcsrf})
    assert denied.status_code == 403
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    ok = c.post(f"/projects/{pid}/documents", files=files, headers=headers)
    assert ok.status_code == 200 and ok.json()["files"][0]["status"] == "ingested"


def test_security_headers_on_pages_and_static_not_on_the_api(site: Site, clients) -> None:  # type: ignore[no-untyped-def]
    c, _ = clients["operator"]
    for path in ("/", "/login", "/static/app.js", "/runs/999999"):
        res = c.get(path)
        assert res.headers["content-security-policy"] == CSP, path
        assert res.headers["x-frame-options"] == "DENY"
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    assert c.get("/").headers["cache-control"] == "no-store"
    assert c.get("/runs/999999").status_code == 404
    assert "content-security-policy" not in httpx.get(site.url + "/healthz").headers


def test_no_inline_script_or_style_and_no_third_party_asset() -> None:
    for path in [*TEMPLATES.glob("*.html"), *STATIC.iterdir()]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path  # only external files
        assert not re.search(r"\son[a-z]+=", text), path  # no inline handlers
        assert "style=" not in text and "<style" not in text, path
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path


def test_run_progress_stream_for_a_signed_in_user(site: Site, done_run, clients) -> None:  # type: ignore[no-untyped-def]
    _, rid = done_run
    c, _ = clients["legal"]
    with c.stream("GET", f"/runs/{rid}/events") as res:
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/event-stream")
        body = "".join(res.iter_text())
    assert body.startswith("event: progress\ndata: {") and '"status": "done"' in body
    assert clients["admin"][0].get(f"/runs/{rid}/events").status_code == 403


def test_curate_needs_the_operator_and_the_csrf_token(site: Site, done_run, clients) -> None:  # type: ignore[no-untyped-def]
    """Checked without letting the operator queue one (a curation would hold the shared
    run for a while)."""
    _, rid = done_run
    for role in ALL:
        c, csrf = clients[role]
        assert c.post(f"/runs/{rid}/curate", data={"csrf": "forged"}).status_code == 403
        if role != "operator":
            res = c.post(f"/runs/{rid}/curate", data={"csrf": csrf})
            assert res.status_code == 403 and "may not do this" in res.text
    import sqlalchemy as sa

    from generator.service.db import jobs

    with site.server.database().engine.connect() as conn:
        q = sa.select(sa.func.count()).where(jobs.c.run_id == rid, jobs.c.kind == "curate")
        assert conn.execute(q).scalar_one() == 0
