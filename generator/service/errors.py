"""Every error the API answers is ``{"error": {"code", "message"}}`` with its HTTP status.

``ApiError`` is what routers raise; FastAPI's validation errors, Starlette's 404/405 and
anything unexpected (500, logged, never its text) are mapped here in one place. Messages are
scrubbed of URL credentials like the CLI's.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from generator.redact import scrub_url_credentials

log = logging.getLogger("instructforge.service")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "internal",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer's body."""

    error: ErrorDetail


# the error answers every API route may give, documented in /openapi.json (this replaces
# FastAPI's own 422 schema: validation errors have the one shape too)
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": CODES[status].replace("_", " ")}
    for status in (400, 401, 403, 404, 409, 413, 415, 422)
}


class ApiError(StarletteHTTPException):
    """An error answer: status, a stable code and a one-line message."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(status_code=status, detail=message)
        self.code = code or CODES.get(status, "error")


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def error_body(status: int, code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": scrub_url_credentials(message)}}


def error_response(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = error_body(status, code or CODES.get(status, "error"), message)
    return JSONResponse(body, status_code=status, headers=headers)


def _where(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None)
    message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
    if exc.status_code == 404 and not code:
        message = "no such endpoint"
    return error_response(exc.status_code, message, code, getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "the request body is not valid JSON", "bad_json")
    parts = [f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return error_response(422, "; ".join(parts) + more)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error (logged on the server)")


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one JSON shape."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
