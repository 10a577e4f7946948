"""``/login`` (token, or name and password) and ``/logout``."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from generator.service import audit, passwords, users
from generator.service.auth import remote
from generator.service.web import sessions
from generator.service.web.views import WebError, current, new_token, render

router = APIRouter(include_in_schema=False)
LOGIN_TTL_S = 3600


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host): no open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


def _form(request: Request, status: int = 200, error: str | None = None,
          nxt: str | None = None) -> Response:  # fmt: skip
    token = new_token()
    res = render(request, "login.html", None, code=status, error=error, login_csrf=token,
                 next=_safe_next(nxt or request.query_params.get("next")))  # fmt: skip
    sessions.set_cookie(request, res, sessions.LOGIN_COOKIE, token, LOGIN_TTL_S)
    return res


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    if current(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _form(request)


@router.post("/login")
async def login(
    request: Request,
    csrf: str = Form(""),
    token: str = Form(""),
    name: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    if not sessions.same(csrf, request.cookies.get(sessions.LOGIN_COOKIE)):
        return _form(request, 403, "the sign-in form expired: try again", next)
    db = request.app.state.db
    if token.strip():
        user = await run_in_threadpool(users.authenticate, db, token.strip())
    elif name.strip() and password:
        user = await run_in_threadpool(passwords.authenticate, db, name.strip(), password)
    else:
        return _form(request, 422, "give your token, or your name and password", next)
    if user is None:
        return _form(request, 401, "that token or password is not valid", next)
    secret = await run_in_threadpool(sessions.start, db, user)
    with db.engine.begin() as conn:
        how = {"with": "token" if token.strip() else "password"}
        audit.record(conn, actor=user.name, action="web.signin", target=f"user:{user.name}",
                     remote=remote(request), detail=how)  # fmt: skip
    res = RedirectResponse(_safe_next(next), status_code=303)
    sessions.set_cookie(request, res, sessions.COOKIE, secret, sessions.SESSION_TTL_S)
    res.delete_cookie(sessions.LOGIN_COOKIE, path="/")
    return res


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("")) -> Response:
    session = current(request)
    if session is not None:
        if not sessions.same(csrf, session.csrf):
            raise WebError(403, "the form's security token is missing or stale: reload the page")
        await run_in_threadpool(sessions.end, request.app.state.db,
                                request.cookies.get(sessions.COOKIE))  # fmt: skip
    res = RedirectResponse("/login", status_code=303)
    res.delete_cookie(sessions.COOKIE, path="/")
    return res
