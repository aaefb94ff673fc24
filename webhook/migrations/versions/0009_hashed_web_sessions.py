"""Web chat session tokens stored as their SHA-256 (hex): the tokens already stored are hashed in place.

Whoever presents a session token resumes that chat, so the database keeps only its hash
(``webhook.domain.identity.session_key``), as it does for agent tokens and link codes.
This hashes the web identities (``channel_identities``, channel ``web``) and the web
identities that redeemed link codes (``link_codes.used_by``, target ``web``). A verified
host-site user (``user:<id>``) is not a secret and stays as it is. The hashing is done
here in Python, the same on SQLite and PostgreSQL.

There is no way back: downgrading leaves the hashes (every browser still resumes its chat
with the code of this revision, which is the only code that reads them).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

USER_PREFIX = "user:"

identities = sa.table("channel_identities", sa.column("id"), sa.column("channel"), sa.column("external_id"))
link_codes = sa.table("link_codes", sa.column("code_hash"), sa.column("target"), sa.column("used_by"))


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(identities.c.id, identities.c.external_id).where(
            identities.c.channel == "web", sa.not_(identities.c.external_id.startswith(USER_PREFIX))
        )
    ).all()
    for row_id, token in rows:
        bind.execute(identities.update().where(identities.c.id == row_id).values(external_id=session_key(token)))
    used = bind.execute(
        sa.select(link_codes.c.code_hash, link_codes.c.used_by).where(
            link_codes.c.target == "web",
            link_codes.c.used_by.is_not(None),
            sa.not_(link_codes.c.used_by.startswith(USER_PREFIX)),
        )
    ).all()
    for code_hash, token in used:
        bind.execute(link_codes.update().where(link_codes.c.code_hash == code_hash).values(used_by=session_key(token)))


def downgrade() -> None:
    """Nothing to undo: a hash cannot be turned back into its token."""
