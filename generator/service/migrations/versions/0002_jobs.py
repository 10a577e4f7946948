"""Runs and the job queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

A run is a generation run folder inside a project; a job is one stage (generate, curate,
export) to run over a run, claimed atomically by a worker (``generator/service/jobs.py``).
Job params never hold secrets: provider keys stay in each server's environment.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

T = 27  # stored time width


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(T), nullable=False),
    )
    op.create_index("ix_runs_project_id", "runs", ["project_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
        sa.Column("cost_usd", sa.Float, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("exit_code", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(200)),
        sa.Column("heartbeat", sa.String(T)),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(T), nullable=False),
        sa.Column("started_at", sa.String(T)),
        sa.Column("ended_at", sa.String(T)),
        sa.CheckConstraint("kind IN ('generate', 'curate', 'export')", name="jobs_kind"),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'stopped')",
            name="jobs_status",
        ),
    )
    op.create_index("ix_jobs_status_id", "jobs", ["status", "id"])
    op.create_index("ix_jobs_run_id", "jobs", ["run_id"])


def downgrade() -> None:
    raise NotImplementedError("the service schema migrates forward only")
