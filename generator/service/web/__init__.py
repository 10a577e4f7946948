"""The web app for reviewers and legal, served by ``instructforge serve`` beside the API.

Server-rendered pages (Jinja2, autoescaped) over the same functions the API routes call, a
little JavaScript from ``static/`` (no build step, no inline script, no third-party asset),
server-side sessions (:mod:`.sessions`) and role checks on every page and action
(:mod:`.views`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from generator.service.errors import ApiError
from generator.service.web import security
from generator.service.web.views import STATIC, SignInNeeded, WebError, current, login_url, render


def mount(app: FastAPI) -> None:
    """Add the pages, the static files and the security headers to the service app."""
    from generator.service.web import curation, legal, projects, review, runs, signin

    app.add_middleware(security.SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (signin, projects, runs, review, legal, curation):
        app.include_router(module.router)

    api_error = app.exception_handlers[StarletteHTTPException]  # errors.install's

    async def on_web_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WebError)
        return _error_page(request, exc.status, exc.message)

    async def on_sign_in(request: Request, _exc: Exception) -> Response:
        return RedirectResponse(login_url(request), status_code=303)

    async def on_api_error(request: Request, exc: Exception) -> Response:
        """An API function called by a page: its error as a page, not JSON."""
        if request.url.path.startswith("/api/") or not isinstance(exc, ApiError):
            return await api_error(request, exc)
        return _error_page(request, exc.status_code, str(exc.detail))

    app.add_exception_handler(WebError, on_web_error)
    app.add_exception_handler(SignInNeeded, on_sign_in)
    app.add_exception_handler(ApiError, on_api_error)


def _error_page(request: Request, status: int, message: str) -> Response:
    wants_json = "application/json" in request.headers.get("accept", "")
    if wants_json:
        from generator.service.errors import error_response

        return error_response(status, message)
    return render(request, "error.html", current(request), code=status, status_code=status,
                  message=message)  # fmt: skip
