"""``/`` (projects), ``/projects/{pid}`` (documents, upload, runs, the run form).

Every action calls the API route's own function with the signed-in user, so a page does
exactly what the API does (same checks, same audit rows)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from generator.errors import ConfigError
from generator.service.api import documents, projects, runs
from generator.service.api.projects import ProjectId
from generator.service.users import Principal
from generator.service.web.estimate import dry_run
from generator.service.web.sessions import Session
from generator.service.web.views import Action, Page, page, render, signed_in

router = APIRouter(include_in_schema=False)


def problem(exc: ValidationError) -> str:
    """Pydantic's first error, for a person."""
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e.get("loc", ())) or "form"
    return f"{where}: {e.get('msg', 'invalid')}".replace("Value error, ", "")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: Session = Depends(signed_in)) -> Response:
    if session.user.role == "admin":  # no projects to see: the admin's own page
        return RedirectResponse("/admin", status_code=303)
    page("projects")(request)  # the role check
    items = projects.list_projects(request, session.user).items
    return render(request, "projects.html", session, projects=items)


@router.post("/projects")
def create(
    request: Request, name: str = Form(""), session: Session = Action("projects.write")
) -> Response:
    try:
        body = projects.ProjectIn(name=name)
    except ValidationError as exc:
        items = projects.list_projects(request, session.user).items
        return render(request, "projects.html", session, 422, projects=items, error=problem(exc))
    made = projects.create_project(body, request, session.user)
    return RedirectResponse(f"/projects/{made.id}", status_code=303)


def _project_page(
    request: Request, session: Session, pid: int, status: int = 200, **extra: Any
) -> Response:
    return render(
        request, "project.html", session, status,
        project=projects.show_project(request, pid, session.user),
        documents=documents.list_documents(request, pid, session.user).items,
        runs=list(reversed(runs.list_runs(request, pid, session.user).items)),
        form=extra.pop("form", {}), **extra,
    )  # fmt: skip


@router.get("/projects/{pid}", response_class=HTMLResponse)
def project(
    request: Request, pid: int = ProjectId, session: Session = Page("projects")
) -> Response:
    return _project_page(request, session, pid)


@router.post("/projects/{pid}/documents")
async def upload(
    request: Request, pid: int = ProjectId, session: Session = Action("documents.write")
) -> Response:
    """The drag-and-drop upload (fetch, CSRF in the header): the API's upload, per-file
    results as JSON for the page to show."""
    out = await documents.upload_documents(request, pid, session.user)
    return JSONResponse(out.model_dump())


RUN_FIELDS = ("model", "template", "records", "per_chunk", "max_cost", "api_base")


async def _run_form(
    request: Request, session: Session, pid: int
) -> tuple[dict[str, str], runs.RunIn | Response]:
    """The run form's fields and the API body they make, or instead of the body the
    project page (422) saying what is wrong with them, the fields kept."""
    data = await request.form()
    form = {k: str(data.get(k, "")) for k in RUN_FIELDS}
    try:
        body = runs.RunIn(**{k: v.strip() for k, v in form.items() if v.strip()})
    except ValidationError as exc:
        return form, _project_page(request, session, pid, 422, form=form, error=problem(exc))
    return form, body


@router.post("/projects/{pid}/estimate")
async def estimate(
    request: Request, pid: int = ProjectId, session: Session = Action("runs.write")
) -> Response:
    """Step one of the run form: the dry-run estimate, then a button to start the run."""
    form, body = await _run_form(request, session, pid)
    if isinstance(body, Response):
        return body
    params = body.model_dump(exclude_none=True)
    try:
        est = await run_in_threadpool(dry_run, _project_dir(request, pid, session.user), params)
    except ConfigError as exc:
        return _project_page(request, session, pid, 422, form=form, error=str(exc))
    return _project_page(request, session, pid, form=form, estimate=est)


@router.post("/projects/{pid}/runs")
async def start_run(
    request: Request, pid: int = ProjectId, session: Session = Action("runs.write")
) -> Response:
    _, body = await _run_form(request, session, pid)
    if isinstance(body, Response):
        return body
    queued = runs.create_run(body, request, pid, session.user)
    return RedirectResponse(f"/runs/{queued.id}", status_code=303)


def _project_dir(request: Request, pid: int, user: Principal) -> Any:
    projects.show_project(request, pid, user)  # 404 if unknown or not the user's
    return request.app.state.settings.data / "projects" / str(pid)
