"""``/api/v1/users`` (admin): the same operations as ``instructforge users``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from generator.service import users
from generator.service.auth import remote, require
from generator.service.errors import ApiError
from generator.service.users import Principal, UserError

router = APIRouter(tags=["users"])
UserName = PathParam(..., min_length=1, max_length=64)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=64, pattern=users.NAME.pattern)
    role: Literal["admin", "operator", "reviewer", "legal"]


class UserOut(BaseModel):
    name: str
    role: str
    created_at: str
    revoked_at: str | None
    tokens: int


class UserList(BaseModel):
    items: list[UserOut]


class NewToken(BaseModel):
    name: str
    token: str = Field(description="shown once; only its hash is stored")


def _call(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        raise ApiError(exc.status, exc.message, exc.code) from exc


@router.get("/users", response_model=UserList, summary="Users and roles (admin)")
def list_users(request: Request, _u: Principal = Depends(require("users.manage"))) -> UserList:
    return UserList(items=[UserOut(**u) for u in users.listing(request.app.state.db)])


@router.post("/users", status_code=201, response_model=NewToken, summary="Add a user (admin)")
async def add_user(
    body: UserIn, request: Request, user: Principal = Depends(require("users.manage"))
) -> NewToken:
    token = await run_in_threadpool(
        _call,
        users.add,
        request.app.state.db,
        body.name,
        body.role,
        actor=user.name,
        remote=remote(request),
    )
    return NewToken(name=body.name, token=token)


@router.post("/users/{name}/revoke", status_code=204, summary="Revoke a user (admin)")
async def revoke_user(
    request: Request, name: str = UserName, user: Principal = Depends(require("users.manage"))
) -> None:
    await run_in_threadpool(
        _call, users.revoke, request.app.state.db, name, actor=user.name, remote=remote(request)
    )


@router.post("/users/{name}/token", response_model=NewToken, summary="New token (admin)")
async def new_token(
    request: Request, name: str = UserName, user: Principal = Depends(require("users.manage"))
) -> NewToken:
    token = await run_in_threadpool(
        _call, users.passwd, request.app.state.db, name, actor=user.name, remote=remote(request)
    )
    return NewToken(name=name, token=token)
