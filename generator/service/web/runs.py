"""``/runs/{rid}``: status, counts, cost, top rejection reasons, live progress (server-sent
events through the API's own stream), the review outcome and the run's jobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from generator.service import jobs as queue
from generator.service.api import events, projects, runs
from generator.service.api.runs import RunId
from generator.service.db import jobs
from generator.service.web.sessions import Session
from generator.service.web.views import Action, Page, render

router = APIRouter(include_in_schema=False)
TOP_REASONS = 5


def run_dir(request: Request, run: Any) -> Path:
    data: Path = request.app.state.settings.data
    return data / "projects" / str(run.project_id) / "runs" / str(run.id)


def rejection_reasons(folder: Path) -> list[tuple[str, int]]:
    """The run's most common rejection reasons, read from its journal (read-only)."""
    journal = folder / "run.sqlite"
    if not journal.exists():
        return []
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute(
            "SELECT reason, COUNT(*) FROM gen_rejections GROUP BY reason "
            "ORDER BY COUNT(*) DESC, reason LIMIT ?", (TOP_REASONS,)
        ).fetchall()  # fmt: skip
    except sqlite3.Error:  # not generated yet
        rows = []
    finally:
        conn.close()
    return [(str(r), int(n)) for r, n in rows]


def review_outcome(folder: Path) -> dict[str, Any] | None:
    """``review status`` figures (acceptance rate, defect rate with its 95% interval), or
    None before the queue is drawn; read without locking the run (a job may hold it)."""
    from generator.review.session import summary
    from generator.review.store import ReviewStore
    from generator.store import JOURNAL_NAME, Journal

    path = folder / JOURNAL_NAME
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:  # no queue drawn yet: nothing to show, and nothing written to a journal a job holds
        drawn = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='review_items'"
        ).fetchone()
    except sqlite3.Error:
        drawn = None
    finally:
        conn.close()
    if not drawn:
        return None
    journal = Journal(folder)
    try:
        store = ReviewStore(journal)
        return summary(store) if store.has_sample() else None
    except sqlite3.Error:
        return None
    finally:
        journal.close()


def run_jobs(request: Request, rid: int) -> list[dict[str, Any]]:
    with request.app.state.db.engine.connect() as conn:
        rows = conn.execute(sa.select(jobs).where(jobs.c.run_id == rid).order_by(jobs.c.id))
        return [queue.row_json(r) for r in rows.mappings()]


@router.get("/runs/{rid}", response_class=HTMLResponse)
def run_page(request: Request, rid: int = RunId, session: Session = Page("run")) -> Response:
    run = runs.show_run(request, rid, session.user)
    folder = run_dir(request, run)
    return render(
        request, "run.html", session, run=run,
        project=projects.show_project(request, run.project_id, session.user),
        reasons=rejection_reasons(folder), outcome=review_outcome(folder),
        jobs=run_jobs(request, rid), curated=(folder / "curation" / "stats.json").exists(),
        final=run.status in queue.FINAL,
    )  # fmt: skip


@router.get("/runs/{rid}/events")
async def run_events(
    request: Request, rid: int = RunId, session: Session = Page("run")
) -> StreamingResponse:
    """The API's progress stream, for the signed-in user."""
    return await events.run_events(request, rid, session.user)


@router.post("/runs/{rid}/curate")
def curate(request: Request, rid: int = RunId, session: Session = Action("runs.write")) -> Response:
    runs.curate_run(runs.CurateIn(), request, rid, session.user)
    return RedirectResponse(f"/runs/{rid}", status_code=303)


@router.post("/runs/{rid}/cancel")
def cancel(request: Request, rid: int = RunId, session: Session = Action("runs.write")) -> Response:
    runs.cancel_run(request, rid, session.user)
    return RedirectResponse(f"/runs/{rid}", status_code=303)


def run_page_context(request: Request, rid: int, session: Session) -> dict[str, Any]:
    """The run and its project, for the header every run page shows."""
    run = runs.show_run(request, rid, session.user)
    return {"run": run, "project": projects.show_project(request, run.project_id, session.user)}
