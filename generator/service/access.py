"""Who sees which project: its members (the creator, and whoever an admin adds); admins
see every project.

Every id under a project (the project, its documents, runs, jobs, exports and the records of
its runs) is looked up through here, and an id in a project the caller is not a member of
is answered exactly like an unknown id (404, the same message), so the answer does not even
tell that it exists.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from generator.service.db import project_members, projects, row_or_404, runs
from generator.service.errors import not_found
from generator.service.users import Principal


def can_see(conn: Connection, user: Principal, project_id: int) -> bool:
    if user.role == "admin":
        return True
    row = conn.execute(sa.select(project_members.c.user_id).where(
        project_members.c.project_id == project_id, project_members.c.user_id == user.id,
    )).first()  # fmt: skip
    return row is not None


def check(conn: Connection, user: Principal, project_id: int, what: str) -> None:
    """404 naming ``what`` (as for an unknown id) unless ``user`` sees the project."""
    if not can_see(conn, user, project_id):
        raise not_found(what)


def project(conn: Connection, user: Principal, pid: int) -> dict[str, Any]:
    """The project row, or 404 (unknown, or not the caller's)."""
    row = row_or_404(conn, projects, pid, "project")
    check(conn, user, pid, f"project {pid}")
    return row


def run(conn: Connection, user: Principal, rid: int) -> dict[str, Any]:
    """The run row, or 404 (unknown, or in a project not the caller's)."""
    row = row_or_404(conn, runs, rid, "run")
    check(conn, user, row["project_id"], f"run {rid}")
    return row


def visible_projects(user: Principal) -> sa.ColumnElement[bool]:
    """A ``WHERE`` clause on ``projects`` keeping those ``user`` sees."""
    if user.role == "admin":
        return sa.true()
    mine = sa.select(project_members.c.project_id).where(project_members.c.user_id == user.id)
    return projects.c.id.in_(mine)


def add_member(conn: Connection, project_id: int, user_id: int, *, by: str, at: str) -> None:
    conn.execute(project_members.insert().values(
        project_id=project_id, user_id=user_id, added_by=by, added_at=at))  # fmt: skip
