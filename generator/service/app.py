"""The app factory: ``create_app(settings, db)`` gives the FastAPI app ``serve`` runs.

Interactive docs (``/docs``, ``/redoc``) use the Swagger UI and ReDoc files shipped in the
``fastapi-offline`` package, so they work with no network. Every error has one JSON shape
(:mod:`generator.service.errors`); bodies are capped while they stream
(:mod:`generator.service.limits`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from generator import __version__
from generator.service import errors, web
from generator.service.api import (
    audit,
    documents,
    events,
    health,
    jobs,
    me,
    projects,
    review,
    runs,
    signoffs,
    users,
)
from generator.service.db import Database
from generator.service.limits import BodyLimit
from generator.service.settings import ServiceSettings

API = "/api/v1"
_STATIC = Path(fastapi_offline.__file__).parent / "static"


def create_app(settings: ServiceSettings, db: Database) -> FastAPI:
    """The service app over an open (migrated) database."""
    app = FastAPI(
        title="instructforge",
        version=__version__,
        description="Documents in, defensible fine-tuning data out: the HTTP service. "
        "Every call but `GET /healthz` needs `Authorization: Bearer TOKEN` "
        "(`instructforge users add NAME --role ROLE` prints one).",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    errors.install(app)
    app.add_middleware(BodyLimit, upload_limit=settings.max_upload_bytes)
    app.include_router(health.router)
    for module in (me, projects, documents, runs, review, signoffs, events, jobs, users, audit):
        app.include_router(module.router, prefix=API)
    _docs(app)
    web.mount(app)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start this server's job workers (``--workers``); stop them (resumably) on shutdown."""
    from generator.service.workers import JobRunner

    runner = JobRunner(app.state.settings, app.state.db)
    runner.start()
    app.state.jobs = runner
    try:
        yield
    finally:
        await runner.stop()


def _docs(app: FastAPI) -> None:
    app.mount("/static-docs", StaticFiles(directory=_STATIC), name="static-docs")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="instructforge API",
            swagger_js_url="/static-docs/swagger-ui-bundle.js",
            swagger_css_url="/static-docs/swagger-ui.css",
            swagger_favicon_url="/static-docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="instructforge API",
            redoc_js_url="/static-docs/redoc.standalone.js",
            redoc_favicon_url="/static-docs/favicon.png",
            with_google_fonts=False,
        )
