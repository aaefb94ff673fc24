"""Property-based fuzzing of the WebSocket frames (hypothesis): each frame is answered, or the socket closed cleanly.

The widget's ``/ws/chat`` and the console's ``/ws/agent`` on a real server (``fuzz_support``),
through a real client (``websockets``), so a socket dropped without a close frame shows.
Frames: ``hello`` and ``message`` with odd fields, ``ping``, unknown types, any JSON,
malformed JSON, JSON nested past the parser's depth, binary frames, lone surrogates as JSON
escapes (``"\\ud800"``), NUL, very long and odd Unicode, wrong types.

After each frame the client waits for its answer (``pong``, ``ack`` or ``error`` for the
widget; ``pong``, ``following`` or ``error`` for the console). Every frame the server sends
must be one its protocol defines, and a close must come as a close frame with a code other
than 1011 (an unhandled error). After each example a new client must still be served. The
runs are the same every time (``derandomize``, no example database).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import DATABASES
from tests.service.fuzz_support import ODD_INTEGERS, POOL, SHARED_SESSION, LiveApp, hostile_text, live_app
from webhook.channels.web.schemas import (
    AckFrame,
    ConversationMessageFrame,
    ErrorFrame,
    PongFrame,
    ReadyFrame,
    TypingFrame,
)

EXAMPLES = 60  # per property and database
ANSWER_WAIT_S = 60.0  # not a speed bound: a frame nobody answers would otherwise hang the test
WIDGET_FRAMES: dict[str, type[BaseModel]] = {
    "ready": ReadyFrame,
    "ack": AckFrame,
    "message": ConversationMessageFrame,
    "typing": TypingFrame,
    "pong": PongFrame,
    "error": ErrorFrame,
}
CONSOLE_FRAMES = {"queue", "message", "note", "following", "pong", "error"}
UNHANDLED_ERROR = 1011
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class Closed(Exception):
    """The server closed the socket cleanly (with a close frame and a code)."""


@pytest.fixture(scope="module", params=DATABASES)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    with live_app(request.param, tmp_path_factory.mktemp("fuzz-ws")) as app:
        app.counts.update(connections=0, frames=0, closed=0, dropped=0)
        yield app
        c = app.counts
        print(f"\nfuzz WebSocket ({request.param}): {c['connections']} connections, {c['frames']} frames, ", end="")
        print(f"{c['closed']} closed cleanly by the server, {c['dropped']} dropped or failed")


# -- frames ------------------------------------------------------------------------------
def as_json(value: Any) -> str:
    """JSON text; a lone surrogate becomes an escape (``"\\ud800"``), as a browser's JSON.stringify may send it."""
    return json.dumps(value)


odd_value = st.one_of(
    st.none(), st.booleans(), st.sampled_from(ODD_INTEGERS), st.floats(), hostile_text, st.lists(st.integers())
)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
message_id = st.one_of(st.uuids().map(str), st.sampled_from(POOL), hostile_text)
message_frame = st.fixed_dictionaries(
    {"type": st.just("message"), "client_message_id": st.one_of(message_id, odd_value)},
    optional={"text": st.one_of(hostile_text, st.just("Where is my order?"), odd_value), "payload": odd_value},
)
widget_text_frame = st.one_of(
    message_frame.map(as_json),
    st.just(as_json({"type": "ping"})),
    st.fixed_dictionaries({"type": odd_value}).map(as_json),
    json_value.map(as_json),
    st.text(max_size=60),  # mostly not JSON
    st.sampled_from(["", "{", '{"type": "message"', "\ufeff{}", "[]", "null", '{"type": "ping"}' * 2]),
    st.sampled_from(["[" * 5_000, '{"type": ' * 5_000]),  # past the JSON parser's recursion limit
    st.just(as_json({"type": "message", "client_message_id": "big", "text": "z" * 2_000_000})),
)
binary_frame = st.one_of(st.binary(max_size=64), st.just(b'{"type": "ping"}'))
widget_frame = st.one_of(widget_text_frame, widget_text_frame, binary_frame)  # text twice as often


