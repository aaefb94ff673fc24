"""Verified customer identity from the host website: an HMAC-SHA256 of the user id.

The host site signs its own user id with the shared ``WIDGET_IDENTITY_SECRET``
(as Intercom's and Crisp's identity verification do), so a visitor cannot claim
to be another user by editing the page.
"""

from __future__ import annotations

import hashlib
import hmac

USER_PREFIX = "user:"  # a verified user's identity on the web channel; session tokens never contain ":"


def sign(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, user_id: str, signature: str) -> bool:
    """Constant-time check; with no secret configured nothing can be verified."""
    if not secret or not user_id or not signature:
        return False
    return hmac.compare_digest(sign(secret, user_id), signature.strip().lower())


def user_key(user_id: str) -> str:
    return USER_PREFIX + user_id
