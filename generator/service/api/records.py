"""``GET /api/v1/runs/{rid}/records``: a run's records, filtered, a page at a time.

Served from the run's record index (:mod:`generator.service.records_index`), refreshed from
the run folder's files when they changed, so a page is an index scan and a few reads by
offset whatever the size of the run. ``next`` is the cursor of the following page (none on
the last); a cursor is only good for this endpoint (422 otherwise). Each item carries the
record exactly as its file holds it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from generator.service.api.review import run_folder
from generator.service.api.runs import RunId
from generator.service.auth import require
from generator.service.errors import ApiError
from generator.service.records_index import STAGES, StaleIndex, fts_query, run_index
from generator.service.users import Principal

router = APIRouter(tags=["records"])
Stage = Literal[tuple(STAGES)]  # type: ignore[valid-type]


def _filter(what: str) -> object:
    """A filter's query parameter (a new one each: FastAPI names a shared one once)."""
    return Query(None, min_length=1, max_length=1000, description=what)


class RecordItem(BaseModel):
    position: int = Field(description="the line's place (stage, line number): stable")
    stage: str = Field(description="the file it is in: " + ", ".join(STAGES))
    step: str | None = Field(description="the curation step that removed it")
    reason: str | None = Field(description="why it was removed or rejected")
    policy: str | None
    document: str | None = Field(description="its source document's path")
    record: dict[str, Any] = Field(description="the line as the run folder holds it")


class RecordPage(BaseModel):
    items: list[RecordItem]
    next: str | None = Field(description="`cursor` of the next page (none on the last)")


@router.get("/runs/{rid}/records", response_model=RecordPage,
            summary="The run's records: filters, text search, pages by cursor")  # fmt: skip
def list_records(
    request: Request, rid: int = RunId,
    stage: Stage | None = Query(None, description="the run folder file the records are in"),
    step: str | None = _filter("the curation step that removed the record"),
    reason: str | None = _filter("why it was removed or rejected"),
    policy: str | None = _filter("the policy id of its model"),
    document: str | None = _filter("its source document's path"),
    q: str | None = Query(None, min_length=1, max_length=500,
                          description="words that must all occur in the record's text"),
    cursor: str | None = Query(None, description="`next` of the previous page"),
    limit: int = Query(100, ge=1, le=1000),
    user: Principal = Depends(require("runs.read")),
) -> Response:  # fmt: skip
    after = _cursor(cursor)
    match = None
    if q is not None and (match := fts_query(q)) is None:
        raise ApiError(422, "q: no words to search for")
    run, _ = run_folder(request, rid, user)
    index = run_index(request.app.state.settings.data, run["project_id"], rid)
    filters = {"step": step, "reason": reason, "policy": policy, "document": document}
    for attempt in (1, 2):
        with index.open(rebuild=attempt == 2) as conn:
            try:
                rows = index.page(conn, stage=stage, filters=filters, q=match, after=after,
                                  limit=limit + 1)  # fmt: skip
            except sqlite3.OperationalError as exc:  # a word the full-text index refuses
                if match is None:
                    raise
                raise ApiError(422, f"q: cannot search for {q!r}") from exc
        try:
            lines = index.read(rows[:limit])
            break
        except StaleIndex:
            if attempt == 2:
                raise ApiError(409, "the run's files are being rewritten; try again") from None
    parts = []
    for row, line in zip(rows, lines, strict=False):
        head = json.dumps({"position": row.id, "stage": row.stage, "step": row.step,
                           "reason": row.reason, "policy": row.policy,
                           "document": row.document}, ensure_ascii=False)  # fmt: skip
        parts.append(head[:-1].encode() + b', "record": ' + line + b"}")
    nxt = json.dumps(str(rows[limit - 1].id) if len(rows) > limit else None)
    body = b'{"items": [' + b", ".join(parts) + b'], "next": ' + nxt.encode() + b"}"
    return Response(body, media_type="application/json")


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise ApiError(422, "cursor: not a cursor from this endpoint")
    return int(cursor)
