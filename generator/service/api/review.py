"""``/api/v1/runs/{rid}/review``: the run's review queue and reviewers' decisions.

The same stage code as ``instructforge review``: the queue is drawn (or resumed) with
:func:`generator.review.session.prepare` (records a curation step sent to review, then the
seeded sample) and a decision is :meth:`ReviewStore.decide` in the run journal, with the API
user as the reviewer. A decision made here is what ``review status`` and ``export`` read, and
the other way round.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from generator.curate.quality import journal_source_text
from generator.errors import ConfigError, RunBusyError
from generator.records import schema_errors
from generator.review import io as review_io
from generator.review.session import prepare
from generator.review.store import Item, ReviewStore, text_digest
from generator.runfolder import open_run_folder
from generator.service import audit
from generator.service.api.runs import RunId, get_run
from generator.service.auth import remote, require
from generator.service.errors import ApiError, not_found
from generator.service.users import Principal
from generator.store import JOURNAL_NAME, Journal

router = APIRouter(tags=["review"])


class ReviewItem(BaseModel):
    record_id: str
    position: int
    origin: str = Field(description="'flagged' (sent by a curation step) or 'sample'")
    reason: str | None = Field(description="why a curation step sent it")
    record: dict[str, Any]
    source_text: str | None = Field(description="the source chunk the record was made from")
    curation: dict[str, Any] = Field(description="the curation steps' scores and flags")
    decision: dict[str, Any] | None = Field(description="the latest decision on this text")


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    next: str | None = Field(description="`cursor` of the next page (none on the last)")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "reject", "edit"]
    reason: str | None = Field(None, max_length=2000)
    record: dict[str, Any] | None = Field(None, description="the edited record (edit only)")


class DecisionOut(BaseModel):
    record_id: str
    decision: str
    reason: str | None
    reviewer: str


def run_folder(request: Request, rid: int, user: Principal) -> tuple[dict[str, Any], Path]:
    """The run row (404 if unknown or not the caller's) and its folder under ``--data``."""
    with request.app.state.db.engine.connect() as conn:
        run = get_run(conn, rid, user)
    data: Path = request.app.state.settings.data
    return run, data / "projects" / str(run["project_id"]) / "runs" / str(rid)


@contextlib.contextmanager
def open_journal(run_dir: Path, command: str) -> Iterator[Journal]:
    """The run journal, the run locked like the CLI locks it; 409 when busy or not a run."""
    try:
        with open_run_folder(run_dir, command, need_journal=True, say=lambda _: None) as folder:
            yield folder.journal
    except RunBusyError as exc:
        raise ApiError(409, "the run is busy (a job or command holds it); try again") from exc
    except ConfigError as exc:
        raise ApiError(409, f"the run has nothing to review yet: {exc}") from exc


def review_item(it: Item, decision: dict[str, Any] | None, source_text: str | None) -> ReviewItem:
    """Queue item ``it`` as the API and the pages show it, with its decision on this text."""
    return ReviewItem(
        record_id=it.record_id, position=it.position, origin=it.origin, reason=it.reason,
        record=it.record.to_dict(), source_text=source_text,
        curation=dict(it.record.meta.curation),
        decision=None if decision is None else {
            k: decision[k] for k in ("decision", "reason", "reviewer", "at")},
    )  # fmt: skip


@router.get("/runs/{rid}/review", response_model=ReviewPage,
            summary="The review queue: records, source chunks, scores, flags")  # fmt: skip
def review_queue(
    request: Request, rid: int = RunId,
    cursor: str | None = Query(None, description="`next` of the previous page"),
    limit: int = Query(50, ge=1, le=500),
    user: Principal = Depends(require("review.read")),
) -> ReviewPage:  # fmt: skip
    start = 0
    if cursor is not None:
        if not cursor.isdigit() or len(cursor) > 18:
            raise ApiError(422, "cursor: not a cursor from this endpoint")
        start = int(cursor)
    _, run_dir = run_folder(request, rid, user)
    if not (run_dir / JOURNAL_NAME).exists():
        return ReviewPage(items=[], next=None)  # nothing generated yet: nothing to review
    with open_journal(run_dir, "review") as journal:
        store = ReviewStore(journal)
        prepare(store, run_dir, None, None)
        source = journal_source_text(journal)
        latest = store.latest()
        page = [it for it in store.items() if it.position >= start][: limit + 1]
        items = []
        for it in page[:limit]:
            d = latest.get(it.record_id)
            if d is not None and d["text_sha256"] not in (None, text_digest(it.record)):
                d = None  # made on another text: it no longer counts
            items.append(review_item(it, d, source(it.record)))
    nxt = str(page[limit].position) if len(page) > limit else None
    return ReviewPage(items=items, next=nxt)


def checked_reason(body: DecisionIn) -> str | None:
    """The decision's reason, stripped; 422 when a rejection has none or a ``record`` comes
    without an edit (or an edit without one)."""
    reason = (body.reason or "").strip() or None
    if body.decision == "reject" and not reason:
        raise ApiError(422, "a rejection needs a reason")
    if (body.record is not None) != (body.decision == "edit"):
        raise ApiError(422, "'record' is given with an edit, and only then")
    return reason


def write_decision(
    request: Request, run: dict[str, Any], store: ReviewStore, it: Item, body: DecisionIn,
    user: Principal,
) -> str | None:  # fmt: skip
    """Check and write one decision on queue item ``it`` (an edit validated against the
    shipped JSON Schema, an audit row, :meth:`ReviewStore.decide` with the user as the
    reviewer): the one path of the API and the web pages. Returns the stored reason."""
    reason = checked_reason(body)
    after = None
    if body.decision == "edit":
        try:
            after = review_io.edited_record(it.record, {"edited": body.record}, "jsonl")
            problems = schema_errors(after.meta.format, after.to_dict())
            if problems:
                raise ValueError(problems[0])
        except ValueError as exc:
            raise ApiError(422, f"the edited record is not valid: {str(exc)[:300]}") from exc
    with request.app.state.db.engine.begin() as conn:
        audit.record(conn, actor=user.name, action="review.decide",
                     target=f"run:{run['id']}/record:{it.record_id}", remote=remote(request),
                     detail={"decision": body.decision, "reason": reason,
                             "project": run["project_id"]})  # fmt: skip
        store.decide(it.record_id, body.decision, reason=reason, reviewer=user.name,
                     before=it.record if after else None, after=after)  # fmt: skip
    return reason


@router.post("/runs/{rid}/review/{record_id}", response_model=DecisionOut,
             summary="Accept, reject (with a reason) or edit a record in the queue")  # fmt: skip
def decide(
    body: DecisionIn, request: Request, rid: int = RunId,
    record_id: str = PathParam(..., min_length=1, max_length=200),
    user: Principal = Depends(require("review.write")),
) -> DecisionOut:  # fmt: skip
    checked_reason(body)  # a malformed body fails before the run is opened
    run, run_dir = run_folder(request, rid, user)
    if not (run_dir / JOURNAL_NAME).exists():
        raise not_found(f"record {record_id!r} in the review queue of run {rid}")
    with open_journal(run_dir, "review") as journal:
        store = ReviewStore(journal)
        prepare(store, run_dir, None, None)
        items = {it.record_id: it for it in store.items()}
        if record_id not in items:
            raise not_found(f"record {record_id!r} in the review queue of run {rid}")
        reason = write_decision(request, run, store, items[record_id], body, user)
    return DecisionOut(record_id=record_id, decision=body.decision, reason=reason,
                       reviewer=user.name)  # fmt: skip
