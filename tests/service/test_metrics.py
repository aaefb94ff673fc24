"""The admins' metrics: the figures of ``webhook/store/metrics.py``, ``GET /api/metrics`` and the ``/metrics`` page.

Every test runs on real databases (SQLite, and PostgreSQL when TEST_POSTGRES_URL is
set). A small, hand-counted week of support (1–7 June 2025) is written straight into
the tables with the ORM models, plus rows just outside it that must not count; the
expected numbers below are worked out by hand from that data, not from the code.
The API tests use the product's own app (``create_app``) without its lifespan, with a
``Database`` on ``app.state`` as the lifespan would put it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from webhook.api.deps import COOKIE_NAME
from webhook.domain.enums import Channel, ConversationStatus, Sender
from webhook.settings import Settings
from webhook.store import users as user_store
from webhook.store.database import Database
from webhook.store.metrics import compute_metrics
from webhook.store.schema import Conversation, CsatResponse, Customer, Deflection, HandoffRequest, Message, User

START = datetime(2025, 6, 1, tzinfo=UTC)
END = datetime(2025, 6, 8, tzinfo=UTC)  # exclusive: the week is 1–7 June
NOW = datetime(2025, 6, 8, 6, 0, tzinfo=UTC)
WINDOW_H = 24.0
PERSIAN_Q = "چطور کارت هدیه بخرم؟"  # Persian yeh and keheh
ARABIC_LETTERS_Q = "چطور كارت هديه بخرم؟"  # the same question typed with Arabic kaf and yeh


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 6) -> datetime:
    return datetime(2025, month, day, hour, minute, second, tzinfo=UTC)


def decline(query: str, decision: str = "decline") -> dict[str, Any]:
    return {"kb": {"query": query, "decision": decision, "candidates": [], "elapsed_ms": 3.1}}


async def make_user(db: Database, username: str, role: str, display_name: str | None = None) -> User:
    async with db.session() as session:
        user = await user_store.create_user(session, username, "correct horse", role, display_name=display_name)
        await session.commit()
        return user


class Week:
    """Writes the week's conversations; ``ids`` names them c1..c11 for the assertions."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ids: dict[str, str] = {}

    async def seed(self) -> None:
        alice = await make_user(self.db, "alice", "agent", "Alice A")
        bob = await make_user(self.db, "bob", "agent")
        await make_user(self.db, "root", "admin")
        async with self.db.session() as s:
            customer = Customer(display_name="Sam", language="en")
            s.add(customer)
            await s.flush()

            def conversation(name: str, created: datetime, channel: Channel | None, lang: str, **kw: Any) -> str:
                last = kw.pop("last_channel", channel or Channel.TELEGRAM)
                row = Conversation(
                    customer_id=customer.id, created_at=created, channel=channel, last_channel=last, language=lang, **kw
                )
                s.add(row)
                self.ids[name] = row.id = f"{name}-{created:%m%d%H%M}"
                return row.id

            def message(conv: str, sender: Sender, when: datetime, payload: dict[str, Any] | None) -> None:
                s.add(
                    Message(
                        conversation_id=conv,
                        sender=sender,
                        channel=Channel.WEB,
                        text="…",
                        payload=payload,
                        created_at=when,
                    )
                )

            def deflection(conv: str, status: str, when: datetime, articles: list[str]) -> None:
                s.add(
                    Deflection(
                        conversation_id=conv, customer_id=customer.id, status=status, articles=articles, created_at=when
                    )
                )

            def handoff(conv: str, reason: str, when: datetime) -> None:
                s.add(HandoffRequest(conversation_id=conv, reason=reason, created_at=when))

            def csat(conv: str, resolver: str, rating: int | None, agent: User | None = None) -> None:
                s.add(
                    CsatResponse(
                        conversation_id=conv,
                        resolver=resolver,
                        agent_id=agent.id if agent else None,
                        channel=Channel.WEB,
                        language="en",
                        rating=rating,
                    )
                )

            # c1: started on the web, moved to Telegram later; the bot answered and the customer said it helped
            c1 = conversation("c1", at(1, 10), Channel.WEB, "en", last_channel=Channel.TELEGRAM)
            deflection(c1, "confirmed", at(1, 10, 1), ["returns"])
            csat(c1, "bot", 5)
            message(c1, Sender.BOT, at(1, 10, 1), decline("Do you ship to Mars?"))
            message(c1, Sender.BOT, at(1, 10, 2), decline("decline", decision="clarify"))  # not a decline
            message(c1, Sender.CUSTOMER, at(1, 10, 3), decline("a customer's own payload"))  # not the bot
            message(c1, Sender.BOT, at(1, 10, 4), None)
            # c2: answered, nobody came back: assumed, and older than the window
            c2 = conversation("c2", at(2, 9), Channel.WEB, "en")
            deflection(c2, "assumed", at(2, 9, 5), ["returns", "shipping"])
            csat(c2, "bot", None)  # asked, never answered
            message(c2, Sender.BOT, at(2, 9, 1), decline("  do you  ship to MARS?  "))
            # c3: Persian, on Telegram; answered 7 hours before NOW: still pending
            c3 = conversation("c3", at(7, 23), Channel.TELEGRAM, "fa")
            deflection(c3, "assumed", at(7, 23, 0), ["returns"])
            message(c3, Sender.BOT, at(7, 23, 0, 30), decline(PERSIAN_Q))
            # c4: answered exactly one window before NOW: final
            c4 = conversation("c4", at(7, 6), Channel.WEB, "en")
            deflection(c4, "assumed", at(7, 6), ["warranty"])
            csat(c4, "bot", 3)
            # c5: a handoff (asked twice, then frustrated); Alice answered in 2 min, resolved in 30 min
            c5 = conversation(
                "c5",
                at(3, 9),
                Channel.WEB,
                "en",
                agent_id=alice.id,
                status=ConversationStatus.RESOLVED,
                queued_at=at(3, 10),
                first_agent_reply_at=at(3, 10, 2),
                resolved_at=at(3, 10, 30),
                resolved_by="agent",
            )
            deflection(c5, "reverted", at(3, 9, 1), ["returns"])
            handoff(c5, "customer_request", at(3, 10))
            handoff(c5, "customer_request", at(3, 10, 1))
            handoff(c5, "frustration", at(3, 10, 1))
            csat(c5, "agent", 4, alice)
            # c6: an old row without `channel`: it started where it last was (Telegram)
            c6 = conversation(
                "c6",
                at(4, 11),
                None,
                "en",
                last_channel=Channel.TELEGRAM,
                agent_id=alice.id,
                queued_at=at(4, 12),
                first_agent_reply_at=at(4, 12, 10),
                resolved_at=at(4, 13),
                resolved_by="agent",
            )
            handoff(c6, "repeated_decline", at(4, 12))
            csat(c6, "agent", 2, alice)
            # c7: Arabic; Bob answered in a minute, resolved in 15
            c7 = conversation(
                "c7",
                at(5, 8),
                Channel.WEB,
                "ar",
                agent_id=bob.id,
                queued_at=at(5, 9),
                first_agent_reply_at=at(5, 9, 1),
                resolved_at=at(5, 9, 15),
                resolved_by="agent",
            )
            handoff(c7, "bot_offer", at(5, 9))
            csat(c7, "agent", 5, bob)
            # c8: handed off, nobody replied, released and then resolved by the bot
            c8 = conversation(
                "c8", at(5, 14), Channel.WEB, "en", queued_at=at(5, 15), resolved_at=at(5, 16), resolved_by="bot"
            )
            handoff(c8, "customer_request", at(5, 15))
            message(c8, Sender.BOT, at(5, 14, 30), decline("How do I cancel my order?"))
            # c9: Persian, the same question in Arabic letters, earlier than c3's
            c9 = conversation("c9", at(6, 10), Channel.WEB, "fa")
            message(c9, Sender.BOT, at(6, 10, 1), decline(ARABIC_LETTERS_Q))

            # Outside the week: the minute before it, and the very moment it ends.
            c10 = conversation(
                "c10",
                at(31, 23, 59, month=5),
                Channel.WEB,
                "en",
                agent_id=alice.id,
                queued_at=at(31, 23, 59, month=5),
                first_agent_reply_at=at(1, 0, 30),
                resolved_at=at(1, 1),
                resolved_by="agent",
            )
            deflection(c10, "confirmed", at(31, 23, 59, month=5), ["returns"])
            handoff(c10, "customer_request", at(1, 0, 1))
            csat(c10, "bot", 1)
            message(c10, Sender.BOT, at(1, 0, 1), decline("Do you ship to Mars?"))
            c11 = conversation("c11", END, Channel.TELEGRAM, "fa")
            deflection(c11, "confirmed", END, ["returns"])
            handoff(c11, "frustration", END)
            message(c11, Sender.BOT, END, decline(PERSIAN_Q))
            await s.commit()


