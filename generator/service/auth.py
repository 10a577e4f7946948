"""Bearer-token authentication and role rights.

Every route but ``GET /healthz`` depends on :func:`require` with one right; the table below
is the whole role policy (README "Service"). 401 when the token is missing, malformed,
unknown or revoked (with ``WWW-Authenticate: Bearer``); 403 when the user's role lacks the
right. Which projects a user sees (their members') is :mod:`generator.service.access`.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from generator.service import users
from generator.service.errors import ApiError
from generator.service.users import Principal

# right -> the roles that hold it
RIGHTS: dict[str, frozenset[str]] = {
    "me": frozenset({"admin", "operator", "reviewer", "legal"}),
    "projects.read": frozenset({"admin", "operator", "reviewer", "legal"}),
    "members.manage": frozenset({"admin"}),
    "projects.write": frozenset({"operator"}),
    "documents.read": frozenset({"operator", "reviewer", "legal"}),
    "documents.write": frozenset({"operator"}),
    "runs.read": frozenset({"operator", "reviewer", "legal"}),
    "runs.write": frozenset({"operator"}),
    "exports.write": frozenset({"operator", "legal"}),
    "exports.read": frozenset({"operator", "legal"}),
    "review.read": frozenset({"operator", "reviewer", "legal"}),
    "review.write": frozenset({"reviewer"}),
    "signoffs.write": frozenset({"legal"}),
    "users.manage": frozenset({"admin"}),
    "audit.read": frozenset({"admin"}),
}

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer TOKEN`")


def _unauthorized(message: str) -> ApiError:
    err = ApiError(401, message)
    err.headers = {"WWW-Authenticate": "Bearer"}
    return err


def current_user(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    """The user whose live token came with the request (401 otherwise)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token (Authorization: Bearer TOKEN)")
    principal = users.authenticate(request.app.state.db, credentials.credentials)
    if principal is None:
        raise _unauthorized("invalid or revoked token")
    return principal


def require(right: str) -> Callable[..., Principal]:
    """A dependency answering 403 unless the caller's role holds ``right``."""
    roles = RIGHTS[right]

    def dependency(user: Principal = Depends(current_user)) -> Principal:
        if user.role not in roles:
            raise ApiError(403, f"role {user.role!r} may not do this ({right})")
        return user

    dependency.__name__ = f"require_{right.replace('.', '_')}"
    return dependency


def remote(request: Request) -> str:
    """The caller's address for the audit trail."""
    return request.client.host if request.client else "unknown"
