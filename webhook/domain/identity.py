"""Who a web customer is: their browser's chat session, and a verified user id from the host website.

The session token is a secret: whoever presents it resumes the chat. So it is
stored only as its SHA-256 (:func:`session_key`, as agent tokens are), and the
web channel hands the rest of the system that key, never the token: a copy of the
database (``channel_identities``, ``link_codes.used_by``) lets nobody resume a chat.

The host site signs its own user id with the shared ``WIDGET_IDENTITY_SECRET``
(as Intercom's and Crisp's identity verification do), so a visitor cannot claim
to be another user by editing the page. That id is kept as it is
(:func:`user_key`): it is not a secret, since only a valid signature joins a
session to it, and an admin looks a customer up by the id their own site knows.
"""

from __future__ import annotations

import hashlib
import hmac

USER_PREFIX = "user:"  # a verified user's identity on the web channel; session keys never contain ":"


def session_key(token: str) -> str:
    """The web channel's identity for a chat session token: its SHA-256, hex (64 characters, no ":")."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, user_id: str, signature: str) -> bool:
    """Constant-time check; with no secret configured nothing can be verified."""
    if not secret or not user_id or not signature:
        return False
    return hmac.compare_digest(sign(secret, user_id), signature.strip().lower())


def user_key(user_id: str) -> str:
    return USER_PREFIX + user_id