@pytest.fixture
async def week(db: Database) -> Week:
    seeded = Week(db)
    await seeded.seed()
    return seeded


async def metrics(db: Database, channel: str | None = None, lang: str | None = None, **kw: Any) -> dict[str, Any]:
    async with db.session() as session:
        figures = await compute_metrics(
            session,
            kw.get("start", START),
            kw.get("end", END),
            channel,
            lang,
            kw.get("window_h", WINDOW_H),
            kw.get("now", NOW),
        )
    return figures.model_dump()


# -- the figures ----------------------------------------------------------------------
async def test_an_empty_database_has_no_rates(db: Database) -> None:
    result = await metrics(db)
    assert result["conversations"] == 0
    assert result["deflection"]["rate"] is None and result["handoffs"]["rate"] is None
    assert result["csat"]["average"] is None and result["csat"]["response_rate"] is None
    assert result["agents"]["first_response_s"] == {"median": None, "p90": None, "count": 0}
    assert result["content_gaps"] == []
    assert [d["date"] for d in result["series"]] == [f"2025-06-0{d}" for d in range(1, 8)]
    assert all(d["conversations"] == 0 for d in result["series"])


async def test_deflection_with_the_window(db: Database, week: Week) -> None:
    result = await metrics(db)
    assert result["conversations"] == 9
    assert result["deflection"] == {
        "confirmed": 1,
        "assumed": 2,  # c2, and c4 exactly one window old
        "pending": 1,  # c3, 7 hours old
        "reverted": 1,
        "rate": round(3 / 9, 4),
        "confirmed_rate": round(1 / 9, 4),
        "assumed_rate": round(2 / 9, 4),
        "by_article": [
            {"key": "returns", "count": 2},
            {"key": "shipping", "count": 1},
            {"key": "warranty", "count": 1},
        ],
    }
    # a day later c3 has stayed quiet for a whole window: it counts as deflected
    later = (await metrics(db, now=NOW + timedelta(days=1)))["deflection"]
    assert (later["assumed"], later["pending"], later["rate"]) == (3, 0, round(4 / 9, 4))
    # a window longer than everything: every assumed one is still pending
    patient = (await metrics(db, window_h=24 * 3650))["deflection"]
    assert (patient["confirmed"], patient["assumed"], patient["pending"]) == (1, 0, 3)
    assert patient["by_article"] == [{"key": "returns", "count": 1}]


