"""Log lines without secrets: one logging filter that rewrites every line before it is written.

Uvicorn writes each request and WebSocket handshake with its full URL, so
``/ws/agent?token=...`` put a live agent token in the log. :class:`LogHygiene` passes a
record's message and its string arguments through a list of text transforms; the first,
:func:`scrub_query_strings`, keeps a URL's path and drops its query string. The record keeps
its shape (uvicorn's access formatter unpacks its five arguments), so every formatter and
handler works as before.

**The hook for more.** ``LOG_HYGIENE.transforms`` is the list applied, in order; the
privacy work adds its masking of personal data there (``LOG_HYGIENE.add(redact)``), and it
then applies to uvicorn's lines, the app's own and exception tracebacks alike.

:func:`install` puts the filter on every uvicorn logger and the root logger, and on their
handlers (a record from another logger reaches the handlers, not the loggers' filters); the
app calls it when it is created (``create_app``) and again when it starts, since a logging
configuration applied in between replaces handlers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

TextTransform = Callable[[str], str]

# A path (it starts with "/", as in "GET /ws/agent?token=..." or "ws://host/ws/agent?token=...")
# followed by a query string: the path stays, the query goes. A question mark after a word
# ("is it free?") is no query string and stays.
_QUERY = re.compile(r"(?P<path>/[^\s?#\"'<>]*)\?[^\s#\"'<>]*")

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
_PLAIN = (int, float, bool, type(None))


def scrub_query_strings(text: str) -> str:
    """``text`` with every URL's query string removed (its path kept): tokens travel in query strings."""
    return _QUERY.sub(r"\g<path>", text) if "?" in text else text


class LogHygiene(logging.Filter):
    """Rewrites a record's message, its arguments and its traceback through ``transforms``; drops nothing."""

    def __init__(self, transforms: Iterable[TextTransform] = (scrub_query_strings,)) -> None:
        super().__init__()
        self.transforms: list[TextTransform] = list(transforms)

    def add(self, transform: TextTransform) -> None:
        """Apply ``transform`` too, after those already there (once, however often it is added)."""
        if transform not in self.transforms:
            self.transforms.append(transform)

    def clean(self, text: str) -> str:
        for transform in self.transforms:
            text = transform(text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._argument(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: self._argument(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:  # the formatter uses a traceback text already there
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        return True

    def _argument(self, value: Any) -> Any:
        """A string argument cleaned; any other kept as it is unless its text needed cleaning."""
        if isinstance(value, str):
            return self.clean(value)
        if isinstance(value, _PLAIN):
            return value
        text = str(value)
        cleaned = self.clean(text)
        return value if cleaned == text else cleaned


LOG_HYGIENE = LogHygiene()


def install(hygiene: LogHygiene = LOG_HYGIENE) -> None:
    """Put ``hygiene`` on every uvicorn logger and the root logger, and on their handlers (idempotent)."""
    for name in (*UVICORN_LOGGERS, None):
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            if hygiene not in target.filters:
                target.addFilter(hygiene)
