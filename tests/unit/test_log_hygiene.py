"""The log filter: query strings (where tokens travel) leave every line, and the lines keep their shape."""

from __future__ import annotations

import logging
import sys

import pytest
from uvicorn.logging import AccessFormatter, DefaultFormatter

from webhook.runtime.log_hygiene import LogHygiene, install, scrub_query_strings

SECRET = "secret-marker"


@pytest.mark.parametrize(
    ("line", "clean"),
    [
        (f"/ws/agent?token={SECRET}", "/ws/agent"),
        (f'127.0.0.1:5000 - "WebSocket /ws/agent?token={SECRET}" 403', '127.0.0.1:5000 - "WebSocket /ws/agent" 403'),
        (f"< GET /ws/agent?token={SECRET}&x=1 HTTP/1.1", "< GET /ws/agent HTTP/1.1"),
        (f"ws://127.0.0.1:8000/ws/agent?token={SECRET}#frag", "ws://127.0.0.1:8000/ws/agent#frag"),
        (f"/?token={SECRET}", "/"),
        ("is it free? and where?", "is it free? and where?"),  # a question is no query string
        ("GET /health HTTP/1.1", "GET /health HTTP/1.1"),
    ],
)
def test_query_strings_go_and_paths_stay(line: str, clean: str) -> None:
    assert scrub_query_strings(line) == clean


def record(msg: str, args: tuple[object, ...] | None = None, name: str = "uvicorn.error") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_uvicorns_access_line_keeps_its_five_arguments_and_its_format() -> None:
    line = record(
        '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", f"/api/chat/history?session={SECRET}", "1.1", 200)
    )
    assert LogHygiene().filter(line) is True  # nothing is dropped
    formatted = AccessFormatter("%(client_addr)s - %(request_line)s %(status_code)s", use_colors=False).format(line)
    assert formatted == "127.0.0.1:5000 - GET /api/chat/history HTTP/1.1 200 OK"


def test_a_handshake_line_a_message_and_an_object_argument_are_cleaned() -> None:
    class Url:
        def __str__(self) -> str:
            return f"http://x/ws/agent?token={SECRET}"

    hygiene = LogHygiene()
    handshake = record('%s - "WebSocket %s" [accepted]', ("127.0.0.1:5000", f"/ws/agent?token={SECRET}"))
    direct = record(f"opened /ws/agent?token={SECRET}")
    objects = record("url %s, port %d", (Url(), 8000))
    for line in (handshake, direct, objects):
        hygiene.filter(line)
        assert SECRET not in DefaultFormatter("%(message)s", use_colors=False).format(line)
    assert objects.args == ("http://x/ws/agent", 8000)


def test_a_traceback_is_cleaned_too() -> None:
    try:
        raise ValueError(f"bad request to /ws/agent?token={SECRET}")
    except ValueError:
        line = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    LogHygiene().filter(line)
    text = logging.Formatter().format(line)
    assert "ValueError: bad request to /ws/agent" in text and SECRET not in text


def test_more_transforms_can_be_added_and_run_after_the_scrub() -> None:
    hygiene = LogHygiene()
    hygiene.add(lambda text: text.replace("ann@example.com", "<email>"))
    hygiene.add(hygiene.transforms[-1])  # once, however often it is added
    line = record("mail from %s to /x?token=1", ("ann@example.com",))
    hygiene.filter(line)
    assert line.getMessage() == "mail from <email> to /x"
    assert len(hygiene.transforms) == 2


def test_install_reaches_every_uvicorn_logger_the_root_and_their_handlers() -> None:
    hygiene = LogHygiene()
    handler = logging.NullHandler()
    logging.getLogger("uvicorn.access").addHandler(handler)
    try:
        install(hygiene)
        install(hygiene)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", None):
            assert logging.getLogger(name).filters.count(hygiene) == 1, name
        assert handler.filters == [hygiene]
    finally:
        logging.getLogger("uvicorn.access").removeHandler(handler)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", None):
            logging.getLogger(name).removeFilter(hygiene)