async def test_handoffs_by_reason(db: Database, week: Week) -> None:
    handoffs = (await metrics(db))["handoffs"]
    assert handoffs["total"] == 4
    assert handoffs["rate"] == round(4 / 9, 4)
    assert handoffs["by_reason"] == [
        # c5 asked twice: one conversation, counted once
        {"reason": "customer_request", "count": 2, "rate": round(2 / 9, 4), "share": 0.5},
        {"reason": "bot_offer", "count": 1, "rate": round(1 / 9, 4), "share": 0.25},
        {"reason": "frustration", "count": 1, "rate": round(1 / 9, 4), "share": 0.25},
        {"reason": "repeated_decline", "count": 1, "rate": round(1 / 9, 4), "share": 0.25},
    ]


async def test_csat_overall_bot_and_per_agent(db: Database, week: Week) -> None:
    csat = (await metrics(db))["csat"]
    assert (csat["asked"], csat["answered"]) == (6, 5)
    assert csat["response_rate"] == round(5 / 6, 4)
    assert csat["average"] == 3.8  # (5 + 3 + 4 + 2 + 5) / 5
    assert csat["distribution"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 2}
    assert csat["bot"] == {"answered": 2, "average": 4.0, "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
    assert csat["agent"] == {
        "answered": 3,
        "average": round(11 / 3, 4),
        "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1},
    }
    assert csat["agents"] == [
        {
            "username": "alice",
            "display_name": "Alice A",
            "answered": 2,
            "average": 3.0,
            "distribution": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0},
        },
        {
            "username": "bob",
            "display_name": "bob",
            "answered": 1,
            "average": 5.0,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
        },
    ]


