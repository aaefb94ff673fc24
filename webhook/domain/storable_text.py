"""Text the databases can store: the one rule every text-bearing route, frame and channel applies.

JSON may carry what UTF-8 cannot: a lone UTF-16 surrogate (``"\\ud800"``) decodes to a
Python string that no database driver can encode, and PostgreSQL's text type cannot hold
NUL. Accepted, either fails only when it is stored (a 500, a dropped socket); so it is
refused where it enters: :data:`StorableText` in request and frame schemas (a 422 or an
``invalid_message`` frame), :func:`text_problem` in the conversation service (every
channel), and :func:`storable` where text must be kept however it came (a name, a caption).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Python joins a surrogate pair into one code point when it decodes JSON, so any surrogate
# left in a string is a lone one.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone UTF-16 surrogate"


def check_storable(text: str) -> str:
    """``text`` unchanged, or ValueError (pydantic's "value_error") saying what is wrong; never echoing it."""
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(f"the text {problem}")
    return text


def storable(text: str) -> str:
    """``text`` with what cannot be stored replaced by U+FFFD (for text kept whatever it holds)."""
    return _UNSTORABLE.sub(REPLACEMENT, text)


# A string field that refuses what cannot be stored; combine with Field() for lengths.
StorableText = Annotated[str, AfterValidator(check_storable)]
