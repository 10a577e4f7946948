"""Passwords for web sign-in (``instructforge users passwd NAME --password``).

A password is optional: a user may always sign in with their token. It is stored as a
stdlib scrypt hash (n=2**14, r=8, p=1, 16-byte salt), compared in constant time; a user
without one, revoked, or unknown gets the same answer (None) after the same work, so the
sign-in form does not tell which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy import Column, ForeignKey, Integer, String, Table

from generator.service import audit
from generator.service.db import TIME_WIDTH, Database, metadata, now, users
from generator.service.users import Principal, UserError

MIN_LENGTH = 12
MAX_LENGTH = 1024
_N, _R, _P = 2**14, 8, 1

passwords = Table(
    "passwords",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("hash", String(300), nullable=False),
    Column("set_at", String(TIME_WIDTH), nullable=False),
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64 parts)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=32)  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def check_password(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise UserError(f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters")
    if password.strip() != password:
        raise UserError("a password may not start or end with white space")
    return password


def set_password(db: Database, name: str, password: str, *, actor: str, remote: str) -> None:
    """Set (or replace) a live user's password; the audit row names no secret."""
    check_password(password)
    digest = hash_password(password)
    with db.engine.begin() as conn:
        row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
        if row is None:
            raise UserError(f"no user named {name!r}", status=404, code="not_found")
        if row["revoked_at"]:
            raise UserError(f"user {name!r} is revoked", status=409, code="conflict")
        conn.execute(passwords.delete().where(passwords.c.user_id == row["id"]))
        conn.execute(passwords.insert().values(user_id=row["id"], hash=digest, set_at=now()))
        audit.record(conn, actor=actor, action="user.password", target=f"user:{name}",
                     remote=remote)  # fmt: skip


_DUMMY = hash_password("not a password of anyone", salt=b"\0" * 16)


def authenticate(db: Database, name: str, password: str) -> Principal | None:
    """The live user ``name`` if ``password`` is theirs, else None."""
    query = (
        sa.select(users.c.id, users.c.name, users.c.role, passwords.c.hash)
        .join(passwords, passwords.c.user_id == users.c.id)
        .where(users.c.name == name, users.c.revoked_at.is_(None))
    )
    with db.engine.connect() as conn:
        row = conn.execute(query).first()
    if len(password) > MAX_LENGTH:
        return None
    ok = verify_password(password, row.hash if row else _DUMMY)  # same work either way
    return Principal(row.id, row.name, row.role) if row is not None and ok else None