def hello_frames(session: str) -> st.SearchStrategy[str | bytes]:
    """A hello with odd extras (``after``, ``link``, ``user``, ``lang``), the shared session's, or any first frame."""
    extras = st.fixed_dictionaries(
        {},
        optional={
            "lang": st.one_of(st.sampled_from(["en", "fa", "ar"]), odd_value),
            "after": st.one_of(st.integers(min_value=0, max_value=10), st.sampled_from(ODD_INTEGERS), odd_value),
            "link": st.one_of(st.none(), hostile_text, odd_value),
            "user": st.one_of(st.none(), st.fixed_dictionaries({"id": hostile_text, "signature": hostile_text})),
        },
    )
    good = extras.map(lambda extra: as_json({"type": "hello", "session": session, **extra}))
    shared = st.just(as_json({"type": "hello", "session": SHARED_SESSION}))
    return st.one_of(good, good, shared, widget_text_frame, binary_frame)


def opening(session: str) -> st.SearchStrategy[str]:
    """A hello that opens the chat: this session's (a language, or none) or the session many examples share."""
    lang = st.sampled_from([None, "en", "fa", "ar"])
    return st.one_of(
        lang.map(lambda code: as_json({"type": "hello", "session": session, "lang": code})),
        st.just(as_json({"type": "hello", "session": SHARED_SESSION})),
    )


console_frame = st.one_of(
    st.fixed_dictionaries({"type": st.just("follow"), "conversation_id": st.one_of(odd_value, message_id)}).map(
        as_json
    ),
    st.just("follow-seeded"),  # replaced by the seeded conversation's follow
    st.just(as_json({"type": "ping"})),
    st.fixed_dictionaries({"type": odd_value}).map(as_json),
    json_value.map(as_json),
    st.text(max_size=60),
    st.just("[" * 5_000),
    binary_frame,
)


# -- the client ----------------------------------------------------------------------------
def receive(ws: ClientConnection, app: LiveApp) -> dict[str, Any]:
    """The next frame, which must be a JSON object; :class:`Closed` for a clean close, a failure for a drop."""
    try:
        raw = ws.recv(timeout=ANSWER_WAIT_S)
    except ConnectionClosed as closed:
        app.counts["dropped"] += closed.rcvd is None or closed.rcvd.code == UNHANDLED_ERROR
        assert closed.rcvd is not None, f"the server dropped the socket without a close frame ({closed})"
        assert closed.rcvd.code != UNHANDLED_ERROR, f"the server failed: {closed.rcvd}"
        app.counts["closed"] += 1
        raise Closed(str(closed.rcvd)) from None
    except TimeoutError:
        pytest.fail(f"no answer within {ANSWER_WAIT_S:.0f} s")
    assert isinstance(raw, str), f"a binary frame from the server: {raw!r}"
    frame = json.loads(raw)
    assert isinstance(frame, dict) and isinstance(frame.get("type"), str), raw
    return frame


def send(ws: ClientConnection, frame: str | bytes, app: LiveApp) -> None:
    app.counts["frames"] += 1
    with contextlib.suppress(ConnectionClosed):  # closed by the server meanwhile: receive() judges how
        ws.send(frame)


def widget_answer(ws: ClientConnection, frame: str | bytes, app: LiveApp) -> dict[str, Any]:
    """Send a frame to /ws/chat and read until its answer, checking every frame on the way."""
    send(ws, frame, app)
    sent_id = message_id_of(frame)
    while True:
        got = receive(ws, app)
        model = WIDGET_FRAMES.get(got["type"])
        assert model is not None, f"a frame the widget's protocol does not define: {got}"
        model.model_validate(got)
        if got["type"] == "pong" and sent_id is None:
            return got
        if got["type"] == "ack" and got["client_message_id"] == sent_id:
            return got
        if got["type"] == "error" and got.get("client_message_id") in (sent_id, None):
            return got


