"""Users, roles and API tokens: the operations ``instructforge users`` and the API share.

A token is ``ifk_<key id>_<secret>``: the key id finds the row, and only the sha256 of the
secret is stored, compared in constant time. The secret has 256 bits of entropy, so a plain
sha256 is enough (no password stretching needed: nothing to guess). A token is shown once,
when made; ``passwd`` makes a new one and revokes the old; ``revoke`` disables the user and
every token they hold. Each change writes its audit row in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from generator.errors import ConfigError
from generator.service import audit
from generator.service.db import ROLES, Database, now, tokens, users

TOKEN_PREFIX = "ifk_"
_TOKEN = re.compile(r"^ifk_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class UserError(ConfigError):
    """A users operation that cannot be done (unknown user, name taken, bad role)."""

    def __init__(self, message: str, *, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Principal:
    """The user an API call acts as."""

    id: int
    name: str
    role: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_token(conn: Connection, user_id: int) -> str:
    key_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    secret = secrets.token_urlsafe(32)  # 43 characters
    conn.execute(
        tokens.insert().values(
            user_id=user_id, key_id=key_id, secret_sha256=_hash(secret), created_at=now()
        )
    )
    return f"{TOKEN_PREFIX}{key_id}_{secret}"


def _user(conn: Connection, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
    if row is None:
        raise UserError(f"no user named {name!r}", status=404, code="not_found")
    return dict(row)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UserError(
            f"invalid user name {name!r}: 1-64 letters, digits and . _ @ -, starting with a "
            "letter or digit"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserError(f"invalid role {role!r}: one of {', '.join(ROLES)}")
    return role


def add(db: Database, name: str, role: str, *, actor: str, remote: str) -> str:
    """Create a user and return their first token (the only time it is shown)."""
    check_name(name)
    check_role(role)
    with db.engine.begin() as conn:
        exists = conn.execute(sa.select(users.c.id).where(users.c.name == name)).first()
        if exists:
            raise UserError(f"a user named {name!r} already exists", status=409, code="conflict")
        user_id = conn.execute(
            users.insert().values(name=name, role=role, created_at=now())
        ).inserted_primary_key[0]
        token = _new_token(conn, user_id)
        audit.record(
            conn,
            actor=actor,
            action="user.add",
            target=f"user:{name}",
            remote=remote,
            detail={"role": role},
        )
    return token


def listing(db: Database) -> list[dict[str, Any]]:
    """Every user with role, creation time, revocation time and live token count."""
    live = (
        sa.select(sa.func.count())
        .where(tokens.c.user_id == users.c.id, tokens.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    query = sa.select(
        users.c.name, users.c.role, users.c.created_at, users.c.revoked_at, live.label("tokens")
    ).order_by(users.c.name)
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def _revoke_tokens(conn: Connection, user_id: int, at: str) -> None:
    conn.execute(
        tokens.update()
        .where(tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def revoke(db: Database, name: str, *, actor: str, remote: str) -> None:
    """Disable a user and every token they hold."""
    with db.engine.begin() as conn:
        user = _user(conn, name)
        if user["revoked_at"]:
            raise UserError(f"user {name!r} is already revoked", status=409, code="conflict")
        at = now()
        conn.execute(users.update().where(users.c.id == user["id"]).values(revoked_at=at))
        _revoke_tokens(conn, user["id"], at)
        audit.record(conn, actor=actor, action="user.revoke", target=f"user:{name}", remote=remote)


def passwd(db: Database, name: str, *, actor: str, remote: str) -> str:
    """Revoke a user's tokens and return a new one."""
    with db.engine.begin() as conn:
        user = _user(conn, name)
        if user["revoked_at"]:
            raise UserError(
                f"user {name!r} is revoked: add a user under a new name",
                status=409,
                code="conflict",
            )
        _revoke_tokens(conn, user["id"], now())
        token = _new_token(conn, user["id"])
        audit.record(conn, actor=actor, action="user.passwd", target=f"user:{name}", remote=remote)
    return token


def authenticate(db: Database, token: str) -> Principal | None:
    """The live user holding ``token``, or None (malformed, unknown, revoked, wrong secret)."""
    m = _TOKEN.match(token)
    if not m:
        return None
    key_id, secret = m.groups()
    query = (
        sa.select(users.c.id, users.c.name, users.c.role, tokens.c.secret_sha256)
        .join(users, users.c.id == tokens.c.user_id)
        .where(
            tokens.c.key_id == key_id, tokens.c.revoked_at.is_(None), users.c.revoked_at.is_(None)
        )
    )
    with db.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, _hash(secret)):
        return None
    return Principal(row.id, row.name, row.role)
