"""What the handoff tests of the service and stack tiers share: agents, customer messages, conversations."""

from __future__ import annotations

import uuid

from webhook.domain.enums import Channel
from webhook.domain.messages import InboundMessage
from webhook.store.database import Database
from webhook.store.schema import Conversation, User
from webhook.store.users import create_user


async def make_agent(db: Database, name: str, role: str = "agent") -> User:
    async with db.session() as session:
        user = await create_user(session, f"{name}-{uuid.uuid4().hex[:6]}", "correct horse", role, name.title())
        await session.commit()
        return user


def web(session_id: str, text: str, payload: str | None = None) -> InboundMessage:
    return InboundMessage(Channel.WEB, session_id, text, payload=payload)


async def conversation(db: Database, conversation_id: str) -> Conversation:
    async with db.session() as session:
        found = await session.get(Conversation, conversation_id)
        assert found is not None
        return found