def message_id_of(frame: str | bytes) -> str | None:
    try:
        value = json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None
    if isinstance(value, dict) and value.get("type") == "message" and isinstance(value.get("client_message_id"), str):
        return value["client_message_id"]
    return None


def open_widget(app: LiveApp) -> ClientConnection:
    app.counts["connections"] += 1
    return connect(f"{app.ws_url}/ws/chat", origin=app.base_url, open_timeout=ANSWER_WAIT_S, max_size=None)  # type: ignore[arg-type]


def open_console(app: LiveApp) -> ClientConnection:
    app.counts["connections"] += 1
    headers = {"Authorization": f"Bearer {app.seeded.agent_token}"}
    return connect(
        f"{app.ws_url}/ws/agent",
        origin=app.base_url,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=ANSWER_WAIT_S,
        max_size=None,
    )


def still_served(app: LiveApp) -> None:
    """A new widget client says hello and gets ``ready``, then a ``pong``."""
    with open_widget(app) as ws:
        send(ws, as_json({"type": "hello", "session": f"next-{uuid.uuid4().hex}"}), app)
        assert receive(ws, app)["type"] == "ready"
        assert widget_answer(ws, as_json({"type": "ping"}), app)["type"] == "pong"


# -- the properties ------------------------------------------------------------------------
def start(ws: ClientConnection, hello: str | bytes, app: LiveApp) -> None:
    """Say hello and read until ``ready`` (an error may come first); :class:`Closed` if the server closes."""
    send(ws, hello, app)
    while (got := receive(ws, app))["type"] != "ready":
        assert got["type"] == "error", f"before ready, only an error may come: {got}"
        ErrorFrame.model_validate(got)
    ReadyFrame.model_validate(got)


@SETTINGS
@given(data=st.data())
def test_every_first_frame_gets_ready_or_a_clean_close(live: LiveApp, data: st.DataObject) -> None:
    with open_widget(live) as ws:
        try:
            start(ws, data.draw(hello_frames(f"fuzz-{uuid.uuid4().hex}"), label="hello"), live)
            assert widget_answer(ws, as_json({"type": "ping"}), live)["type"] == "pong"
        except Closed:
            pass
    still_served(live)


@SETTINGS
@given(data=st.data())
def test_every_widget_frame_is_answered_or_closed_cleanly(live: LiveApp, data: st.DataObject) -> None:
    hello = data.draw(opening(f"fuzz-{uuid.uuid4().hex}"), label="hello")
    frames = data.draw(st.lists(widget_frame, min_size=1, max_size=5), label="frames")
    with open_widget(live) as ws:
        try:
            start(ws, hello, live)
            for frame in frames:
                widget_answer(ws, frame, live)
            assert widget_answer(ws, as_json({"type": "ping"}), live)["type"] == "pong"
        except Closed:
            pass
    still_served(live)


@SETTINGS
@given(frames=st.lists(console_frame, min_size=1, max_size=5))
def test_every_console_frame_is_answered_or_closed_cleanly(live: LiveApp, frames: list[str | bytes]) -> None:
    with open_console(live) as ws:
        try:
            assert receive(ws, live)["type"] == "queue"
            for frame in frames:
                if frame == "follow-seeded":
                    frame = as_json({"type": "follow", "conversation_id": live.seeded.conversation_id})
                send(ws, frame, live)
                while (got := receive(ws, live))["type"] not in ("pong", "following", "error"):
                    assert got["type"] in CONSOLE_FRAMES, f"a frame the console's protocol does not define: {got}"
            send(ws, as_json({"type": "ping"}), live)
            while (got := receive(ws, live))["type"] != "pong":
                assert got["type"] in CONSOLE_FRAMES, got
        except Closed:
            pass
    still_served(live)
