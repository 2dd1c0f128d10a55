"""Drive the page in a real browser: a live server on loopback and the system's headless Chromium.

Used by the browser test and ``docs/screenshots.py``. Nothing is downloaded: Playwright (a Python
package) drives the Chromium installed on the machine (Debian's ``chromium``; another one through
``$SHAPEKIT_CHROMIUM``), and :func:`offline_guard` aborts and records any request that would leave
the machine.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def chromium_path() -> str | None:
    """The Chromium executable to drive (``$SHAPEKIT_CHROMIUM`` or Debian's), None when absent.

    Examples
    --------
    >>> chromium_path() is None or os.path.isfile(chromium_path())
    True
    """
    path = os.environ.get("SHAPEKIT_CHROMIUM", CHROMIUM)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


@contextmanager
def live_server(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def browser_page(viewport: tuple[int, int] = (1360, 900)) -> Iterator[tuple[Any, list[str]]]:
    """A page in headless Chromium and the list of off-machine requests it tried (all aborted)."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError(f"no Chromium at {CHROMIUM} (apt-get install chromium) or $SHAPEKIT_CHROMIUM")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            blocked = offline_guard(page)
            yield page, blocked
        finally:
            browser.close()


def offline_guard(page: Any) -> list[str]:
    """Abort every request to a host other than loopback; return the list they are recorded in."""
    blocked: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        host = urlparse(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    page.route("**/*", route)
    return blocked
