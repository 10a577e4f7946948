"""Sign-in with a token or a password, the session cookie, CSRF on the sign-in form,
expiry, revocation and sign-out."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from generator.service.web.sessions import COOKIE, web_sessions
from tests.service.web.conftest import CSRF, PASSWORD, Site, session_csrf


def _login_form(c: httpx.Client) -> str:
    return CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]


def test_token_sign_in_sets_a_strict_http_only_cookie_kept_server_side(site: Site) -> None:
    with httpx.Client(base_url=site.url) as c:
        page = c.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"
        res = c.post(
            "/login",
            data={
                "csrf": _login_form(c),
                "next": "/projects/1",
                "token": site.server.tokens["operator"],
            },
        )
        assert res.status_code == 303 and res.headers["location"] == "/projects/1"
        cookie = next(
            v for k, v in res.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        secret = c.cookies[COOKIE]
        with site.server.database().engine.connect() as conn:
            ids = conn.execute(sa.select(web_sessions.c.id)).scalars().all()
        assert secret not in ids and len(ids) >= 1  # only its hash is stored
        assert c.get("/").status_code == 200


def test_password_sign_in_and_wrong_credentials(site: Site) -> None:
    with httpx.Client(base_url=site.url) as c:
        bad = c.post(
            "/login",
            data={"csrf": _login_form(c), "name": "reviewer-1", "password": PASSWORD + "x"},
        )
        assert bad.status_code == 401 and "not valid" in bad.text
        no_pw = c.post(
            "/login", data={"csrf": _login_form(c), "name": "operator-1", "password": PASSWORD}
        )
        assert no_pw.status_code == 401  # has no password: same answer as a wrong one
        bad_token = c.post("/login", data={"csrf": _login_form(c), "token": "ifk_nope"})
        assert bad_token.status_code == 401
        ok = c.post(
            "/login", data={"csrf": _login_form(c), "name": "reviewer-1", "password": PASSWORD}
        )
        assert ok.status_code == 303
        assert "reviewer-1" in c.get("/").text


def test_sign_in_form_needs_its_csrf_token_and_next_stays_on_site(site: Site) -> None:
    with httpx.Client(base_url=site.url) as c:
        c.get("/login")
        res = c.post("/login", data={"csrf": "forged", "token": site.server.tokens["operator"]})
        assert res.status_code == 403 and COOKIE not in c.cookies
        res = c.post(
            "/login",
            data={
                "csrf": _login_form(c),
                "next": "//evil.example/x",
                "token": site.server.tokens["operator"],
            },
        )
        assert res.headers["location"] == "/"


def test_sign_out_ends_the_session_on_the_server(site: Site) -> None:
    c, csrf = site.signed_in("legal")
    secret = c.cookies[COOKIE]
    assert c.post("/logout", data={"csrf": "stale"}).status_code == 403
    assert c.get("/").status_code == 200  # a forged sign-out does nothing
    assert c.post("/logout", data={"csrf": csrf}).status_code == 303
    again = httpx.Client(base_url=site.url, cookies={COOKIE: secret})
    assert again.get("/").status_code == 303  # the old cookie no longer works


def test_expired_session_and_revoked_user_go_back_to_sign_in(site: Site) -> None:
    from generator.service import users

    c, _ = site.signed_in("operator")
    db = site.server.database()
    with db.engine.begin() as conn:
        conn.execute(web_sessions.update().values(expires_at="2000-01-01T00:00:00.000000Z"))
    res = c.get("/", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login")
    token = users.add(db, "short-lived", "operator", actor="tests", remote="tests")
    site.server.tokens["short-lived"] = token
    c, _ = site.signed_in("short-lived")
    assert c.get("/").status_code == 200
    users.revoke(db, "short-lived", actor="tests", remote="tests")
    assert c.get("/", follow_redirects=False).status_code == 303


def test_users_passwd_password_from_stdin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.conftest import cli_env
    from tests.service.conftest import REPO

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "generator.cli", "users", *args, "--data", str(tmp_path)],
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env(),
            cwd=REPO,
            timeout=60,
        )

    token = cli("add", "bob", "--role", "reviewer").stdout.strip().splitlines()[-1]
    short = cli("passwd", "bob", "--password", stdin="short\n")
    assert short.returncode == 2 and "12 to 1024 characters" in short.stderr
    ok = cli("passwd", "bob", "--password", stdin=PASSWORD + "\n")
    assert ok.returncode == 0 and PASSWORD not in ok.stdout + ok.stderr
    from generator.service import passwords
    from generator.service import users as u
    from generator.service.db import database_url, open_database

    db = open_database(database_url(tmp_path, None))
    try:
        assert passwords.authenticate(db, "bob", PASSWORD).name == "bob"  # type: ignore[union-attr]
        assert u.authenticate(db, token) is not None  # the token still works
        stored = db.engine.connect().execute(sa.select(passwords.passwords.c.hash)).scalar()
        assert stored.startswith("scrypt$") and PASSWORD not in stored
    finally:
        db.close()
    assert re.search(r"user\.password", cli("list").stdout) is None  # nothing printed of it


def test_session_csrf_helper_reads_the_page(site: Site) -> None:
    c, csrf = site.signed_in("admin")
    assert session_csrf(c) == csrf
