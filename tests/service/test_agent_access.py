"""Who may do what to a conversation an agent owns: the team-inbox rule in docs/security.md.

Any agent may read any conversation and add an internal note to it (notes never reach the
customer and carry their author); only the owner, or an admin, may write to the customer,
transfer, release or resolve it.
"""

from __future__ import annotations

import uuid

import pytest

from tests.handoff_support import make_agent, web
from webhook.domain.errors import NotAllowed
from webhook.services.agents import AgentService
from webhook.services.conversations import ConversationService


@pytest.fixture
async def owned_by_ana(db, rasa):
    service = ConversationService(db, rasa)
    agents = AgentService(service)
    outcome = await service.handle(web(uuid.uuid4().hex, "Talk to a person", payload="/request_human"))
    ana = await make_agent(db, "ana")
    await agents.claim(outcome.conversation_id, ana)
    return agents, outcome.conversation_id, ana


async def test_another_agent_reads_and_notes_but_cannot_act(owned_by_ana, db):
    agents, conversation_id, ana = owned_by_ana
    ben = await make_agent(db, "ben")
    packet = await agents.packet(conversation_id)
    assert packet.conversation.agent is not None and packet.conversation.agent.display_name == "Ana"
    note = await agents.note(conversation_id, ben, "I spoke to this customer yesterday")
    assert note.author == "Ben"
    for act in (
        agents.reply(conversation_id, ben, "hello"),
        agents.transfer(conversation_id, ben, ana.username),
        agents.resolve(conversation_id, ben),
        agents.release(conversation_id, ben),
    ):
        with pytest.raises(NotAllowed):
            await act


async def test_an_admin_may_act_on_any_owned_conversation(owned_by_ana, db):
    agents, conversation_id, _ = owned_by_ana
    admin = await make_agent(db, "root", role="admin")
    stored = await agents.reply(conversation_id, admin, "An admin steps in")
    assert stored.text == "An admin steps in"
