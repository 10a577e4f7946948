"""``GET /api/v1/audit?since=&cursor=&limit=`` (admin): the audit trail, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from generator.service import audit
from generator.service.auth import require
from generator.service.errors import ApiError
from generator.service.users import Principal

router = APIRouter(tags=["audit"])


class AuditRow(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str
    remote: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditRow]
    next: str | None


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(422, f"since: not an ISO 8601 time: {value!r}") from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@router.get("/audit", response_model=AuditPage, summary="The audit trail (admin)")
def audit_trail(
    request: Request,
    since: str | None = Query(None, description="ISO 8601 time; rows at or after it"),
    cursor: str | None = Query(None, description="`next` of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
    _user: Principal = Depends(require("audit.read")),
) -> AuditPage:
    after = 0
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 18:
            raise ApiError(422, "cursor: not a cursor from this endpoint")
        after = int(cursor)
    with request.app.state.db.engine.connect() as conn:
        rows = audit.rows(conn, since=_since(since), after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditRow(**r) for r in rows], next=str(rows[-1]["id"]) if more else None
    )
