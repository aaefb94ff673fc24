"""The store on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL."""

import pytest
from sqlalchemy import inspect

from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.store import conversations as repo
from webhook.store.database import migrate


async def test_migrations_create_the_domain_tables(db):
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert {
        "customers",
        "channel_identities",
        "conversations",
        "messages",
        "articles",
        "handoff_requests",
        "alembic_version",
    } <= tables


async def test_migrate_is_idempotent(database_url, db):
    migrate(database_url)  # second run: nothing to do, no error


async def test_identity_customer_conversation_and_ordered_messages(db):
    async with db.session() as s:
        customer = await repo.find_or_create_customer(s, Channel.WEB, "session-abc")
        conversation = await repo.open_conversation(s, customer, Channel.WEB)
        repo.add_message(s, conversation, Sender.CUSTOMER, Channel.WEB, "hello")
        repo.add_message(
            s,
            conversation,
            Sender.BOT,
            Channel.WEB,
            "Hi!",
            buttons=[{"title": "Yes", "payload": "/affirm"}],
            payload={"kb": 1},
        )
        await s.commit()
        conversation_id = conversation.id

    async with db.session() as s:
        same = await repo.find_or_create_customer(s, Channel.WEB, "session-abc")
        assert same.id == customer.id
        again = await repo.open_conversation(s, same, Channel.WEB)
        assert again.id == conversation_id
        assert again.status == ConversationStatus.BOT
        messages = await repo.messages_after(s, conversation_id)
    assert [(m.sender, m.text) for m in messages] == [("customer", "hello"), ("bot", "Hi!")]
    assert messages[1].buttons == [{"title": "Yes", "payload": "/affirm"}]
    assert messages[0].created_at.tzinfo is not None


async def test_the_same_external_id_on_another_channel_is_another_customer(db):
    async with db.session() as s:
        web = await repo.find_or_create_customer(s, Channel.WEB, "42")
        telegram = await repo.find_or_create_customer(s, Channel.TELEGRAM, "42")
        await s.commit()
    assert web.id != telegram.id


async def test_a_resolved_conversation_is_followed_by_a_new_one(db):
    async with db.session() as s:
        customer = await repo.find_or_create_customer(s, Channel.WEB, "session-resolved")
        first = await repo.open_conversation(s, customer, Channel.WEB)
        first.status = ConversationStatus.RESOLVED
        await s.commit()
        second = await repo.open_conversation(s, customer, Channel.WEB)
        await s.commit()
    assert second.id != first.id


async def test_a_handoff_request_is_recorded_and_queues_the_conversation(db):
    async with db.session() as s:
        customer = await repo.find_or_create_customer(s, Channel.WEB, "session-handoff")
        conversation = await repo.open_conversation(s, customer, Channel.WEB)
        await repo.record_handoff(s, conversation, "customer_request", {"after": "decline"})
        await s.commit()
        requests = await repo.handoff_requests(s, conversation.id)
    assert [(r.reason, r.detail) for r in requests] == [("customer_request", {"after": "decline"})]
    assert conversation.status == ConversationStatus.WAITING_FOR_AGENT


async def test_client_message_ids_are_unique_per_conversation(db):
    from sqlalchemy.exc import IntegrityError

    async with db.session() as s:
        customer = await repo.find_or_create_customer(s, Channel.WEB, "session-dup")
        conversation = await repo.open_conversation(s, customer, Channel.WEB)
        repo.add_message(s, conversation, Sender.CUSTOMER, Channel.WEB, "a", client_message_id="m1")
        await s.commit()
        repo.add_message(s, conversation, Sender.CUSTOMER, Channel.WEB, "a", client_message_id="m1")
        with pytest.raises(IntegrityError):
            await s.commit()
