"""The JSON API: ``/api/classify``, ``/api/generate``, ``/api/score``, ``/api/models``,
``/api/health`` and the job endpoints (``/api/jobs/{id}``, ``.../events``, ``.../files/{name}``)."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shapekit import __version__
from shapekit.server import services
from shapekit.server.errors import ApiError
from shapekit.server.uploads import Upload, read_multipart

router = APIRouter()
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\.png$")
WAIT = Query(True, description="Wait for the result (default); false: 202 with the job's URLs at once.")


def _multipart(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """OpenAPI request body of a multipart endpoint (its form is parsed by our streaming reader)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props, "required": required}}}}}


_FILES = {"type": "array", "items": {"type": "string", "format": "binary"}}
CLASSIFY_BODY = _multipart({
    "files": {**_FILES, "description": "TIFF/PNG/JPEG/BMP scans (microscope originals with info bars work)"},
    "model": {"type": "string", "description": "classifier name (GET /api/models); default: the first"},
    "explain": {"type": "boolean", "default": False, "description": "persistence pairs behind the verdict"},
    "preview": {"type": "boolean", "default": False, "description": "PNG data URL of the classified image"},
    "um_per_px": {"type": "number", "description": "pixel size, overriding the file's metadata"},
}, ["files"])
SCORE_BODY = _multipart({
    "real_set": {"type": "string", "description": "a real set known to the server (GET /api/models)"},
    "real": {**_FILES, "description": "or real images (at least 2; 4 for the real-vs-real baseline)"},
    "generator": {"type": "string", "description": "generate the synthetic set with this generator"},
    "n": {"type": "integer", "default": 16, "minimum": 2, "maximum": 256},
    "label": {"type": "string"}, "conditions": {"type": "string", "description": "JSON object"},
    "gen_seed": {"type": "integer", "default": 0},
    "generated": {**_FILES, "description": "or synthetic images (at least 2)"},
    "n_boot": {"type": "integer", "default": 100, "minimum": 1, "maximum": 2000},
    "n_perm": {"type": "integer", "default": 100, "minimum": 1, "maximum": 2000},
    "seed": {"type": "integer", "default": 0},
    "mode": {"type": "string", "description": "structure|imaging|both, where the realism score has modes"},
}, [])


def _state(request: Request) -> Any:
    return request.app.state.shapekit


# ---------------------------------------------------------------------------- form fields
def _bool(up: Upload, name: str, default: bool = False) -> bool:
    v = up.fields.get(name, "").strip().lower()
    if v == "":
        return default
    if v in ("1", "true", "on", "yes"):
        return True
    if v in ("0", "false", "off", "no"):
        return False
    raise ApiError(422, f"form field {name}={v!r} is not a boolean (true/false)")


def _int(up: Upload, name: str, default: int, lo: int, hi: int) -> int:
    v = up.fields.get(name, "").strip()
    if v == "":
        return default
    try:
        out = int(v)
    except ValueError:
        raise ApiError(422, f"form field {name}={v!r} is not an integer") from None
    if not lo <= out <= hi:
        raise ApiError(422, f"form field {name}={out} is outside [{lo}, {hi}]")
    return out


def _float(up: Upload, name: str) -> float | None:
    v = up.fields.get(name, "").strip()
    if v == "":
        return None
    try:
        out = float(v)
    except ValueError:
        raise ApiError(422, f"form field {name}={v!r} is not a number") from None
    if not math.isfinite(out) or out <= 0:
        raise ApiError(422, f"form field {name}={v!r} must be a positive number")
    return out


def _name(up: Upload, name: str) -> str | None:
    return up.fields.get(name, "").strip() or None


async def _respond(st: Any, job: Any, wait: bool) -> JSONResponse:
    if not wait:
        return JSONResponse(job.view(), status_code=202)
    await st.jobs.wait(job)
    if job.state == "error":
        return JSONResponse({"error": job.error, "job": job.id}, status_code=job.status)
    return JSONResponse(job.result)


async def _upload_job(request: Request, kind: str) -> tuple[Any, Any, Upload]:
    st = _state(request)
    job = st.jobs.create(kind)
    try:
        up = await read_multipart(request, job.in_dir, max_files=st.config.max_files)
        for f in up.files:
            services.check_image_type(f.path, f.filename)
    except BaseException:
        st.jobs.discard(job)
        raise
    return st, job, up


# ---------------------------------------------------------------------------- endpoints
@router.get("/api/health", tags=["server"])
async def health(request: Request) -> dict[str, Any]:
    """Liveness, version, worker count, job counts and limits."""
    st = _state(request)
    c = st.config
    return {"status": "ok", "version": __version__, "workers": c.workers, "jobs": st.jobs.counts(),
            "uptime_s": round(time.time() - st.started, 1),
            "limits": {"max_upload_mb": c.max_upload_mb, "max_files": c.max_files,
                       "max_pixels": c.max_pixels, "max_queue": c.max_queue}}


