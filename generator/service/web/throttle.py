"""Failed sign-ins are limited: each is an audit row (``web.signin_failed``), and a user
name or a client address with too many of them in the last :data:`WINDOW_S` seconds is
refused (429 with ``Retry-After``) without its token or password being checked.

The counts are read from the audit table itself, so they hold across restarts and across
several servers sharing one database. A name's count starts again after its successful
sign-in; an address's does not (its own good account must not clear its guesses at
others). Per address the bar is higher: many people may share one (an office's proxy).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from generator.service import audit
from generator.service.db import audit as audit_table

WINDOW_S = 300
PER_NAME = 5  # failures per user name in the window
PER_ADDRESS = 20  # failures per client address in the window
FAILED = "web.signin_failed"
SIGNED_IN = "web.signin"
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # the audit table's time format (db.now)


def name_target(name: str) -> str:
    return f"user:{name[:64]}"


def _failures(conn: Connection, since: str, **match: str) -> list[str]:
    """The times of the failures since ``since`` with the given target or remote."""
    col = audit_table.c
    where = [col.action == FAILED, col.at >= since]
    where += [getattr(col, k) == v for k, v in match.items()]
    return list(conn.execute(sa.select(col.at).where(*where).order_by(col.at)).scalars())


def retry_after(conn: Connection, name: str | None, address: str) -> int | None:
    """Seconds until a sign-in from ``address`` (as ``name``, when given) may be tried
    again, or None when it may be tried now."""
    now = datetime.now(UTC)
    since = (now - timedelta(seconds=WINDOW_S)).strftime(STAMP)
    waits = []
    by_address = _failures(conn, since, remote=address)
    if len(by_address) >= PER_ADDRESS:
        waits.append(by_address[-PER_ADDRESS])
    if name:
        target = name_target(name)
        last_ok = conn.execute(
            sa.select(sa.func.max(audit_table.c.at)).where(
                audit_table.c.action == SIGNED_IN, audit_table.c.target == target
            )
        ).scalar()
        by_name = _failures(conn, max(since, last_ok or ""), target=target)
        if len(by_name) >= PER_NAME:
            waits.append(by_name[-PER_NAME])
    if not waits:
        return None
    oldest = datetime.strptime(max(waits), STAMP).replace(tzinfo=UTC)  # leaves the window
    return max(1, math.ceil((oldest + timedelta(seconds=WINDOW_S) - now).total_seconds()))


def failed(conn: Connection, name: str | None, address: str, how: str) -> None:
    """Count one failed sign-in (an audit row, in the caller's transaction)."""
    target = name_target(name) if name else "token"
    audit.record(conn, actor=name[:64] if name else "anonymous", action=FAILED, target=target,
                 remote=address, detail={"with": how})  # fmt: skip
