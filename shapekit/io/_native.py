"""Capture what native decoders (libpng, libjpeg, libtiff inside OpenCV) print on file descriptor 2.

Those libraries report damaged data by printing to the process's stderr and sometimes still return
an image. Capturing the text lets shapekit turn it into a one-line :class:`InputError` (and keeps
the CLI's stderr to one line per error) instead of passing a damaged image on silently.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

# fd 2 is process-wide: concurrent redirections from several threads would restore it wrongly
_LOCK = threading.RLock()

#: substrings of native messages that mean the decoded pixels cannot be trusted
FATAL_MARKERS = ("libpng error", "Corrupt JPEG data", "Premature end of JPEG", "TIFF_Error",
                 "TIFFReadDirectory", "Bogus", "JPEG datastream contains no image")


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[dict[str, str]]:
    """Redirect fd 2 to a temporary file for the duration; the text ends up in ``box["text"]``.

    Serialised by a lock (fd 2 is shared by all threads); keep the body short (one decode).

    Examples
    --------
    >>> with captured_native_stderr() as box:
    ...     _ = os.write(2, b"libpng error: demo\\n")
    >>> box["text"].strip()
    'libpng error: demo'
    """
    box = {"text": ""}
    with _LOCK:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 to redirect: nothing to capture
            yield box
            return
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield box
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                box["text"] = tmp.read().decode("utf-8", errors="replace")


def fatal_message(text: str) -> str | None:
    """The first captured line that reports damaged data, else None.

    Examples
    --------
    >>> fatal_message("libpng warning: iCCP: known incorrect sRGB profile\\nlibpng error: bad CRC")
    'libpng error: bad CRC'
    >>> fatal_message("libpng warning: iCCP") is None
    True
    """
    for line in text.splitlines():
        if any(m in line for m in FATAL_MARKERS):
            return " ".join(line.split())[:160]
    return None
