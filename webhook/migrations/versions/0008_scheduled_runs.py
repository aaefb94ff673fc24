"""Scheduled runs: one row per task and period, so that of several workers only one runs a daily task.

A worker claims a run with ``INSERT ... ON CONFLICT DO NOTHING`` on the primary key
(``task``, ``period``): the one whose insert took the row runs it, the others skip.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_runs",
        sa.Column("task", sa.String(48), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("scheduled_runs")
