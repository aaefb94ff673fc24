"""The metrics' pieces that need no database: percentiles, declined questions, and the API's date filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from webhook.api.metrics import EARLIEST, LATEST, parse_range
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


# -- the API's date filters at the ends of the calendar (issue 26: a 500 for to=9999-12-31T23:59:59-14:00) --
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def range_of(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    return parse_range(start, end, NOW)


def refused_field(start: str | None, end: str | None) -> str:
    with pytest.raises(RequestValidationError) as caught:
        parse_range(start, end, NOW)
    return ".".join(caught.value.errors()[0]["loc"])


@pytest.mark.parametrize("end", ["9999-12-31T23:59:59-14:00", "9999-12-31", "9999-12-31T23:59:59.999999-00:01"])
def test_an_end_beyond_the_calendar_is_clamped_to_its_last_moment(end: str) -> None:
    assert range_of("9999-12-01", end) == (datetime(9999, 12, 1, tzinfo=UTC), LATEST)


def test_a_start_before_the_calendar_is_clamped_to_its_first_moment() -> None:
    assert range_of("0001-01-01T00:00:00+14:00", "0001-01-02") == (EARLIEST, datetime(1, 1, 3, tzinfo=UTC))
    assert range_of("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00") == (
        EARLIEST,
        datetime(1, 1, 1, 14, tzinfo=UTC),
    )


def test_offsets_of_fourteen_hours_either_way_are_honoured_inside_the_calendar() -> None:
    lower, upper = range_of("2025-06-01T00:00:00+14:00", "2025-06-01T00:00:00-14:00")
    assert lower == datetime(2025, 5, 31, 10, tzinfo=UTC) and upper == datetime(2025, 6, 1, 14, tzinfo=UTC)


def test_without_from_the_range_reaches_back_at_most_to_the_first_day() -> None:
    assert range_of(None, "0001-01-05") == (EARLIEST, datetime(1, 1, 6, tzinfo=UTC))
    assert range_of(None, "2025-06-30")[0] == datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2025-06-07", "2025-06-01", "query.from"),  # to < from
        ("9999-12-31T23:59:59-14:00", "9999-12-31", "query.from"),  # both clamped to the last moment: empty
        (None, "0001-01-01T00:00:00+14:00", "query.to"),  # before the calendar: nothing can be in it
        ("0001-01-01", "9999-12-31", "query.from"),  # longer than 366 days
        ("0000-12-31", None, "query.from"),  # year 0 is no ISO date Python knows
        ("10000-01-01", None, "query.from"),
        (None, "2025-06-01T00:00:00+24:00", "query.to"),  # an offset of a day or more
        ("2025-06-01\x00", None, "query.from"),
        ("2025-06-\ud800", None, "query.from"),
    ],
)
def test_impossible_ranges_are_refused_not_raised(start: str | None, end: str | None, field: str) -> None:
    assert refused_field(start, end) == field
