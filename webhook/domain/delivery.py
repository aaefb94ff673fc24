"""Which stored messages wait in the outbox: a rule of the channels, not of the store.

A push channel (Telegram) gets the customer's replies from its outbox: a message
is stored undelivered and its delivery worker sends it. The web widget reads the
store itself, and a customer's own message has nowhere to go, so those are
delivered the moment they are stored.
"""

from __future__ import annotations

from webhook.domain.enums import Channel, Sender

PUSH_CHANNELS = frozenset({Channel.TELEGRAM})


def awaits_delivery(channel: Channel, sender: Sender) -> bool:
    """Whether a message stored on ``channel`` by ``sender`` waits in the outbox until it is sent."""
    return channel in PUSH_CHANNELS and sender != Sender.CUSTOMER
