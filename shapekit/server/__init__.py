"""shapekit.server: ``shapekit serve``, the three jobs in a browser and an HTTP API.

Public API::

    create_app(config) -> FastAPI       # the app (routes, page, offline /docs)
    ServerConfig                        # models by name, work directory, limits, workers

Layout: ``app`` (factory, error handling), ``routes`` (the JSON API), ``services`` (the one
adapter to shapekit's models), ``store`` (models by name, loaded once), ``jobs`` (worker pool,
progress, SSE), ``uploads`` (size limits, streaming multipart into the work directory),
``encode`` (PNG/TIFF/JSON), ``verdict`` (a realism score in one sentence), ``browser`` (live
server + headless Chromium, for tests and screenshots), ``static/`` (the page).
Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart, fastapi-offline).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ServerConfig"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from shapekit.server.app import create_app

        return create_app
    if name == "ServerConfig":
        from shapekit.server.config import ServerConfig

        return ServerConfig
    raise AttributeError(f"module 'shapekit.server' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazily loaded names too, so that ``dir()`` and tab completion list them."""
    return sorted(set(globals()) | set(__all__))
