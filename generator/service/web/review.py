"""``/runs/{rid}/review``: one record beside its source chunk, and the filtered list with
bulk actions. The queue and every decision go through the API's own functions
(:mod:`generator.service.api.review`): a decision is written to the run journal at once."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from generator.review.store import Item, ReviewStore
from generator.service.api.runs import RunId
from generator.service.errors import ApiError
from generator.service.web import queue
from generator.service.web.grounding import grounding
from generator.service.web.runs import run_page_context
from generator.service.web.sessions import Session
from generator.service.web.views import Action, Page, WebError, render

router = APIRouter(include_in_schema=False)
PAGE = 50  # rows of the filtered list
BULK_MAX = 500  # records one bulk decision may name


def flat_scores(curation: dict[str, Any]) -> list[tuple[str, str]]:
    """The curation steps' scores and flags as ``step.key: value`` lines (lists joined)."""
    out: list[tuple[str, str]] = []

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{key}.{k}", v)
        elif isinstance(value, list):
            out.append((key, ", ".join(str(v) for v in value) or "none"))
        elif isinstance(value, float):
            out.append((key, f"{value:.3g}"))
        else:
            out.append((key, str(value)))

    for step, value in curation.items():
        if step != "excluded":  # shown as "why queued"
            add(step, value)
    return out


def _view(request: Request, rid: int, session: Session, store: ReviewStore, it: Item,
          status: int = 200, **extra: Any) -> Response:  # fmt: skip
    """The page of queue item ``it``: what it reads is this item, its decision, its source
    chunk and a few counts, whatever the queue's length."""
    extra.setdefault("form", {})
    item = queue.shown(store, it)
    rec = it.record
    prev, nxt = store.neighbours(it.position)
    total = store.size()
    return render(
        request, "review.html", session, status, item=item, index=store.rank(it.position),
        total=total, remaining=store.remaining(), fields=rec.text_fields(),
        ground=grounding(rec.output_text(), item.source_text), scores=flat_scores(item.curation),
        excluded=item.curation.get("excluded"), prev=it.position if prev is None else prev,
        next=it.position if nxt is None else nxt,
        skip=nxt if nxt is not None else (store.next_pending(-1) or 0),
        **run_page_context(request, rid, session), **extra,
    )  # fmt: skip


@router.get("/runs/{rid}/review", response_class=HTMLResponse)
def review_page(
    request: Request, rid: int = RunId, pos: int | None = Query(None, ge=0, le=10_000_000),
    session: Session = Page("review"),
) -> Response:  # fmt: skip
    """``pos``: the queue position of the record to show (default: the first undecided)."""
    started = time.perf_counter()
    context = run_page_context(request, rid, session)  # the run's own checks first
    with queue.review_store(request, rid, session.user) as (_, store):
        it = None
        if store is not None:
            first = store.next_pending(-1) if pos is None else pos
            it = store.at(0 if first is None else first)
        if store is None or it is None:
            return render(request, "review_empty.html", session, **context)
        res = _view(request, rid, session, store, it)
    res.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return res


@router.post("/runs/{rid}/review/{record_id}")
async def decide(
    request: Request, record_id: str, rid: int = RunId,
    session: Session = Action("review.write"),
) -> Response:  # fmt: skip
    form = await request.form()
    choice = str(form.get("decision", ""))
    run_page_context(request, rid, session)  # the run's own checks first
    with queue.review_store(request, rid, session.user) as (run, store):
        it = store.find(record_id) if store is not None else None
        if store is None or it is None:
            raise WebError(404, f"record {record_id} is not in this run's review queue")
        body: dict[str, Any] = {"decision": choice}
        if choice == "reject":
            body["reason"] = str(form.get("reason", ""))
        elif choice == "edit":
            rec = it.record.model_copy(deep=True)
            for field, _ in rec.text_fields():
                value = form.get(f"f:{field}")
                if isinstance(value, str):
                    rec.set_text(field, value.replace("\r\n", "\n"))
            body["record"] = {k: v for k, v in rec.to_dict().items() if k != "meta"}
        elif choice != "accept":
            raise WebError(422, "decision: accept, reject or edit")
        try:
            queue.decide(request, run, store, it, body, session.user)
        except ApiError as exc:
            if exc.status_code != 422:
                raise
            return _view(request, rid, session, store, it, 422, error=str(exc.detail),
                         editing=choice == "edit", rejecting=choice == "reject",
                         form=form)  # fmt: skip
        nxt = store.next_pending(it.position)  # all decided: simply the next one
        if nxt is None:
            nxt = store.neighbours(it.position)[1]
    return RedirectResponse(
        f"/runs/{rid}/review?pos={it.position if nxt is None else nxt}", status_code=303
    )


@router.get("/runs/{rid}/review-list", response_class=HTMLResponse)
def review_list(
    request: Request, rid: int = RunId, origin: str = Query("", max_length=20),
    status: str = Query("", max_length=20), q: str = Query("", max_length=200),
    after: int = Query(-1, ge=-1, le=10_000_000), session: Session = Page("review"),
) -> Response:  # fmt: skip
    """One page (:data:`PAGE` rows) of the filtered queue; ``after``: the page's cursor."""
    context = run_page_context(request, rid, session)
    with queue.review_store(request, rid, session.user) as (_, store):
        rows, nxt = ([], None) if store is None else queue.filtered(
            store, after, PAGE, origin, status, q)  # fmt: skip
        total = 0 if store is None else store.size()
    return render(request, "review_list.html", session, rows=rows, total=total,
                  origin=origin, status=status, q=q, after=after, next=nxt,
                  done=request.query_params.get("done"), **context)  # fmt: skip


@router.post("/runs/{rid}/review-bulk")
async def review_bulk(
    request: Request, rid: int = RunId, session: Session = Action("review.write")
) -> Response:
    form = await request.form()
    ids = [str(v) for v in form.getlist("ids")]
    choice = str(form.get("decision", ""))
    reason = str(form.get("reason", ""))
    if choice not in ("accept", "reject"):
        raise WebError(422, "bulk decision: accept or reject")
    if not ids:
        raise WebError(422, "select at least one record")
    if len(ids) > BULK_MAX:
        raise WebError(422, f"at most {BULK_MAX} records at a time")
    if choice == "reject" and not reason.strip():
        raise WebError(422, "a rejection needs a reason")
    body: dict[str, Any] = {
        "decision": choice,
        **({"reason": reason} if choice == "reject" else {}),
    }
    run_page_context(request, rid, session)  # the run's own checks first
    with queue.review_store(request, rid, session.user) as (run, store):
        if store is None:
            raise WebError(404, f"run {rid} has no review queue yet")
        for record_id in ids:
            queue.decide(request, run, store, queue.find(store, rid, record_id), body, session.user)
    back = {k: str(form.get(k, "")) for k in ("origin", "status", "q", "after")}
    back = {k: v for k, v in back.items() if v and v != "-1"}
    query = urlencode({**back, "done": f"{len(ids)} {choice}ed"})
    return RedirectResponse(f"/runs/{rid}/review-list?{query}", status_code=303)
