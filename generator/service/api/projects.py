"""``/api/v1/projects``: create and list projects (a project holds documents, later runs)."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import Connection

from generator.service import access, audit
from generator.service.auth import remote, require
from generator.service.db import now, projects
from generator.service.errors import ApiError
from generator.service.users import Principal

router = APIRouter(tags=["projects"])

MAX_ID = 2**31 - 1  # INTEGER on both databases
ProjectId = Path(..., ge=1, le=MAX_ID, description="project id")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _clean(cls, value: str) -> str:
        value = value.strip()
        if not value or _CONTROL.search(value):
            raise ValueError("a project name needs visible characters and no control characters")
        return value


class Project(BaseModel):
    id: int
    name: str
    created_by: str
    created_at: str


class ProjectList(BaseModel):
    items: list[Project]


def get_project(conn: Connection, pid: int, user: Principal) -> dict[str, Any]:
    """The project row, or 404 (unknown, or the caller is not a member)."""
    return access.project(conn, user, pid)


@router.post("/projects", status_code=201, response_model=Project, summary="Create a project")
def create_project(
    body: ProjectIn, request: Request, user: Principal = Depends(require("projects.write"))
) -> Project:
    with request.app.state.db.engine.begin() as conn:
        taken = conn.execute(sa.select(projects.c.id).where(projects.c.name == body.name)).first()
        if taken:
            raise ApiError(409, f"a project named {body.name!r} already exists")
        row = {"name": body.name, "created_by": user.name, "created_at": now()}
        pid = conn.execute(projects.insert().values(**row)).inserted_primary_key[0]
        access.add_member(conn, pid, user.id, by=user.name, at=row["created_at"])
        audit.record(
            conn,
            actor=user.name,
            action="project.create",
            target=f"project:{pid}",
            remote=remote(request),
            detail={"name": body.name},
        )
    return Project(id=pid, **row)


@router.get("/projects", response_model=ProjectList, summary="List projects")
def list_projects(
    request: Request, user: Principal = Depends(require("projects.read"))
) -> ProjectList:
    """The projects the caller is a member of (every project for an admin)."""
    with request.app.state.db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(projects).where(access.visible_projects(user)).order_by(projects.c.id)
        ).mappings()
        return ProjectList(items=[Project(**r) for r in rows])


@router.get("/projects/{pid}", response_model=Project, summary="One project")
def show_project(
    request: Request, pid: int = ProjectId, user: Principal = Depends(require("projects.read"))
) -> Project:
    with request.app.state.db.engine.connect() as conn:
        return Project(**get_project(conn, pid, user))
