"""Personal data masked in log lines (REDACT_LOGS, webhook/runtime/log_redaction.py), and the start refused
for a bad REDACT_PATTERNS."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest

from webhook.domain.redaction import InvalidRedactionSetting, Redactor
from webhook.runtime.log_hygiene import LOG_HYGIENE, LogHygiene, install, scrub_query_strings
from webhook.runtime.log_redaction import LOG_REDACTION, LogRedaction, redact_logs
from webhook.settings import Settings

CUSTOMER = "my card 4111 1111 1111 1111 failed, call me on +44 7911 123456 or sara.k@example.com"
MASKED = "my card [card] failed, call me on [phone] or [email]"


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = LOG_REDACTION.redactor
    yield
    LOG_REDACTION.redactor = before


def formatted(hygiene: LogHygiene, msg: str, *args: object) -> str:
    record = logging.LogRecord("webhook.services.conversations", logging.ERROR, __file__, 1, msg, args, None)
    assert hygiene.filter(record) is True
    return logging.Formatter("%(message)s").format(record)


def test_a_customers_text_in_a_message_or_its_arguments_is_masked() -> None:
    redaction = LogRedaction()
    redaction.redactor = Redactor()
    hygiene = LogHygiene([scrub_query_strings, redaction])
    assert (
        formatted(hygiene, "conversation %s: %s (%d ms)", "c-1", CUSTOMER, 1234)
        == f"conversation c-1: {MASKED} (1234 ms)"
    )
    assert formatted(hygiene, f"rejected {CUSTOMER}") == f"rejected {MASKED}"
    # ordinary figures and ids in log lines stay
    line = "2024-05-31 12:30:45,123 127.0.0.1:5005 conversation 4111111111111111abcdef01234567 took 1234.5 ms"
    assert formatted(hygiene, "%s", line) == line
    redaction.redactor = None  # REDACT_LOGS=false
    assert formatted(hygiene, "%s", CUSTOMER) == CUSTOMER


def test_a_traceback_quoting_the_customer_is_masked() -> None:
    redaction = LogRedaction()
    redaction.redactor = Redactor()
    try:
        raise ValueError(f"cannot store {CUSTOMER!r}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    LogHygiene([redaction]).filter(record)
    text = logging.Formatter("%(message)s").format(record)
    assert "sara.k@example.com" not in text and "[email]" in text and "Traceback" in text


def test_the_app_switches_log_redaction_with_its_setting() -> None:
    from webhook.app import create_app

    app = create_app(Settings(redact_logs=True))
    assert LOG_REDACTION in LOG_HYGIENE.transforms and LOG_REDACTION.redactor is app.state.redactor
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install()  # as the app does at start: the filter on the root logger's handlers
        logging.getLogger("webhook.services.conversations").warning("customer wrote %s", CUSTOMER)
        assert out.getvalue().strip() == f"customer wrote {MASKED}"
        create_app(Settings(redact_logs=False))
        assert LOG_REDACTION.redactor is None
        logging.getLogger("webhook.services.conversations").warning("customer wrote %s", CUSTOMER)
        assert out.getvalue().splitlines()[-1] == f"customer wrote {CUSTOMER}"
    finally:
        root.removeHandler(handler)
        handler.removeFilter(LOG_HYGIENE)


def test_a_bad_pattern_stops_the_app_with_a_clear_error() -> None:
    from webhook.app import create_app

    with pytest.raises(InvalidRedactionSetting, match=r"REDACT_PATTERNS: pattern 2 'ORD-\(\\\\d\+' is not a valid"):
        create_app(Settings(redact_patterns=r"\bNID\d{10}\b;;ORD-(\d+"))
    redact_logs(None)
