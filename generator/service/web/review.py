"""``/runs/{rid}/review``: one record beside its source chunk, and the filtered list with
bulk actions. The queue and every decision go through the API's own functions
(:mod:`generator.service.api.review`): a decision is written to the run journal at once."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from generator.records import parse_record
from generator.service.api import review as api
from generator.service.api.runs import RunId
from generator.service.errors import ApiError
from generator.service.web.grounding import grounding
from generator.service.web.sessions import Session
from generator.service.web.views import Action, Page, WebError, render

router = APIRouter(include_in_schema=False)
PAGE = 500


def queue(request: Request, rid: int, session: Session) -> list[api.ReviewItem]:
    items: list[api.ReviewItem] = []
    cursor = None
    while True:
        page = api.review_queue(request, rid, cursor, PAGE, session.user)
        items += page.items
        if page.next is None:
            return items
        cursor = page.next


def _pending(items: list[api.ReviewItem]) -> list[int]:
    return [i for i, it in enumerate(items) if it.decision is None]


def _next_index(items: list[api.ReviewItem], after: int) -> int:
    """The next undecided item after ``after`` (wrapping), else the one after it."""
    pending = _pending(items)
    later = [i for i in pending if i > after] or pending
    if later:
        return later[0]
    return min(after + 1, len(items) - 1)


def _fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    return parse_record(record).text_fields()


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


def _view(request: Request, rid: int, session: Session, items: list[api.ReviewItem], idx: int,
          status: int = 200, **extra: Any) -> Response:  # fmt: skip
    from generator.service.web.runs import run_page_context

    extra.setdefault("form", {})
    it = items[idx]
    rec = parse_record(it.record)
    ground = grounding(rec.output_text(), it.source_text)
    return render(
        request, "review.html", session, status, item=it, index=idx, total=len(items),
        remaining=len(_pending(items)), fields=rec.text_fields(), ground=ground,
        scores=flat_scores(it.curation),
        excluded=it.curation.get("excluded"), **run_page_context(request, rid, session),
        **extra,
    )  # fmt: skip


@router.get("/runs/{rid}/review", response_class=HTMLResponse)
def review_page(
    request: Request, rid: int = RunId, pos: int | None = Query(None, ge=0, le=10_000_000),
    session: Session = Page("review"),
) -> Response:  # fmt: skip
    started = time.perf_counter()
    items = queue(request, rid, session)
    if not items:
        from generator.service.web.runs import run_page_context

        return render(request, "review_empty.html", session,
                      **run_page_context(request, rid, session))  # fmt: skip
    idx = min(pos, len(items) - 1) if pos is not None else _next_index(items, -1)
    res = _view(request, rid, session, items, idx)
    res.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return res


def _decide(request: Request, rid: int, record_id: str, session: Session,
            body: dict[str, Any]) -> None:  # fmt: skip
    try:
        decision = api.DecisionIn(**body)
    except ValidationError as exc:
        raise ApiError(422, exc.errors()[0].get("msg", "invalid decision")) from exc
    api.decide(decision, request, rid, record_id, session.user)


@router.post("/runs/{rid}/review/{record_id}")
async def decide(
    request: Request, record_id: str, rid: int = RunId,
    session: Session = Action("review.write"),
) -> Response:  # fmt: skip
    form = await request.form()
    choice = str(form.get("decision", ""))
    items = queue(request, rid, session)
    index = {it.record_id: i for i, it in enumerate(items)}
    if record_id not in index:
        raise WebError(404, f"record {record_id} is not in this run's review queue")
    idx = index[record_id]
    body: dict[str, Any] = {"decision": choice}
    if choice == "reject":
        body["reason"] = str(form.get("reason", ""))
    elif choice == "edit":
        rec = parse_record(items[idx].record)
        for field, _ in rec.text_fields():
            value = form.get(f"f:{field}")
            if isinstance(value, str):
                rec.set_text(field, value.replace("\r\n", "\n"))
        body["record"] = {k: v for k, v in rec.to_dict().items() if k != "meta"}
    elif choice != "accept":
        raise WebError(422, "decision: accept, reject or edit")
    try:
        _decide(request, rid, record_id, session, body)
    except ApiError as exc:
        if exc.status_code != 422:
            raise
        return _view(request, rid, session, items, idx, 422, error=str(exc.detail),
                     editing=choice == "edit", rejecting=choice == "reject", form=form)  # fmt: skip
    items = queue(request, rid, session)
    return RedirectResponse(f"/runs/{rid}/review?pos={_next_index(items, idx)}", status_code=303)


def _matches(it: api.ReviewItem, origin: str, status: str, q: str) -> bool:
    if origin and it.origin != origin:
        return False
    decided = it.decision["decision"] if it.decision else "pending"
    if status and decided != status:
        return False
    if q:
        text = " ".join(t for _, t in _fields(it.record)).lower()
        return q.lower() in text or q.lower() in (it.reason or "").lower()
    return True


@router.get("/runs/{rid}/review-list", response_class=HTMLResponse)
def review_list(
    request: Request, rid: int = RunId, origin: str = Query("", max_length=20),
    status: str = Query("", max_length=20), q: str = Query("", max_length=200),
    session: Session = Page("review"),
) -> Response:  # fmt: skip
    from generator.service.web.runs import run_page_context

    items = queue(request, rid, session)
    rows = [(i, it) for i, it in enumerate(items) if _matches(it, origin, status, q)]
    return render(request, "review_list.html", session, rows=rows, total=len(items),
                  origin=origin, status=status, q=q, done=request.query_params.get("done"),
                  **run_page_context(request, rid, session))  # fmt: skip


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
    if choice == "reject" and not reason.strip():
        raise WebError(422, "a rejection needs a reason")
    body: dict[str, Any] = {
        "decision": choice,
        **({"reason": reason} if choice == "reject" else {}),
    }
    for record_id in ids:
        _decide(request, rid, record_id, session, body)
    back = {k: str(form.get(k, "")) for k in ("origin", "status", "q")}
    from urllib.parse import urlencode

    query = urlencode({**back, "done": f"{len(ids)} {choice}ed"})
    return RedirectResponse(f"/runs/{rid}/review-list?{query}", status_code=303)