@router.get("/api/models", tags=["server"])
async def models(request: Request) -> dict[str, Any]:
    """Classifiers (labels, tile size, pixel size), generators (labels, condition ranges) and
    real sets offered by this server."""
    st = _state(request)
    return await st.jobs.call(st.store.catalog)


@router.post("/api/classify", tags=["classify"], openapi_extra=CLASSIFY_BODY)
async def classify(request: Request, wait: bool = WAIT) -> JSONResponse:
    """Temper of uploaded scans: probabilities, info bar and pixel size, per-tile verdict map,
    optional explanation pairs and preview. ``{"model", "results": [...]}``."""
    st, job, up = await _upload_job(request, "classify")
    try:
        files = up.files_of("files") or up.files_of("file")
        if not files:
            raise ApiError(400, "no scan uploaded: send the images as form field 'files'")
        name = st.store.default("classifier", _name(up, "model"))
        st.store.path("classifier", name)
        opts = {"explain": _bool(up, "explain"), "preview": _bool(up, "preview"),
                "um_per_px": _float(up, "um_per_px"), "max_pixels": st.config.max_pixels}
    except BaseException:
        st.jobs.discard(job)
        raise

    def work(job: Any) -> dict[str, Any]:
        model = st.store.get("classifier", name)
        job.report(0, len(files), f"classifying {len(files)} scan(s)")
        out = []
        for i, f in enumerate(files):
            job.report(stage=f"classifying {f.filename}")
            out.append(services.classify_file(model, f.path, f.filename, **opts))
            job.report(i + 1)
        return {"model": name, "results": out}

    st.jobs.start(job, work)
    return await _respond(st, job, wait)


class Sweep(BaseModel):
    """A condition swept over ``k`` values (default: its whole training range)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    k: int = Field(5, ge=2, le=12)
    lo: float | None = None
    hi: float | None = None


class GenerateRequest(BaseModel):
    """What to generate. Conditions missing from ``conditions`` take their training mean."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"generator": "sim", "label": "peak_aged", "conditions": {"aging_time_h": 16.0}, "seed": 3}]})
    generator: str | None = Field(None, description="generator name (GET /api/models); default: the first")
    label: str | None = Field(None, description="temper class; default: for a generator trained on "
                              "`shapekit synth` data the temper the simulator makes at the conditions, "
                              "else drawn from the seed")
    conditions: dict[str, float] = Field(default_factory=dict,
                                         description="process parameters or properties, within the training ranges")
    seed: int = Field(0, ge=0, le=2 ** 31 - 1)
    format: Literal["png", "tiff"] = "png"
    sweep: Sweep | None = Field(None, description="render a grid over one condition instead")
    size: int | str | None = Field(None, description="image side, or WIDTHxHEIGHT such as \"1024x768\" "
                                   "(16-4096 px a side; generators that support it)")

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str | None) -> int | str | None:
        if v is None:
            return v
        # "512" as a string is a side too; "100000" is refused for its size, not its form
        sides = [v] if isinstance(v, int) else (
            [int(x) for x in v.split("x")] if re.fullmatch(r"\d{1,9}(x\d{1,9})?", v) else None)
        if sides is None:
            raise ValueError(f"expected a side or WIDTHxHEIGHT such as 1024x768, got {str(v)[:20]!r}")
        if not all(16 <= x <= 4096 for x in sides):
            raise ValueError(f"each side must be 16-4096 px, got {v}")
        return v


@router.post("/api/generate", tags=["generate"],
             responses={200: {"content": {"image/png": {}, "image/tiff": {}},
                              "description": "the image; its settings in the X-Shapekit-Metadata header "
                                             "and in the file (PNG tEXt 'shapekit', TIFF ImageDescription); "
                                             "the header's 'warnings' (if any) as the CLI prints them"}})
