"""The FastAPI application: state, error handling, limits, the page and the offline API docs.

Every refusal is a 4xx with a one-line JSON body ``{"error": "..."}``; an unexpected failure is a
500 with the same shape (and the traceback in the server log); the server keeps serving either way.
``/docs`` (Swagger UI) and ``/redoc`` load their JavaScript and CSS from this server
(fastapi-offline ships them), never from a CDN.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from shapekit import __version__
from shapekit.errors import InputError
from shapekit.io.budget import HOW_TO_RAISE
from shapekit.server.config import ServerConfig
from shapekit.server.errors import ApiError, one_line
from shapekit.server.jobs import JobManager
from shapekit.server.store import ModelStore
from shapekit.server.uploads import BodyLimit

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("shapekit.server")


@dataclass
class ServerState:
    """What the routes share: settings, the model store and the job manager."""

    config: ServerConfig
    store: ModelStore
    jobs: JobManager
    started: float = field(default_factory=time.time)


def error_status(exc: BaseException, max_pixels: int | None = None) -> tuple[int, str]:
    """HTTP status and one-line message of an exception raised by model work.

    A pixel budget's hint names the CLI's global option; where the limit is the server's own
    (``max_pixels``, or always when it is not given) it names ``shapekit serve --max-pixels``,
    else (the process's budget, e.g. a generator's feature maps) how to raise that one.

    Examples
    --------
    >>> error_status(InputError("bad.tif: truncated\\nfile"))
    (422, 'bad.tif: truncated file')
    >>> error_status(ApiError(404, "unknown model 'x'"))
    (404, "unknown model 'x'")
    >>> from shapekit.io.budget import check_pixel_budget
    >>> try:
    ...     check_pixel_budget((32, 4112, 4112), "feature maps", max_pixels=2 ** 28)
    ... except InputError as e:
    ...     error_status(e, max_pixels=2 ** 26)[1]
    "feature maps: 32x4112x4112 = 541073408 pixels, over the limit of 268435456 pixels (the process's limit, not serve --max-pixels: start the server as shapekit --max-pixels N serve ..., or set $SHAPEKIT_MAX_PIXELS)"
    """
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    if isinstance(exc, InputError):
        msg = one_line(exc)
        if max_pixels is None or f"over the limit of {int(max_pixels)} pixels" in msg:
            return 422, msg.replace(HOW_TO_RAISE, "the server's limit: shapekit serve --max-pixels N")
        return 422, msg.replace(HOW_TO_RAISE, "the process's limit, not serve --max-pixels: start the server "
                                              "as shapekit --max-pixels N serve ..., or set $SHAPEKIT_MAX_PIXELS")
    log.error("internal error", exc_info=exc)
    return 500, one_line(f"internal error: {type(exc).__name__}: {exc}")


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """Build the app. Models load on first use (``app.state.shapekit.store.preload()`` loads them now).

    Examples
    --------
    >>> import tempfile
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(ServerConfig(workdir=tempfile.mkdtemp(), preload=False))
    >>> with TestClient(app) as client:
    ...     client.get("/api/health").json()["status"], client.get("/api/nope").json()
    ('ok', {'error': 'not found: /api/nope'})
    """
    from fastapi_offline import FastAPIOffline

    from shapekit.server.routes import router

    config = config or ServerConfig()
    config.workdir.mkdir(parents=True, exist_ok=True)

    def status_of(exc: BaseException) -> tuple[int, str]:
        return error_status(exc, config.max_pixels)

    state = ServerState(config, ModelStore(config),
                        JobManager(config.workdir, config.workers, config.max_queue, config.max_jobs,
                                   status_of))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        state.jobs.shutdown()

    app = FastAPIOffline(
        title="shapekit", version=__version__, lifespan=lifespan,
        description="Temper classification, conditional generation and topological realism scoring "
                    "of SEM micrographs. Errors are `{\"error\": \"one line\"}` with a 4xx status. "
                    "Long work (classify, score) runs as a job: `?wait=false` answers 202 at once "
                    "with URLs to poll (`/api/jobs/{id}`) or follow as server-sent events.")
    app.state.shapekit = state
    app.add_middleware(BodyLimit, max_upload=config.max_upload_bytes, max_other=config.max_json_bytes)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = exc.detail if isinstance(exc, ApiError) else _http_message(request, exc)
        return JSONResponse({"error": one_line(msg)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, msg = validation_message(exc.errors())
        return JSONResponse({"error": msg}, status_code=status)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        status, msg = status_of(exc)
        return JSONResponse({"error": msg}, status_code=status)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        status, msg = status_of(exc)
        return JSONResponse({"error": msg}, status_code=status)

    return app


def _http_message(request: Request, exc: StarletteHTTPException) -> str:
    if exc.status_code == 404:
        return f"not found: {request.url.path}"
    if exc.status_code == 405:
        return f"method {request.method} not allowed on {request.url.path}"
    return str(exc.detail)


def validation_message(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """Status and one line for FastAPI's validation errors (400 for malformed JSON, else 422).

    Examples
    --------
    >>> validation_message([{"type": "json_invalid", "loc": ("body", 7),
    ...                      "msg": "JSON decode error", "ctx": {"error": "Expecting value"}}])
    (400, 'malformed JSON body: Expecting value at position 7')
    >>> validation_message([{"type": "float_parsing", "loc": ("body", "conditions", "t"),
    ...                      "msg": "Input should be a valid number"}])
    (422, 'conditions.t: Input should be a valid number')
    """
    if not errors:
        return 422, "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        err = (first.get("ctx") or {}).get("error", first.get("msg"))
        pos = first["loc"][-1] if len(first.get("loc", ())) > 1 else "?"
        return 400, one_line(f"malformed JSON body: {err} at position {pos}")
    loc = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return 422, one_line(f"{loc}: {first.get('msg', 'invalid')}{more}")
