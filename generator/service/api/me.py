"""``GET /api/v1/me``: who the token belongs to."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from generator.service.auth import require
from generator.service.users import Principal

router = APIRouter(tags=["me"])


class Me(BaseModel):
    name: str
    role: str


@router.get("/me", response_model=Me, summary="The caller's name and role")
def me(user: Principal = Depends(require("me"))) -> Me:
    return Me(name=user.name, role=user.role)