async def generate(req: GenerateRequest, request: Request) -> Response:
    """A micrograph for a temper and process conditions (PNG or TIFF), or a sweep grid."""
    st = _state(request)
    name = st.store.default("generator", req.generator)
    st.store.path("generator", name)

    abandoned = threading.Event()      # set when the client goes away (a slider moved on)

    def work() -> tuple[bytes, str, dict]:
        gen = st.store.get("generator", name)
        return services.generate_image(gen, label=req.label, conditions=req.conditions, seed=req.seed,
                                       fmt=req.format, size=req.size, workdir=st.jobs.root,
                                       max_pixels=st.config.max_pixels, abandoned=abandoned,
                                       sweep=None if req.sweep is None else req.sweep.model_dump())

    data, media, meta = await st.jobs.call(work, gone=request.is_disconnected, abandoned=abandoned)
    ext = "tif" if req.format == "tiff" else "png"
    made = {m.get("label") for m in meta.get("images", [meta])}     # a TIFF's or a sweep's: per image
    shown = req.label or (made.pop() if len(made) == 1 else "mixed") or "random"
    fname = f"shapekit-{name}-{shown}-seed{req.seed}.{ext}"
    return Response(data, media_type=media, headers={
        "X-Shapekit-Metadata": json.dumps({"generator": name, **meta}),
        "Content-Disposition": f'inline; filename="{re.sub(r"[^A-Za-z0-9._-]", "_", fname)}"',
        "Cache-Control": "no-store"})


@router.post("/api/score", tags=["score"], openapi_extra=SCORE_BODY)
async def score(request: Request, wait: bool = WAIT) -> JSONResponse:
    """Topological realism of a generated set against a real one: distance with CI, real-vs-real
    baseline, p-value, coverage, a verdict sentence and figure URLs."""
    st, job, up = await _upload_job(request, "score")
    try:
        real, fake = _score_sets(st, up)
        opts = {"n_boot": _int(up, "n_boot", 100, 1, 2000), "n_perm": _int(up, "n_perm", 100, 1, 2000),
                "seed": _int(up, "seed", 0, 0, 2 ** 31 - 1), "mode": _name(up, "mode"),
                "max_pixels": st.config.max_pixels}
        if opts["mode"] not in (None, "structure", "imaging", "both"):
            raise ApiError(422, f"mode {opts['mode']!r} is not one of structure, imaging, both")
    except BaseException:
        st.jobs.discard(job)
        raise
    st.jobs.start(job, lambda job: services.score_sets(st.store, job, real=real, fake=fake, **opts))
    return await _respond(st, job, wait)


def _score_sets(st: Any, up: Upload) -> tuple[dict[str, Any], dict[str, Any]]:
    real_files = [(f.path, f.filename) for f in up.files_of("real")]
    fake_files = [(f.path, f.filename) for f in up.files_of("generated")]
    real_set, gen = _name(up, "real_set"), _name(up, "generator")
    if bool(real_set) == bool(real_files):
        raise ApiError(400, "give exactly one real set: 'real_set' (a name) or 'real' files")
    if bool(gen) == bool(fake_files):
        raise ApiError(400, "give exactly one generated set: 'generator' (a name) or 'generated' files")
    if real_set:
        st.store.real_set_path(real_set)        # 400 (path-like) or 404 (unknown) now, not in the job
        real: dict[str, Any] = {"set": real_set}
    else:
        real = {"files": real_files}
    if gen:
        st.store.path("generator", gen)
        try:
            cond = json.loads(up.fields.get("conditions") or "{}")
        except json.JSONDecodeError as e:
            raise ApiError(400, f"form field conditions is malformed JSON: {e}") from None
        if not isinstance(cond, dict):
            raise ApiError(422, "form field conditions must be a JSON object {name: value}")
        fake: dict[str, Any] = {"generator": gen, "n": _int(up, "n", 16, 2, 256), "label": _name(up, "label"),
                                "conditions": cond, "seed": _int(up, "gen_seed", 0, 0, 2 ** 31 - 1)}
    else:
        fake = {"files": fake_files}
    return real, fake


@router.get("/api/jobs/{job_id}", tags=["jobs"])
async def job_status(job_id: str, request: Request) -> dict[str, Any]:
    """State, progress and (when done) the result or the error of a job."""
    return _job(request, job_id).view()


@router.get("/api/jobs/{job_id}/events", tags=["jobs"])
async def job_events(job_id: str, request: Request) -> StreamingResponse:
    """Server-sent events: ``progress`` while the job runs, then ``done`` or ``error``."""
    st, job = _state(request), _job(request, job_id)

    async def stream() -> Any:
        async for chunk in st.jobs.events(job):
            yield chunk
            if await request.is_disconnected():
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/jobs/{job_id}/files/{name}", tags=["jobs"])
async def job_file(job_id: str, name: str, request: Request) -> FileResponse:
    """A figure a job wrote (e.g. a score's ``betti.png``)."""
    job = _job(request, job_id)
    path = job.out_dir / name
    if not FILE_NAME.match(name) or not path.is_file():
        raise ApiError(404, f"job {job_id} has no file {name!r}")
    return FileResponse(path, media_type="image/png")


def _job(request: Request, job_id: str) -> Any:
    if not JOB_ID.match(job_id):
        raise ApiError(400, f"{job_id!r} is not a job id")
    return _state(request).jobs.get(job_id)
