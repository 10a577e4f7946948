"""What every web route shares: the templates, the signed-in session, the role checks.

A page names the roles that may see it (:data:`PAGES`); an action names the API right it
needs (:data:`generator.service.auth.RIGHTS`), so a button does exactly what the same user
could do through the API. Both are checked on the server for every request: a page a role
may not see answers 403, an action also needs the session's CSRF token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from generator.service.auth import RIGHTS
from generator.service.web import sessions
from generator.service.web.sessions import Session

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
READERS = frozenset({"operator", "reviewer", "legal"})

# page -> the roles that may see it
PAGES: dict[str, frozenset[str]] = {
    "projects": READERS,  # /, /projects/{pid}
    "run": READERS,  # /runs/{rid}, /runs/{rid}/curation, /runs/{rid}/records/{id}
    "review": frozenset({"reviewer", "operator"}),  # /runs/{rid}/review (operator: read only)
    "legal": frozenset({"legal", "operator"}),  # /runs/{rid}/legal, export downloads
}

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class WebError(Exception):
    """A page answer other than 200: status and a one-line message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInNeeded(Exception):
    """No live session: pages go to /login, actions answer 401."""


def can(session: Session | None, right: str) -> bool:
    return session is not None and session.user.role in RIGHTS[right]


def sees(session: Session | None, page: str) -> bool:
    return session is not None and session.user.role in PAGES[page]


def render(
    request: Request, name: str, session: Session | None, code: int = 200, **context: Any
) -> HTMLResponse:
    html = env.get_template(name).render(
        request=request, session=session, user=session.user if session else None,
        csrf=session.csrf if session else "", can=lambda r: can(session, r),
        sees=lambda p: sees(session, p), **context,
    )  # fmt: skip
    return HTMLResponse(html, status_code=code)


def current(request: Request) -> Session | None:
    return sessions.lookup(request.app.state.db, request.cookies.get(sessions.COOKIE))


def page(name: str) -> Callable[..., Session]:
    """A dependency: the session of a user whose role may see page ``name`` (403 if not)."""
    roles = PAGES[name]

    def dependency(request: Request) -> Session:
        session = current(request)
        if session is None:
            raise SignInNeeded()
        if session.user.role not in roles:
            raise WebError(403, f"your role ({session.user.role}) may not see this page")
        return session

    return dependency


def action(right: str) -> Callable[..., Any]:
    """A dependency for a state change: a session whose role holds ``right`` (the API's
    rights) and the session's CSRF token in the form field ``csrf`` or ``X-CSRF-Token``."""
    roles = RIGHTS[right]

    async def dependency(request: Request) -> Session:
        session = current(request)
        if session is None:
            raise WebError(401, "sign in first (your session ended)")
        token = request.headers.get("x-csrf-token")
        if token is None and request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            token = (await request.form()).get("csrf")  # type: ignore[assignment]
        if not sessions.same(token if isinstance(token, str) else None, session.csrf):
            raise WebError(403, "the form's security token is missing or stale: reload the page")
        if session.user.role not in roles:
            raise WebError(403, f"your role ({session.user.role}) may not do this")
        return session

    return dependency


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def Page(name: str) -> Any:  # noqa: N802 (reads like Depends)
    return Depends(page(name))


def Action(right: str) -> Any:  # noqa: N802
    return Depends(action(right))


env.globals["zip"] = zip
