"""Server-side web sessions: an opaque cookie, its row in ``web_sessions``, CSRF tokens.

The cookie holds 256 random bits; the table holds only their sha256, the user, the session's
CSRF token and an absolute expiry (:data:`SESSION_TTL_S`). A session ends at sign-out, at
expiry, or when its user is revoked (every lookup joins the live user, so a role change or a
revocation applies at the next request). The cookie is ``HttpOnly; SameSite=Strict; Path=/``
(``Secure`` when the request came over https).

Every state-changing request carries the session's CSRF token (a hidden ``csrf`` form field,
or the ``X-CSRF-Token`` header from fetch); the sign-in form, made before any session
exists, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy import Column, ForeignKey, Integer, String, Table
from starlette.responses import Response

from generator.service.db import TIME_WIDTH, Database, metadata, now, users
from generator.service.jobs import stamp
from generator.service.users import Principal

COOKIE = "ifk_session"
LOGIN_COOKIE = "ifk_login_csrf"
SESSION_TTL_S = 8 * 3600

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", String(TIME_WIDTH), nullable=False),
    Column("expires_at", String(TIME_WIDTH), nullable=False),
)


@dataclass(frozen=True)
class Session:
    """The signed-in user of a request and the CSRF token their forms carry."""

    user: Principal
    csrf: str


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start(db: Database, user: Principal) -> str:
    """A new session for ``user``; the cookie's secret (shown only to the browser)."""
    secret = secrets.token_urlsafe(32)
    with db.engine.begin() as conn:
        conn.execute(sa.delete(web_sessions).where(web_sessions.c.expires_at < now()))
        conn.execute(web_sessions.insert().values(
            id=_key(secret), user_id=user.id, csrf=secrets.token_urlsafe(32),
            created_at=now(), expires_at=stamp(-SESSION_TTL_S),
        ))  # fmt: skip
    return secret


def lookup(db: Database, secret: str | None) -> Session | None:
    """The live, unexpired session the cookie names, or None."""
    if not secret or len(secret) > 100:
        return None
    query = (
        sa.select(users.c.id, users.c.name, users.c.role, web_sessions.c.csrf)
        .join(users, users.c.id == web_sessions.c.user_id)
        .where(web_sessions.c.id == _key(secret), web_sessions.c.expires_at > now(),
               users.c.revoked_at.is_(None))
    )  # fmt: skip
    with db.engine.connect() as conn:
        row = conn.execute(query).first()
    return Session(Principal(row.id, row.name, row.role), row.csrf) if row else None


def end(db: Database, secret: str | None) -> None:
    if secret:
        with db.engine.begin() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.id == _key(secret)))


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")  # fmt: skip


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens, both present."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
