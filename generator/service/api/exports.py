"""``GET /api/v1/exports/{eid}`` and ``/files/{name}``: an export job's files, downloaded.

The lookup and its checks are :mod:`generator.service.exports`; the download streams the
file (``FileResponse``: chunked reads, ``Range`` requests, an ETag) with its sha256 from the
manifest in ``X-Content-SHA256`` so a client can check what it received.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from generator.service import exports
from generator.service.api.projects import MAX_ID
from generator.service.auth import require
from generator.service.users import Principal

router = APIRouter(tags=["exports"])
ExportId = Path(..., ge=1, le=MAX_ID, description="export id (its job's id)")


class ExportFileOut(BaseModel):
    name: str
    sha256: str
    bytes: int


class Export(BaseModel):
    id: int
    run_id: int
    status: str = Field(description="the export job's status; files once it is `done`")
    error: str | None = Field(description="why it failed (the licence gate's refusal, ...)")
    files: list[ExportFileOut]


@router.get("/exports/{eid}", response_model=Export, summary="An export: status and files")
def show_export(
    request: Request, eid: int = ExportId, user: Principal = Depends(require("exports.read"))
) -> Export:
    with request.app.state.db.engine.connect() as conn:
        job = exports.get_export(conn, eid, user)
    listed = exports.files(request.app.state.settings.data, job)
    return Export(id=eid, run_id=job["run_id"], status=job["status"], error=job["error"],
                  files=[ExportFileOut(**f.__dict__) for f in listed])  # fmt: skip


@router.get(
    "/exports/{eid}/files/{name}",
    summary="Download one file of an export",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_export_file(
    request: Request, eid: int = ExportId,
    name: str = Path(..., min_length=1, max_length=255, description="a name from `files`"),
    user: Principal = Depends(require("exports.read")),
) -> FileResponse:  # fmt: skip
    with request.app.state.db.engine.connect() as conn:
        job = exports.get_export(conn, eid, user)
    path, entry = exports.open_file(request.app.state.settings.data, job, name)
    media = (
        "application/json"
        if name.endswith(".json")
        else (
            "text/markdown; charset=utf-8" if name.endswith(".md") else "application/octet-stream"
        )
    )
    return FileResponse(path, media_type=media, filename=entry.name,
                        headers={"X-Content-SHA256": entry.sha256})  # fmt: skip
