"""The metrics' pieces that need no database: percentiles, and which bot turns count as declined questions."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.store.metrics import declined_query, percentile


def decline(query: str, decision: str = "decline") -> dict[str, Any]:
    return {"kb": {"query": query, "decision": decision, "candidates": [], "elapsed_ms": 3.1}}


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([3.0, 1.0], 0.5) == 2.0
    assert percentile([60.0, 600.0, 120.0], 0.5) == 120.0
    assert percentile([60.0, 120.0, 600.0], 0.9) == pytest.approx(504.0)
    assert percentile([float(i) for i in range(1, 11)], 0.9) == pytest.approx(9.1)


def test_declined_query_reads_only_declines() -> None:
    assert declined_query(decline(" Where is my parcel? ")) == "Where is my parcel?"
    assert declined_query(decline("x", decision="answer")) is None
    assert declined_query({"kb": {"decision": "decline", "query": None}}) is None
    assert declined_query({"kb": {"decision": "decline", "query": "   "}}) is None
    assert declined_query({"kb": "decline"}) is None
    assert declined_query({"handoff": {"reason": "customer_request"}}) is None
    assert declined_query(None) is None
