"""``/api/v1/projects/{pid}/documents``: upload (multipart ``files``, or a .zip) and list.

The upload streams to disk (Starlette spools each part past 1 MB to a temporary file; the
body cap of :mod:`generator.service.limits` cuts it off at ``--max-upload-mb``), then
:mod:`generator.service.uploads` checks the names, places the files and runs the ingest
stage; the answer has one result per file, as ``instructforge ingest`` reports it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path as FsPath
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from generator.ingest.pipeline import FileResult
from generator.service import audit, uploads
from generator.service.api.projects import MAX_ID, ProjectId, get_project
from generator.service.auth import remote, require
from generator.service.db import documents, now
from generator.service.errors import ApiError, not_found
from generator.service.users import Principal

router = APIRouter(tags=["documents"])

UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "documents (.md .txt .html .pdf .docx) or .zip files",
                        }
                    },
                }
            }
        },
    }
}


class FileOut(BaseModel):
    path: str
    type: str
    status: str
    size: int
    chunks: int
    tokens: int
    reason: str


class UploadOut(BaseModel):
    files: list[FileOut]
    counts: dict[str, int]


class Document(BaseModel):
    id: int
    path: str
    type: str
    status: str
    sha256: str | None
    size: int
    chunks: int
    tokens: int
    uploaded_by: str
    uploaded_at: str


class DocumentList(BaseModel):
    items: list[Document]


def _project_dir(request: Request, pid: int) -> FsPath:
    return request.app.state.settings.data / "projects" / str(pid)


def _check_project(request: Request, pid: int, user: Principal) -> None:
    with request.app.state.db.engine.connect() as conn:
        get_project(conn, pid, user)


def _upsert(conn: sa.Connection, pid: int, results: list[FileResult], user: str) -> None:
    """The documents table mirrors the project's documents folder after the upload."""
    at = now()
    for r in results:
        where = sa.and_(documents.c.project_id == pid, documents.c.path == r.path)
        if r.status not in uploads.OK:
            if r.status in ("error", "skipped"):
                conn.execute(documents.delete().where(where))
            continue
        values = {
            "type": r.type,
            "status": r.status,
            "reason": r.reason,
            "size": r.size,
            "chunks": r.chunks,
            "tokens": r.tokens,
            "uploaded_by": user,
            "uploaded_at": at,
        }
        if conn.execute(sa.select(documents.c.id).where(where)).first():
            conn.execute(documents.update().where(where).values(**values))
        else:
            conn.execute(documents.insert().values(project_id=pid, path=r.path, **values))


def _store(request: Request, pid: int, stager: uploads.Stager, user: Principal) -> UploadOut:
    project_dir = _project_dir(request, pid)
    with uploads.project_lock(project_dir):
        results = uploads.ingest_upload(project_dir, stager.items)
        sha = _shas(project_dir)
        counts = Counter(r.status for r in results)
        with request.app.state.db.engine.begin() as conn:
            _upsert(conn, pid, results, user.name)
            for path, digest in sha.items():
                conn.execute(
                    documents.update()
                    .where(documents.c.project_id == pid, documents.c.path == path)
                    .values(sha256=digest)
                )
            audit.record(
                conn,
                actor=user.name,
                action="documents.upload",
                target=f"project:{pid}",
                remote=remote(request),
                detail={"files": len(results), **counts},
            )
    return UploadOut(files=[FileOut(**uploads.result_json(r)) for r in results], counts=counts)


def _shas(project_dir: FsPath) -> dict[str, str]:
    from generator.store import Journal

    with Journal(project_dir / "ingest") as journal:
        return {r["path"]: r["sha256"] for r in journal.query("SELECT path, sha256 FROM documents")}


@router.post(
    "/projects/{pid}/documents",
    response_model=UploadOut,
    summary="Upload documents (multipart `files`, or a .zip) and ingest them",
    openapi_extra=UPLOAD_SCHEMA,
)
async def upload_documents(
    request: Request,
    pid: int = ProjectId,
    user: Principal = Depends(require("documents.write")),
) -> UploadOut:
    await run_in_threadpool(_check_project, request, pid, user)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "send the files as multipart/form-data, field `files`")
    try:
        form = await request.form(max_files=uploads.MAX_FILES, max_fields=16)
    except MultiPartException as exc:
        raise ApiError(400, f"malformed multipart body: {exc.message}") from exc
    try:
        extra = sorted(set(form.keys()) - {"files"})
        if extra:
            raise ApiError(422, f"unknown form fields: {', '.join(extra)} (only `files`)")
        parts = form.getlist("files")
        if not parts:
            raise ApiError(422, "files: no files in the upload")
        if not all(isinstance(p, UploadFile) for p in parts):
            raise ApiError(422, "files: every part must be a file (with a filename)")
        stager = uploads.Stager(uploads.staging_folder(_project_dir(request, pid)))
        try:
            for part in parts:
                assert isinstance(part, UploadFile)
                await run_in_threadpool(stager.add_file, part.filename or "", part.file)
            return await run_in_threadpool(_store, request, pid, stager, user)
        finally:
            uploads.clean(stager.folder)
    finally:
        await form.close()


@router.get(
    "/projects/{pid}/documents", response_model=DocumentList, summary="The project's documents"
)
def list_documents(
    request: Request,
    pid: int = ProjectId,
    user: Principal = Depends(require("documents.read")),
) -> DocumentList:
    with request.app.state.db.engine.connect() as conn:
        get_project(conn, pid, user)
        rows = conn.execute(
            sa.select(documents).where(documents.c.project_id == pid).order_by(documents.c.path)
        ).mappings()
        return DocumentList(items=[Document(**_doc(r)) for r in rows])


@router.get("/projects/{pid}/documents/{did}", response_model=Document, summary="One document")
def show_document(
    request: Request,
    pid: int = ProjectId,
    did: int = Path(..., ge=1, le=MAX_ID),
    user: Principal = Depends(require("documents.read")),
) -> Document:
    with request.app.state.db.engine.connect() as conn:
        get_project(conn, pid, user)
        row = (
            conn.execute(
                sa.select(documents).where(documents.c.project_id == pid, documents.c.id == did)
            )
            .mappings()
            .first()
        )
    if row is None:  # another project's document is not found here either
        raise not_found(f"document {did} in project {pid}")
    return Document(**_doc(row))


def _doc(row: Any) -> dict[str, Any]:
    return {k: row[k] for k in Document.model_fields}
