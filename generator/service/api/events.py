"""``GET /api/v1/runs/{rid}/events``: a run's progress as server-sent events.

One ``progress`` event with the run (as ``GET /api/v1/runs/{rid}`` shows it) at once and at
every change (status, counts, cost, error), polled from the database, so it works whichever
server's worker runs the job; a comment line every 15 s keeps proxies from closing a quiet
stream. The stream ends after the event that shows a final status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from generator.service import jobs as queue
from generator.service.api.runs import RunId, get_run, run_view
from generator.service.auth import require
from generator.service.users import Principal

router = APIRouter(tags=["runs"])

POLL_S = 0.5
KEEPALIVE_S = 15.0


def _view(request: Request, rid: int, user: Principal) -> dict:  # type: ignore[type-arg]
    with request.app.state.db.engine.connect() as conn:
        return run_view(conn, get_run(conn, rid, user)).model_dump()


@router.get(
    "/runs/{rid}/events",
    summary="A run's progress as server-sent events (ends at a final status)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def run_events(
    request: Request, rid: int = RunId, user: Principal = Depends(require("runs.read"))
) -> StreamingResponse:
    first = await run_in_threadpool(_view, request, rid, user)  # 404 before the stream starts

    async def stream() -> AsyncIterator[str]:
        view, last, quiet = first, None, time.monotonic()
        while True:
            if view != last:
                yield f"event: progress\ndata: {json.dumps(view, sort_keys=True)}\n\n"
                last, quiet = view, time.monotonic()
                if view["status"] in queue.FINAL:
                    return
            elif time.monotonic() - quiet > KEEPALIVE_S:
                yield ": keepalive\n\n"
                quiet = time.monotonic()
            await asyncio.sleep(POLL_S)
            if await request.is_disconnected():
                return
            view = await run_in_threadpool(_view, request, rid, user)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
