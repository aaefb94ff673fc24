"""Personal data masked in every log line (``REDACT_LOGS``): the redactor as a transform of the log filter.

:mod:`webhook.runtime.log_hygiene` rewrites each record's message, arguments and traceback
through its transforms (query strings first). :data:`LOG_REDACTION` is one more: it masks
e-mail addresses, phone, card and IBAN numbers and the configured ids
(:mod:`webhook.domain.redaction`), so a customer's text quoted in an error, uvicorn's lines
and tracebacks all reach the log masked.

The filter is the process's, so the transform is one object added once; the app sets which
redactor it uses when it is created (``create_app``), None when ``REDACT_LOGS`` is off.
"""

from __future__ import annotations

from webhook.domain.redaction import Redactor
from webhook.runtime.log_hygiene import LOG_HYGIENE, LogHygiene


class LogRedaction:
    """Masks personal data with the redactor it holds; with none it passes text through."""

    def __init__(self) -> None:
        self.redactor: Redactor | None = None

    def __call__(self, text: str) -> str:
        redactor = self.redactor
        return text if redactor is None or not text else redactor(text)


LOG_REDACTION = LogRedaction()


def redact_logs(redactor: Redactor | None, hygiene: LogHygiene = LOG_HYGIENE) -> None:
    """Mask personal data in log lines with ``redactor`` from now on (None: stop masking)."""
    LOG_REDACTION.redactor = redactor
    hygiene.add(LOG_REDACTION)
