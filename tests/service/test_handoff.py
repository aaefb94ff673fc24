"""The handoff queue when nobody is online, and agents racing for a conversation: the services on real databases.

Rasa is the fake (tests/service/conftest.py): what these tests send it is a button's payload,
which Rasa reads without its NLU, or a message while its tracker is paused. The handoff
triggers, the agents' work and CSAT through the real Rasa server are in tests/stack/test_handoff.py.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.handoff_support import conversation, make_agent, web
from webhook.domain.business_hours import BusinessHours
from webhook.domain.enums import Channel, ConversationStatus
from webhook.domain.errors import Conflict
from webhook.listeners.deflections import DeflectionLog
from webhook.services.agent_records import Packet
from webhook.services.agents import AgentService
from webhook.services.conversations import ConversationService
from webhook.services.handoff import Desk

CLOSED = BusinessHours("mon 00:00-00:01", "UTC")  # practically never open


@pytest.fixture
async def service(db, rasa):
    return ConversationService(db, rasa, listeners=[DeflectionLog()])


@pytest.fixture
async def agents(service):
    return AgentService(service)


async def test_nobody_online_means_an_honest_offline_message_and_a_ticket(db, rasa):
    service = ConversationService(db, rasa, desk=Desk(CLOSED))
    session_id = uuid.uuid4().hex
    outcome = await service.handle(web(session_id, "Talk to a person", payload="/request_human"))
    queued = await conversation(db, outcome.conversation_id)
    assert queued.status == ConversationStatus.WAITING_FOR_AGENT and queued.ticket is True
    assert "isn't available right now" in outcome.replies[-1].text and "mon 00:00-00:01" in outcome.replies[-1].text
    # the customer leaves a message: stored for the agents, the bot stays quiet
    left = await service.handle(web(session_id, "My parcel arrived damaged, order 1234"))
    assert left.replies == [] and left.conversation_id == outcome.conversation_id
    _, stored = await service.transcript(Channel.WEB, session_id)
    assert stored[-1].text == "My parcel arrived damaged, order 1234"


async def test_two_agents_racing_for_one_conversation_exactly_one_wins(service, agents, db):
    outcome = await service.handle(web(uuid.uuid4().hex, "Talk to a person", payload="/request_human"))
    ana, ben = await make_agent(db, "ana"), await make_agent(db, "ben")
    results = await asyncio.gather(
        agents.claim(outcome.conversation_id, ana), agents.claim(outcome.conversation_id, ben), return_exceptions=True
    )
    assert sum(isinstance(r, Packet) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1
    owner = (await conversation(db, outcome.conversation_id)).agent_id
    assert owner in (ana.id, ben.id)
