"""``GET /api/v1/jobs/{jid}``: one job (generate, curate or export) and how it stands."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from generator.service import access
from generator.service import jobs as queue
from generator.service.api.projects import MAX_ID
from generator.service.auth import require
from generator.service.errors import not_found
from generator.service.users import Principal

router = APIRouter(tags=["jobs"])


class Job(BaseModel):
    id: int
    kind: str
    project_id: int
    run_id: int
    params: dict[str, Any]
    status: str
    cancel_requested: bool
    counts: dict[str, Any]
    cost: float
    error: str | None
    attempts: int
    created_by: str
    created_at: str
    started_at: str | None
    ended_at: str | None


@router.get("/jobs/{jid}", response_model=Job, summary="A job: kind, status, counts, error")
def show_job(
    request: Request,
    jid: int = Path(..., ge=1, le=MAX_ID, description="job id"),
    user: Principal = Depends(require("runs.read")),
) -> Job:
    with request.app.state.db.engine.connect() as conn:
        job = queue.get(conn, jid)
        if job is None:
            raise not_found(f"job {jid}")
        access.check(conn, user, job["project_id"], f"job {jid}")
    job["cost"] = job.pop("cost_usd")
    return Job(**{k: job[k] for k in Job.model_fields})
