"""``/api/v1/projects/{pid}/members``: who may see a project (admins add and remove them).

A project's creator is its first member; an admin adds the reviewers, legal and other
operators who work on it. Everything under a project is answered 404 to a non-member
(:mod:`generator.service.access`).
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from generator.service import access, audit
from generator.service import users as users_mod
from generator.service.api.projects import ProjectId, get_project
from generator.service.auth import remote, require
from generator.service.db import now, project_members, users
from generator.service.errors import ApiError, not_found
from generator.service.users import Principal

router = APIRouter(tags=["projects"])


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=64, pattern=users_mod.NAME.pattern)


class Member(BaseModel):
    name: str
    role: str
    added_by: str
    added_at: str


class MemberList(BaseModel):
    items: list[Member]


def _members(conn: sa.Connection, pid: int) -> list[Member]:
    rows = conn.execute(
        sa.select(users.c.name, users.c.role, project_members.c.added_by,
                  project_members.c.added_at)
        .join(users, users.c.id == project_members.c.user_id)
        .where(project_members.c.project_id == pid).order_by(users.c.name)
    ).mappings()  # fmt: skip
    return [Member(**r) for r in rows]


def _user_row(conn: sa.Connection, name: str) -> dict:  # type: ignore[type-arg]
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
    if row is None:
        raise not_found(f"user {name!r}")
    return dict(row)


@router.get("/projects/{pid}/members", response_model=MemberList,
            summary="The project's members")  # fmt: skip
def list_members(
    request: Request, pid: int = ProjectId, user: Principal = Depends(require("projects.read"))
) -> MemberList:
    with request.app.state.db.engine.connect() as conn:
        get_project(conn, pid, user)
        return MemberList(items=_members(conn, pid))


@router.post("/projects/{pid}/members", status_code=201, response_model=Member,
             summary="Add a member to the project (admin)")  # fmt: skip
def add_member(
    body: MemberIn, request: Request, pid: int = ProjectId,
    user: Principal = Depends(require("members.manage")),
) -> Member:  # fmt: skip
    with request.app.state.db.engine.begin() as conn:
        get_project(conn, pid, user)
        who = _user_row(conn, body.name)
        if who["revoked_at"] is not None:
            raise ApiError(409, f"user {body.name!r} is revoked")
        if access.can_see(conn, Principal(who["id"], who["name"], "member"), pid):
            raise ApiError(409, f"{body.name!r} is already a member of project {pid}")
        at = now()
        access.add_member(conn, pid, who["id"], by=user.name, at=at)
        audit.record(conn, actor=user.name, action="project.member.add",
                     target=f"project:{pid}", remote=remote(request),
                     detail={"member": body.name, "role": who["role"]})  # fmt: skip
    return Member(name=who["name"], role=who["role"], added_by=user.name, added_at=at)


@router.delete("/projects/{pid}/members/{name}", status_code=204,
               summary="Remove a member from the project (admin)")  # fmt: skip
def remove_member(
    request: Request, pid: int = ProjectId,
    name: str = PathParam(..., min_length=1, max_length=64),
    user: Principal = Depends(require("members.manage")),
) -> None:  # fmt: skip
    with request.app.state.db.engine.begin() as conn:
        get_project(conn, pid, user)
        who = _user_row(conn, name)
        mine = (project_members.c.project_id == pid) & (project_members.c.user_id == who["id"])
        gone = conn.execute(project_members.delete().where(mine))
        if gone.rowcount == 0:
            raise not_found(f"member {name!r} of project {pid}")
        audit.record(conn, actor=user.name, action="project.member.remove",
                     target=f"project:{pid}", remote=remote(request),
                     detail={"member": name})  # fmt: skip
