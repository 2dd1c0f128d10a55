"""SIGTERM (a batch scheduler's stop) wound down like Ctrl-C, for CLI commands that write sets.

:func:`sigterm_raises` turns a ``SIGTERM`` into :class:`Terminated` so that ``finally`` blocks
write what was done; :func:`sigterm_deferred` holds a ``SIGTERM`` or Ctrl-C back while a few
quick steps that must not stop halfway run to their end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class Terminated(BaseException):
    """Raised in the main thread by :func:`sigterm_raises` when a ``SIGTERM`` arrives (a
    :class:`BaseException`, like :class:`KeyboardInterrupt`, so that only ``finally`` blocks and
    the command that asked for it see it)."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, ``SIGTERM`` raises :class:`Terminated` in the main thread instead of ending
    the process at once, so that ``finally`` blocks write what was done; a second ``SIGTERM``
    ends it as usual. Does nothing outside the main thread.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.getsignal(signal.SIGTERM)
    old = signal.SIG_DFL if old is None else old

    def _raise(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, old)
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def sigterm_deferred() -> Iterator[None]:
    """While inside, a ``SIGTERM`` or a Ctrl-C (``SIGINT``) is held back and delivered (to the
    handler that was there before, e.g. :func:`sigterm_raises`'s, or Python's KeyboardInterrupt)
    on the way out, so that a few quick steps that must not stop halfway (moving a finished set
    into place) run to their end. Does nothing outside the main thread.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    kinds = (signal.SIGTERM, signal.SIGINT)
    old = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in kinds}
    try:
        yield
    finally:
        for s in kinds:
            signal.signal(s, signal.SIG_DFL if old[s] is None else old[s])
        for s in dict.fromkeys(held):
            signal.raise_signal(s)