async def test_agents_first_response_and_resolution(db: Database, week: Week) -> None:
    agents = (await metrics(db))["agents"]
    # first replies after 120 s (c5), 600 s (c6), 60 s (c7); c8 was never answered
    assert agents["first_response_s"] == {"median": 120.0, "p90": 504.0, "count": 3}
    # resolved by an agent after 1800, 3600, 900 s; c8 was resolved by the bot
    assert agents["resolution_s"] == {"median": 1800.0, "p90": 3240.0, "count": 3}
    assert agents["per_agent"] == [
        {
            "username": "alice",
            "display_name": "Alice A",
            "conversations": 2,
            "first_response_median_s": 360.0,
            "resolution_median_s": 2700.0,
        },
        {
            "username": "bob",
            "display_name": "bob",
            "conversations": 1,
            "first_response_median_s": 60.0,
            "resolution_median_s": 900.0,
        },
    ]


async def test_content_gaps_group_spellings_and_keep_persian(db: Database, week: Week) -> None:
    gaps = (await metrics(db))["content_gaps"]
    assert gaps == [
        # Arabic kaf/yeh (c9) and Persian (c3) spellings are one question; the latest wording is shown
        {"question": PERSIAN_Q, "count": 2, "language": "fa", "last_seen": at(7, 23, 0, 30).isoformat()},
        # case and spaces do not matter; c10's copy is outside the week
        {"question": "do you  ship to MARS?", "count": 2, "language": "en", "last_seen": at(2, 9, 1).isoformat()},
        {"question": "How do I cancel my order?", "count": 1, "language": "en", "last_seen": at(5, 14, 30).isoformat()},
    ]
    persian = (await metrics(db, lang="fa"))["content_gaps"]
    assert [(g["question"], g["count"]) for g in persian] == [(PERSIAN_Q, 2)]


async def test_daily_series(db: Database, week: Week) -> None:
    series = (await metrics(db))["series"]
    assert series == [
        {"date": "2025-06-01", "conversations": 1, "deflected": 1, "handoffs": 0},
        {"date": "2025-06-02", "conversations": 1, "deflected": 1, "handoffs": 0},
        {"date": "2025-06-03", "conversations": 1, "deflected": 0, "handoffs": 1},
        {"date": "2025-06-04", "conversations": 1, "deflected": 0, "handoffs": 1},
        {"date": "2025-06-05", "conversations": 2, "deflected": 0, "handoffs": 2},
        {"date": "2025-06-06", "conversations": 1, "deflected": 0, "handoffs": 0},
        {"date": "2025-06-07", "conversations": 2, "deflected": 1, "handoffs": 0},  # c3 is still pending
    ]


async def test_filters_by_channel_language_and_dates(db: Database, week: Week) -> None:
    telegram = await metrics(db, channel="telegram")
    # c3, and c6 whose channel is NULL but whose last channel is Telegram; not c1, which started on the web
    assert telegram["conversations"] == 2
    assert telegram["handoffs"]["by_reason"] == [{"reason": "repeated_decline", "count": 1, "rate": 0.5, "share": 1.0}]
    assert (telegram["deflection"]["pending"], telegram["deflection"]["confirmed"]) == (1, 0)
    assert [a["username"] for a in telegram["agents"]["per_agent"]] == ["alice"]
    assert telegram["agents"]["first_response_s"] == {"median": 600.0, "p90": 600.0, "count": 1}

    web = await metrics(db, channel="web")
    assert web["conversations"] == 7
    assert web["deflection"]["confirmed"] == 1  # c1 is counted where it started

    arabic = await metrics(db, lang="ar")
    assert arabic["conversations"] == 1
    assert arabic["csat"]["agents"] == [
        {
            "username": "bob",
            "display_name": "bob",
            "answered": 1,
            "average": 5.0,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 1},
        }
    ]
    assert arabic["csat"]["bot"]["answered"] == 0

    persian_web = await metrics(db, channel="web", lang="fa")
    assert persian_web["conversations"] == 1  # c9
    assert persian_web["content_gaps"][0]["question"] == ARABIC_LETTERS_Q

    days = await metrics(db, start=at(5), end=at(7))
    assert days["conversations"] == 3  # c7, c8, c9
    assert [d["date"] for d in days["series"]] == ["2025-06-05", "2025-06-06"]
    assert days["handoffs"]["total"] == 2
    assert days["csat"]["asked"] == 1
    assert [g["question"] for g in days["content_gaps"]] == [ARABIC_LETTERS_Q, "How do I cancel my order?"]

    # the rows just outside the week count when the range includes them
    wider = await metrics(db, start=at(31, 23, month=5), end=END + timedelta(seconds=1))
    assert wider["conversations"] == 11
    assert wider["deflection"]["confirmed"] == 3
    assert wider["csat"]["distribution"]["1"] == 1
    assert wider["content_gaps"][0] == {
        "question": PERSIAN_Q,
        "count": 3,
        "language": "fa",
        "last_seen": END.isoformat(),
    }
    assert wider["series"][0] == {"date": "2025-05-31", "conversations": 1, "deflected": 1, "handoffs": 1}
    assert wider["series"][-1] == {"date": "2025-06-08", "conversations": 1, "deflected": 1, "handoffs": 1}


