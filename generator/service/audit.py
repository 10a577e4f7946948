"""The append-only audit trail: who did what, to what, from where, and when.

Every state change writes one row in the same transaction as the change itself, so a change
without its row (or a row without its change) cannot be committed. There is no update or
delete path here; the migration adds triggers that refuse both in the database.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from generator.service.db import audit, now

CLI_REMOTE = "cli"  # the remote address of a change made with the command line


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    remote: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit row (inside the caller's transaction)."""
    conn.execute(
        audit.insert().values(
            at=now(),
            actor=actor,
            action=action,
            target=target,
            remote=remote or "unknown",
            detail=json.dumps(detail or {}, sort_keys=True),
        )
    )


def rows(
    conn: Connection, *, since: str | None = None, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows at or after ``since`` (stored time format) with an id above ``after``, oldest first."""
    query = sa.select(audit).where(audit.c.id > after).order_by(audit.c.id).limit(limit)
    if since:
        query = query.where(audit.c.at >= since)
    out = []
    for row in conn.execute(query).mappings():
        item = dict(row)
        item["detail"] = json.loads(item["detail"])
        out.append(item)
    return out
