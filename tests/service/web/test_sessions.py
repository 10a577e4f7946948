"""Sessions and passwords on both databases (the tables of migration 0003)."""

from __future__ import annotations

import sqlalchemy as sa

from generator.service import passwords, users
from generator.service.db import open_database
from generator.service.web import sessions


def test_sessions_and_passwords_on_each_database(fresh_db_url: str) -> None:
    db = open_database(fresh_db_url)
    try:
        token = users.add(db, "ann", "legal", actor="tests", remote="tests")
        ann = users.authenticate(db, token)
        assert ann is not None
        secret = sessions.start(db, ann)
        found = sessions.lookup(db, secret)
        assert found is not None and found.user == ann and len(found.csrf) >= 40
        assert sessions.lookup(db, secret + "x") is None and sessions.lookup(db, None) is None
        with db.engine.begin() as conn:  # expiry is absolute
            conn.execute(sessions.web_sessions.update().values(expires_at="2000-01-01"))
        assert sessions.lookup(db, secret) is None
        again = sessions.start(db, ann)  # a new sign-in clears expired rows
        with db.engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(sessions.web_sessions))
            assert rows.scalar_one() == 1
        sessions.end(db, again)
        assert sessions.lookup(db, again) is None

        passwords.set_password(db, "ann", "a long enough secret", actor="t", remote="t")
        assert passwords.authenticate(db, "ann", "a long enough secret") == ann
        assert passwords.authenticate(db, "ann", "a long enough secreT") is None
        assert passwords.authenticate(db, "nobody", "a long enough secret") is None
        passwords.set_password(db, "ann", "another long secret", actor="t", remote="t")
        assert passwords.authenticate(db, "ann", "a long enough secret") is None  # replaced
        users.revoke(db, "ann", actor="t", remote="t")
        assert passwords.authenticate(db, "ann", "another long secret") is None
    finally:
        db.close()


def test_password_hash_format_and_rules() -> None:
    import pytest

    from generator.service.users import UserError

    stored = passwords.hash_password("twelve chars!")
    assert stored.startswith("scrypt$16384$8$1$")
    assert passwords.verify_password("twelve chars!", stored)
    assert not passwords.verify_password("twelve chars?", stored)
    assert not passwords.verify_password("x", "garbage")
    assert passwords.hash_password("same", b"1" * 16) == passwords.hash_password("same", b"1" * 16)
    for bad in ("short", " leading space here", "x" * 1025):
        with pytest.raises(UserError):
            passwords.check_password(bad)