# -- the API and the page -----------------------------------------------------------------
@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The product's app (routers, error handlers) on a test database, without the lifespan."""
    from webhook.app import create_app

    settings = Settings(database_url=db.url, deflection_window_h=WINDOW_H)
    app = create_app(settings)
    app.state.settings = settings
    app.state.db = db
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def token_of(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/api/agent/login", json={"username": username, "password": "correct horse"})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE_NAME}={token}"}


async def test_api_needs_an_admin(client: httpx.AsyncClient, week: Week) -> None:
    week_params = {"from": "2025-06-01", "to": "2025-06-07"}
    missing = await client.get("/api/metrics", params=week_params)
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert (await client.get("/api/metrics", params={"from": "garbage"})).status_code == 401, "auth comes first"

    agent = await token_of(client, "alice")
    refused = await client.get("/api/metrics", params=week_params, headers=bearer(agent))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"

    admin = await token_of(client, "root")
    response = await client.get("/api/metrics", params=week_params, headers=bearer(admin))
    assert response.status_code == 200, response.text
    body = response.json()
    # `to` as a date includes that whole day: c3 (23:00 on the 7th) counts, c11 (midnight after) does not
    assert body["range"]["from"] == "2025-06-01T00:00:00+00:00"
    assert body["range"]["to"] == "2025-06-08T00:00:00+00:00"
    assert body["range"]["deflection_window_h"] == WINDOW_H
    assert body["conversations"] == 9
    # now is today: c3 answered in 2025 is long past the window, no longer pending
    d = body["deflection"]
    assert (d["confirmed"], d["assumed"], d["pending"], d["reverted"]) == (1, 3, 0, 1)
    assert d["rate"] == round(4 / 9, 4)
    assert body["handoffs"]["total"] == 4
    assert body["csat"]["average"] == 3.8
    assert body["agents"]["first_response_s"]["median"] == 120.0
    assert body["content_gaps"][0]["question"] == PERSIAN_Q
    assert len(body["series"]) == 7

    # the browser's way: the console cookie
    via_cookie = await client.get(
        "/api/metrics", params={**week_params, "channel": "telegram", "lang": "fa"}, headers=cookie(admin)
    )
    assert via_cookie.status_code == 200
    assert via_cookie.json()["conversations"] == 1
    assert via_cookie.json()["range"]["channel"] == "telegram"

    # datetimes: `to` is then excluded, offsets are honoured
    exact = await client.get(
        "/api/metrics",
        params={"from": "2025-06-01T02:00:00+02:00", "to": "2025-06-07T23:00:00Z"},
        headers=bearer(admin),
    )
    assert exact.status_code == 200, exact.text
    assert exact.json()["range"]["from"] == "2025-06-01T00:00:00+00:00"
    assert exact.json()["conversations"] == 8  # not c3, created at 23:00

    # empty filters are no filters (a form's "All")
    everything = await client.get(
        "/api/metrics", params={**week_params, "channel": "", "lang": ""}, headers=bearer(admin)
    )
    assert everything.status_code == 200 and everything.json()["conversations"] == 9


async def test_api_window_comes_from_the_setting(client: httpx.AsyncClient, week: Week) -> None:
    admin = await token_of(client, "root")
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.settings = Settings(database_url=app.state.db.url, deflection_window_h=24 * 365 * 100)
    response = await client.get(
        "/api/metrics", params={"from": "2025-06-01", "to": "2025-06-07"}, headers=bearer(admin)
    )
    d = response.json()["deflection"]
    assert (d["assumed"], d["pending"]) == (0, 3)
    assert response.json()["range"]["deflection_window_h"] == 24 * 365 * 100


