"""``/admin``: users (name, role, active or revoked) with add, revoke and new-token forms,
and the audit log, newest first, a page at a time.

The forms call the functions the API's ``/users`` routes call (:mod:`generator.service.
users`: each writes its own audit row with the admin as actor) and the log reads with the
API's :func:`generator.service.audit.rows`. A new token is shown once, in the answer to the
form that made it (never in a URL; the answer is ``no-store`` like every page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from generator.service import audit, users
from generator.service.auth import remote
from generator.service.db import audit as audit_table
from generator.service.users import UserError
from generator.service.web.sessions import Session
from generator.service.web.views import Action, Page, WebError, render

router = APIRouter(include_in_schema=False)
LOG_PAGE = 50
ROLES = ("admin", "operator", "reviewer", "legal")


def newest(conn: Any, before: int | None, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` audit rows with an id below ``before`` (None: from the newest),
    newest first, and the cursor of the next (older) page."""
    if before is None:
        top = conn.execute(sa.select(sa.func.max(audit_table.c.id))).scalar()
        before = (top or 0) + 1
    out: list[dict[str, Any]] = []
    hi = before  # ids below hi are still to read; a window of ids at a time (ids may skip)
    while len(out) < limit and hi > 1:
        lo = max(0, hi - 1 - (limit - len(out)))
        rows = audit.rows(conn, after=lo, limit=hi - 1 - lo)
        out += reversed([r for r in rows if r["id"] < hi])
        hi = lo + 1
    return out, (out[-1]["id"] if len(out) == limit and out[-1]["id"] > 1 else None)


def _page(request: Request, session: Session, before: int | None, status: int = 200,
          **extra: Any) -> Response:  # fmt: skip
    db = request.app.state.db
    with db.engine.connect() as conn:
        log, older = newest(conn, before, LOG_PAGE)
    return render(request, "admin.html", session, status, users=users.listing(db), log=log,
                  older=older, before=before, roles=ROLES,
                  done=request.query_params.get("done"), **extra)  # fmt: skip


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request, before: int | None = Query(None, ge=1, le=2**62),
    session: Session = Page("admin"),
) -> Response:  # fmt: skip
    return _page(request, session, before)


async def _call(request: Request, session: Session, fn: Any, *args: Any) -> Any:
    """A users operation as the admin; its refusal (taken name, unknown user) on the page."""
    try:
        return await run_in_threadpool(fn, request.app.state.db, *args, actor=session.user.name,
                                       remote=remote(request))  # fmt: skip
    except UserError as exc:
        raise WebError(exc.status if exc.status in (404, 409, 422) else 422, str(exc)) from exc


@router.post("/admin/users")
async def add_user(
    request: Request, name: str = Form(""), role: str = Form(""),
    session: Session = Action("users.manage"),
) -> Response:  # fmt: skip
    name = name.strip()
    if not users.NAME.fullmatch(name) or role not in ROLES:
        why = "a user needs a name (letters, digits, and . _ @ -) and one of the roles"
        return _page(request, session, None, 422, error=why, form={"name": name, "role": role})
    token = await _call(request, session, users.add, name, role)
    return _page(request, session, None, new_token={"name": name, "token": token})


@router.post("/admin/users/{name}/revoke")
async def revoke_user(
    request: Request, name: str, session: Session = Action("users.manage")
) -> Response:
    await _call(request, session, users.revoke, name)
    return RedirectResponse(f"/admin?{urlencode({'done': f'revoked {name}'})}", status_code=303)


@router.post("/admin/users/{name}/token")
async def new_token(
    request: Request, name: str, session: Session = Action("users.manage")
) -> Response:
    token = await _call(request, session, users.passwd, name)
    return _page(request, session, None, new_token={"name": name, "token": token})
