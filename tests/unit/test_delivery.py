"""Which stored messages wait in the outbox (webhook/domain/delivery.py)."""

from __future__ import annotations

import pytest

from webhook.domain.delivery import awaits_delivery
from webhook.domain.enums import Channel, Sender


@pytest.mark.parametrize("sender", [Sender.BOT, Sender.AGENT, Sender.SYSTEM])
def test_what_the_customer_is_sent_on_telegram_waits_for_its_outbox(sender: Sender) -> None:
    assert awaits_delivery(Channel.TELEGRAM, sender)


@pytest.mark.parametrize("sender", list(Sender))
def test_the_web_reads_the_store_itself(sender: Sender) -> None:
    assert not awaits_delivery(Channel.WEB, sender)


def test_the_customers_own_message_goes_nowhere() -> None:
    assert not awaits_delivery(Channel.TELEGRAM, Sender.CUSTOMER)


def test_a_channel_read_back_as_text_counts_the_same() -> None:
    assert awaits_delivery("telegram", Sender.BOT)  # type: ignore[arg-type]  # a conversation's last_channel
