"""Web sign-in: server-side sessions and optional passwords.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

A session row is keyed by the sha256 of the cookie's secret (the cookie alone can use it),
holds the session's CSRF token and an absolute expiry. A password (``users passwd NAME
--password``) is stored as an scrypt hash with its salt and cost parameters.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

T = 27  # stored time width


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),  # sha256 of the cookie secret
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(T), nullable=False),
        sa.Column("expires_at", sa.String(T), nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "passwords",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("hash", sa.String(300), nullable=False),
        sa.Column("set_at", sa.String(T), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("passwords")
    op.drop_index("ix_web_sessions_user_id", "web_sessions")
    op.drop_table("web_sessions")
