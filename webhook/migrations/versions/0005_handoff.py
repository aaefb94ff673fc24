"""Handoff and measurement: queue and ownership on conversations, notes, events, presence, CSAT, deflections.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHANNEL = sa.Enum("web", "telegram", name="channel", native_enum=False, length=32)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("channel", CHANNEL, nullable=True))
        batch.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("queued_at", TS, nullable=True))
        batch.add_column(sa.Column("ticket", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("claimed_at", TS, nullable=True))
        batch.add_column(sa.Column("first_agent_reply_at", TS, nullable=True))
        batch.add_column(sa.Column("resolved_at", TS, nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(length=16), nullable=True))
        batch.create_foreign_key("fk_conversations_agent_id", "users", ["agent_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_conversations_agent_id", ["agent_id"])
    op.execute("UPDATE conversations SET channel = last_channel")
    op.create_table(
        "agent_presence",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
    )
    op.create_table(
        "agent_notes",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_agent_notes_conversation_id", "agent_notes", ["conversation_id"])
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_conversation_events_conversation_id", "conversation_events", ["conversation_id"])
    op.create_table(
        "csat_responses",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("resolver", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("channel", CHANNEL, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("asked_at", TS, nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("awaiting_comment", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_table(
        "deflections",
        sa.Column("id", sa.Integer(), autoincrement=True, primary_key=True),
        sa.Column(
            "conversation_id", sa.String(32), sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("customer_id", sa.String(32), sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("articles", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("channel", CHANNEL, nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("reverted_reason", sa.String(32), nullable=True),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_index("ix_deflections_customer_id", "deflections", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_deflections_customer_id", table_name="deflections")
    op.drop_table("deflections")
    op.drop_table("csat_responses")
    op.drop_index("ix_conversation_events_conversation_id", table_name="conversation_events")
    op.drop_table("conversation_events")
    op.drop_index("ix_agent_notes_conversation_id", table_name="agent_notes")
    op.drop_table("agent_notes")
    op.drop_table("agent_presence")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_agent_id")
        batch.drop_constraint("fk_conversations_agent_id", type_="foreignkey")
        for column in (
            "resolved_by",
            "resolved_at",
            "first_agent_reply_at",
            "claimed_at",
            "ticket",
            "queued_at",
            "agent_id",
            "channel",
        ):
            batch.drop_column(column)
