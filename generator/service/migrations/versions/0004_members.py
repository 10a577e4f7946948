"""Project members: who may see a project and everything under it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

A user sees a project (and its documents, runs, jobs, exports, records) only as one of its
members; admins see every project. Existing projects get their creator as a member (the
user named in ``projects.created_by``, if that user exists).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

T = 27  # stored time width


def upgrade() -> None:
    op.create_table(
        "project_members",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.String(T), nullable=False),
    )
    op.create_index("ix_project_members_user_id", "project_members", ["user_id"])
    op.execute(
        "INSERT INTO project_members (project_id, user_id, added_by, added_at) "
        "SELECT p.id, u.id, 'migration 0004', p.created_at FROM projects p "
        "JOIN users u ON u.name = p.created_by"
    )


def downgrade() -> None:
    op.drop_index("ix_project_members_user_id", "project_members")
    op.drop_table("project_members")
