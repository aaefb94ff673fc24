"""Handing freed memory back to the system."""

from __future__ import annotations

import contextlib
import ctypes
import gc


def return_memory() -> None:
    """Collect garbage and trim the C heap, after a model swap leaves the old model's memory free.

    glibc keeps freed memory for reuse otherwise, so a worker that swapped models would
    keep the old one's share of its resident size.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