async def test_api_default_range_is_the_last_30_days(db: Database, client: httpx.AsyncClient, week: Week) -> None:
    async with db.session() as session:
        customer = Customer()
        session.add(customer)
        await session.flush()
        now = datetime.now(UTC)
        for age in (timedelta(days=1), timedelta(days=29, hours=23), timedelta(days=30, hours=1)):
            session.add(Conversation(customer_id=customer.id, channel=Channel.WEB, language="en", created_at=now - age))
        await session.commit()
    admin = await token_of(client, "root")
    body = (await client.get("/api/metrics", headers=bearer(admin))).json()
    assert body["conversations"] == 2, "the week of 2025 and the 30-days-and-an-hour-old one are outside"
    start, end = datetime.fromisoformat(body["range"]["from"]), datetime.fromisoformat(body["range"]["to"])
    assert end - start == timedelta(days=30)
    assert abs(end - datetime.now(UTC)) < timedelta(minutes=1)
    assert len(body["series"]) == 31  # 30 days from mid-day to mid-day touch 31 dates


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "query.from"),
        ({"from": "2025-13-01"}, "query.from"),
        ({"to": "2025-06-31"}, "query.to"),
        ({"from": "2025-06-07", "to": "2025-06-01"}, "query.from"),
        ({"from": "2024-01-01", "to": "2025-06-01"}, "query.from"),  # more than 366 days
        ({"channel": "email"}, "query.channel"),
        ({"lang": "de"}, "query.lang"),
    ],
)
async def test_api_refuses_bad_filters(
    db: Database, client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    await make_user(db, "root", "admin")
    admin = await token_of(client, "root")
    response = await client.get("/api/metrics", params=params, headers=bearer(admin))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [e["field"] for e in body["detail"]] == [field]


@pytest.mark.parametrize(
    ("params", "status", "to"),
    [
        ({"from": "9999-12-01", "to": "9999-12-31T23:59:59-14:00"}, 200, "9999-12-31T23:59:59.999999+00:00"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, 200, "9999-12-31T23:59:59.999999+00:00"),
        ({"from": "0001-01-01T00:00:00+14:00", "to": "0001-01-01T00:00:00-14:00"}, 200, "0001-01-01T14:00:00+00:00"),
        ({"to": "0001-01-01"}, 200, "0001-01-02T00:00:00+00:00"),
        ({"to": "9999-12-31T23:59:59-14:00"}, 200, "9999-12-31T23:59:59.999999+00:00"),
        ({"to": "0001-01-01T00:00:00+14:00"}, 422, None),
        ({"from": "9999-12-31T23:59:59-14:00", "to": "9999-12-31"}, 422, None),
        ({"from": "0001-01-01", "to": "9999-12-31"}, 422, None),
    ],
)
async def test_api_answers_the_ends_of_the_calendar(
    db: Database, client: httpx.AsyncClient, params: dict[str, str], status: int, to: str | None
) -> None:
    """Year 1 and 9999 with offsets of 14 hours either way: a clamped range or a 422, never a 500."""
    await make_user(db, "root", "admin")
    admin = await token_of(client, "root")
    response = await client.get("/api/metrics", params=params, headers=bearer(admin))
    assert response.status_code == status, response.text
    if to is not None:
        assert response.json()["range"]["to"] == to
        assert response.json()["conversations"] == 0


async def test_page_sends_visitors_to_sign_in_and_shows_admins_the_charts(
    db: Database, client: httpx.AsyncClient
) -> None:
    await make_user(db, "alice", "agent")
    await make_user(db, "root", "admin")
    for headers in ({}, cookie("garbage"), cookie("x" * 10_000)):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 303, headers
        assert response.headers["location"] == "/agent/login?next=/metrics"

    agent = await token_of(client, "alice")
    refused = await client.get("/metrics", headers=cookie(agent))
    assert refused.status_code == 403
    assert "admins" in refused.text and "chart.umd.js" not in refused.text

    admin = await token_of(client, "root")
    page = await client.get("/metrics", headers=cookie(admin))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/vendor/chart.umd.js" in page.text
    assert "/static/metrics.js" in page.text
    for control in ('name="from"', 'name="to"', 'name="channel"', 'name="lang"'):
        assert control in page.text

    library = await client.get("/static/vendor/chart.umd.js")
    assert library.status_code == 200 and "Chart.js v4" in library.text[:200]
    script = await client.get("/static/metrics.js")
    assert script.status_code == 200
    assert "/api/metrics" in script.text and '"question", "auto"' in script.text, "questions get dir=auto"
    assert "innerHTML" not in script.text, "server text goes in through textContent only"
