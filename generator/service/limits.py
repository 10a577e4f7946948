"""Request body caps, enforced while the body streams in (never after reading it all).

Uploads (``POST .../documents``) may carry up to ``--max-upload-mb``; every other body up to
:data:`JSON_LIMIT`. A declared ``Content-Length`` above the cap is refused before a byte is
read; a body that keeps coming past it (chunked, or lying about its length) is cut off at
the cap by :class:`BodyTooLarge`, which every reader of the body lets through as a 413.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from generator.ingest.archive import size_text
from generator.service.errors import ApiError, error_body

JSON_LIMIT = 1_000_000
UPLOAD_PATH = re.compile(r"^/api/v1/projects/[^/]+/documents/?$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(ApiError):
    """The body passed its cap (a 413; an HTTPException, so FastAPI's parser re-raises it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body above the limit of {size_text(limit)}")


class BodyLimit:
    """ASGI middleware: 413 for a body above its route's cap."""

    def __init__(self, app: ASGIApp, *, upload_limit: int, json_limit: int = JSON_LIMIT) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    def limit_for(self, scope: Scope) -> int:
        if scope.get("method") == "POST" and UPLOAD_PATH.match(scope.get("path", "")):
            return self.upload_limit
        return self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(error_body(413, "too_large", BodyTooLarge(limit).detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
