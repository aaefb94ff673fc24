"""Integers the databases can take: every id, version and offset a request carries fits a 32-bit integer.

The tables' ids and versions are PostgreSQL ``integer`` columns, so no row has a larger one.
A larger number in a request (``offset=10**30``, ``ids: [2**63]``, a ``hello`` frame's
``after``) failed only in the driver ("Python int too large to convert to SQLite INTEGER"):
a 500, or a WebSocket dropped. Bounded where it enters, it is a 422 or a ``bad_frame``.
"""

from __future__ import annotations

MAX_STORED_INT = 2**31 - 1
