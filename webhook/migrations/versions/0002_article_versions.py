"""Article versions: full history, an author, and a published version per translation.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("questions", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("tags", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "lang", "version", name="uq_article_version"),
    )
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("published_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("author", sa.String(length=200), nullable=True))
    # Existing translations: their current content becomes version <version>, live if published.
    op.execute(
        "INSERT INTO article_versions (key, lang, version, title, body, questions, tags, author, note, created_at) "
        "SELECT key, lang, version, title, body, questions, tags, NULL, 'before history', updated_at FROM articles"
    )
    op.execute("UPDATE articles SET published_version = version WHERE status = 'published'")


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("author")
        batch.drop_column("published_version")
    op.drop_table("article_versions")
