"""Agents' passwords: argon2id hashes with their own salt, checked without leaking why a check failed."""

from __future__ import annotations

from webhook.store import users as user_store


def test_password_hash_round_trip_and_rejection() -> None:
    stored = user_store.hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert user_store.hash_password("correct horse") != stored, "each hash has its own salt"
    assert user_store.check_password(stored, "correct horse")
    assert not user_store.check_password(stored, "correct horsE")
    assert not user_store.check_password(stored, "")
    assert not user_store.check_password("not a hash", "correct horse")
