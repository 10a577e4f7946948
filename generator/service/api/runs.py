"""``/api/v1/projects/{pid}/runs`` and ``/api/v1/runs/{rid}``: generation runs as jobs.

``POST`` answers 202 at once with the queued job; a worker of any server sharing the
database runs it (:mod:`generator.service.workers`). A run's status, counts, cost and error
are those of its generate job. Curate and export are jobs over the same run folder; the
queue runs one job of a run at a time, in the order they were asked for. Nothing here takes
a secret: provider keys stay in the servers' environment.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Connection

from generator.export.base import formats
from generator.records import USES
from generator.service import access
from generator.service import jobs as queue
from generator.service.api.projects import MAX_ID, ProjectId, get_project
from generator.service.auth import remote, require
from generator.service.db import jobs, now, runs
from generator.service.errors import ApiError
from generator.service.users import Principal

router = APIRouter(tags=["runs"])

RunId = Path(..., ge=1, le=MAX_ID, description="run id")
_TEMPLATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# every format the CLI's export accepts (its registry: pairs, eval sets and tool data too)
FORMATS = tuple(formats())


class RunIn(BaseModel):
    """A generation: the ``generate`` command's options a service user may set."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1, max_length=300, description="LiteLLM model string")
    template: str | None = Field(None, description="a built-in prompt template id")
    records: int | None = Field(None, ge=1, le=10_000_000)
    per_chunk: int | None = Field(None, ge=1, le=1000)
    concurrency: int | None = Field(None, ge=1, le=256)
    max_cost: float | None = Field(None, ge=0, le=1_000_000)
    api_base: str | None = Field(None, max_length=500)
    batch: bool | None = Field(
        None, description="through the provider's batch API (half price, up to 24 h)"
    )

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if any(c.isspace() for c in value) or value.startswith("-"):
            raise ValueError("a LiteLLM model string such as openai/gpt-4o-mini or mock/echo")
        return value

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and not _TEMPLATE.match(value):
            raise ValueError("a built-in template id (letters, digits, . _ -), not a path")
        return value

    @field_validator("max_cost")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("a finite number of USD")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^https?://[^\s/@]+(/\S*)?$", value):
            raise ValueError("an http(s) URL without credentials (keys stay in the server env)")
        return value


class CurateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] | None = Field(None, description="curate.yaml's settings, as JSON")


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal[FORMATS]  # type: ignore[valid-type]
    use: Literal[USES]  # type: ignore[valid-type]
    strict: bool = False


class Queued(BaseModel):
    id: int
    status: str
    job: int


class Run(BaseModel):
    id: int
    project_id: int
    model: str
    status: str
    counts: dict[str, Any]
    cost: float
    error: str | None
    job: int
    created_by: str
    created_at: str


class RunList(BaseModel):
    items: list[Run]


def get_run(conn: Connection, rid: int, user: Principal) -> dict[str, Any]:
    """The run row, or 404 (unknown, or in a project the caller is not a member of)."""
    return access.run(conn, user, rid)


def run_view(conn: Connection, run: dict[str, Any]) -> Run:
    """A run as the API shows it: the state of its (latest) generate job."""
    row = conn.execute(
        sa.select(jobs).where(jobs.c.run_id == run["id"], jobs.c.kind == "generate")
        .order_by(jobs.c.id.desc()).limit(1)
    ).mappings().first()  # fmt: skip
    job = queue.row_json(row)
    return Run(id=run["id"], project_id=run["project_id"], model=run["model"],
               status=job["status"], counts=job["counts"], cost=job["cost_usd"],
               error=job["error"], job=job["id"], created_by=run["created_by"],
               created_at=run["created_at"])  # fmt: skip


@router.post("/projects/{pid}/runs", status_code=202, response_model=Queued,
             summary="Start a generation run (a job; answers at once)")  # fmt: skip
def create_run(
    body: RunIn, request: Request, pid: int = ProjectId,
    user: Principal = Depends(require("runs.write")),
) -> Queued:  # fmt: skip
    params = body.model_dump(exclude_none=True)
    with request.app.state.db.engine.begin() as conn:
        get_project(conn, pid, user)
        rid = conn.execute(
            runs.insert().values(
                project_id=pid, model=body.model, created_by=user.name, created_at=now()
            )
        ).inserted_primary_key[0]
        jid = queue.enqueue(conn, kind="generate", project_id=pid, run_id=rid, params=params,
                            actor=user.name, remote=remote(request))  # fmt: skip
    return Queued(id=rid, status="queued", job=jid)


@router.get("/projects/{pid}/runs", response_model=RunList, summary="The project's runs")
def list_runs(
    request: Request, pid: int = ProjectId, user: Principal = Depends(require("runs.read"))
) -> RunList:
    with request.app.state.db.engine.connect() as conn:
        get_project(conn, pid, user)
        rows = conn.execute(sa.select(runs).where(runs.c.project_id == pid).order_by(runs.c.id))
        return RunList(items=[run_view(conn, dict(r)) for r in rows.mappings().all()])


@router.get("/runs/{rid}", response_model=Run, summary="A run: status, counts, cost, error")
def show_run(
    request: Request, rid: int = RunId, user: Principal = Depends(require("runs.read"))
) -> Run:
    with request.app.state.db.engine.connect() as conn:
        return run_view(conn, get_run(conn, rid, user))


@router.post("/runs/{rid}/cancel", status_code=202, response_model=Run,
             summary="Cancel the run's queued and running jobs")  # fmt: skip
def cancel_run(
    request: Request, rid: int = RunId, user: Principal = Depends(require("runs.write"))
) -> Run:
    with request.app.state.db.engine.begin() as conn:
        run = get_run(conn, rid, user)
        active = conn.execute(
            sa.select(jobs.c.id).where(jobs.c.run_id == rid, jobs.c.status.in_(queue.ACTIVE))
        ).scalars().all()  # fmt: skip
        hits = [queue.cancel(conn, j, actor=user.name, remote=remote(request)) for j in active]
        if not any(hits):
            raise ApiError(409, f"run {rid} has no queued or running job to cancel")
        return run_view(conn, run)


@router.post("/runs/{rid}/curate", status_code=202, response_model=Queued,
             summary="Curate the run (a job)")  # fmt: skip
def curate_run(
    body: CurateIn, request: Request, rid: int = RunId,
    user: Principal = Depends(require("runs.write")),
) -> Queued:  # fmt: skip
    if body.config is not None:
        from generator.curate.config import parse_config
        from generator.errors import ConfigError

        try:
            parse_config(body.config, "config")
        except ConfigError as exc:
            raise ApiError(422, str(exc)) from exc
    return _enqueue(request, rid, "curate", body.model_dump(exclude_none=True), user)


@router.post("/runs/{rid}/exports", status_code=202, response_model=Queued,
             summary="Export the run through the licence gate (a job)")  # fmt: skip
def export_run(
    body: ExportIn, request: Request, rid: int = RunId,
    user: Principal = Depends(require("exports.write")),
) -> Queued:  # fmt: skip
    return _enqueue(request, rid, "export", body.model_dump(), user)


def _enqueue(
    request: Request, rid: int, kind: str, params: dict[str, Any], user: Principal
) -> Queued:
    with request.app.state.db.engine.begin() as conn:
        run = get_run(conn, rid, user)
        jid = queue.enqueue(conn, kind=kind, project_id=run["project_id"], run_id=rid,
                            params=params, actor=user.name, remote=remote(request))  # fmt: skip
    return Queued(id=jid, status="queued", job=jid)
