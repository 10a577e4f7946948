"""Failed sign-ins are limited per user name and per client address (429 with
Retry-After, no guess checked while limited), each failure an audit row; a name's count
starts again after it signs in. In process, so the shared site's address is not limited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from generator.service import passwords, users
from generator.service.app import create_app
from generator.service.db import Database, database_url, open_database
from generator.service.db import audit as audit_table
from generator.service.settings import ServiceSettings
from generator.service.web import throttle

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[object, Database, str]]:
    db_url = database_url(tmp_path, None)
    db = open_database(db_url)
    token = users.add(db, "ann", "reviewer", actor="t", remote="t")
    users.add(db, "bob", "reviewer", actor="t", remote="t")
    for name in ("ann", "bob"):
        passwords.set_password(db, name, PASSWORD, actor="t", remote="t")
    try:
        yield create_app(ServiceSettings(tmp_path, db_url, workers=0), db), db, token
    finally:
        db.close()


def _try(app: object, address: str, **form: str) -> object:
    c = TestClient(app, base_url="http://127.0.0.1", client=(address, 50000))  # type: ignore[arg-type]
    csrf = CSRF.search(c.get("/login").text).group(1)  # type: ignore[union-attr]
    return c.post("/login", data={"csrf": csrf, **form}, follow_redirects=False)


def _failures(db: Database) -> list[tuple[str, str]]:
    col = audit_table.c
    q = sa.select(col.target, col.remote).where(col.action == throttle.FAILED).order_by(col.id)
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]


def test_five_failures_per_name_then_429_with_retry_after(app) -> None:  # type: ignore[no-untyped-def]
    web, db, _ = app
    for i in range(throttle.PER_NAME):  # from several addresses: the name counts
        res = _try(web, f"10.0.0.{i}", name="ann", password="wrong")
        assert res.status_code == 401  # type: ignore[attr-defined]
    assert _failures(db) == [("user:ann", f"10.0.0.{i}") for i in range(5)]
    limited = _try(web, "10.0.1.1", name="ann", password=PASSWORD)  # even the right one
    assert limited.status_code == 429  # type: ignore[attr-defined]
    assert 1 <= int(limited.headers["retry-after"]) <= throttle.WINDOW_S  # type: ignore[attr-defined]
    assert "too many failed sign-ins" in limited.text  # type: ignore[attr-defined]
    assert len(_failures(db)) == 5  # a refused attempt is not checked, nor counted again
    assert _try(web, "10.0.1.1", name="bob", password=PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_failures_per_address_then_429_for_any_name_or_token(app) -> None:  # type: ignore[no-untyped-def]
    web, db, token = app
    for i in range(throttle.PER_ADDRESS):
        form = {"token": f"wrong-{i}"} if i % 2 else {"name": f"who-{i}", "password": "x"}
        assert _try(web, "10.9.9.9", **form).status_code == 401  # type: ignore[attr-defined]
    assert len(_failures(db)) == throttle.PER_ADDRESS
    assert ("token", "10.9.9.9") in _failures(db)
    for form in ({"token": token}, {"name": "bob", "password": PASSWORD}):
        res = _try(web, "10.9.9.9", **form)
        assert res.status_code == 429 and int(res.headers["retry-after"]) >= 1  # type: ignore[attr-defined]
    assert _try(web, "10.9.9.8", token=token).status_code == 303  # type: ignore[attr-defined]


def test_a_names_count_starts_again_after_it_signs_in(app) -> None:  # type: ignore[no-untyped-def]
    web, _, _ = app
    for _ in range(throttle.PER_NAME - 1):
        _try(web, "10.1.1.1", name="ann", password="wrong")
    assert _try(web, "10.1.1.1", name="ann", password=PASSWORD).status_code == 303  # type: ignore[attr-defined]
    for _ in range(throttle.PER_NAME - 1):
        _try(web, "10.1.1.2", name="ann", password="wrong")
    assert _try(web, "10.1.1.2", name="ann", password=PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_retry_after_counts_from_the_failure_that_leaves_the_window_first(app) -> None:  # type: ignore[no-untyped-def]
    _, db, _ = app
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    with db.engine.begin() as conn:
        for age in (290, 200, 100, 50, 10, 400):  # one outside the window
            at = (now - timedelta(seconds=age)).strftime(throttle.STAMP)
            conn.execute(audit_table.insert().values(at=at, actor="x", action=throttle.FAILED,
                         target="user:carl", remote="10.2.2.2", detail="{}"))  # fmt: skip
    with db.engine.connect() as conn:
        wait = throttle.retry_after(conn, "carl", "10.3.3.3")
    assert wait is not None and 9 <= wait <= 11  # the 5th newest, 290 s old, leaves in 10 s
