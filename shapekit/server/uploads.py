"""Request bodies under a size limit, and multipart uploads streamed into the work directory.

Starlette's own form parser spools large files to the system temporary folder; this one writes
each uploaded file straight into a folder of the job it belongs to (python-multipart's streaming
parser with ``UPLOAD_DIR``), so the server writes nothing outside its work directory, and stops
reading as soon as a body passes the limit. :func:`read_images` decodes an uploaded set within
a pixel budget per image and one for the set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import numpy as np

from shapekit.errors import InputError
from shapekit.server.errors import ApiError

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
FORM_TYPES = (b"multipart/form-data", b"application/x-www-form-urlencoded")
SET_FACTOR = 4          # an uploaded set's images together: 4x the budget of one


def safe_filename(name: str | None, index: int) -> str:
    """A client's file name reduced to a safe basename (never a path), unique by ``index``.

    Examples
    --------
    >>> safe_filename("../../etc/passwd", 0)
    '000_passwd'
    >>> safe_filename("C:\\\\scans\\\\micrograph 607.tif", 3)
    '003_micrograph_607.tif'
    """
    base = re.split(r"[\\\\/]", name or "")[-1]
    base = _SAFE.sub("_", base).strip("._") or "upload"
    return f"{index:03d}_{base[-100:]}"


@dataclass
class UploadedFile:
    """One uploaded file: the form field, the client's name, where it lies, its size in bytes."""

    field: str
    filename: str
    path: Path
    size: int


@dataclass
class Upload:
    """Parsed multipart form: text ``fields`` (last value wins) and ``files`` in upload order."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def files_of(self, name: str) -> list[UploadedFile]:
        return [f for f in self.files if f.field == name]


class BodyLimit:
    """ASGI middleware: refuse bodies over a limit with 413, from the header or while streaming.

    ``multipart/form-data`` bodies may be up to ``max_upload`` bytes, everything else up to
    ``max_other``. A declared ``Content-Length`` over the limit is refused before anything is
    read; a chunked body is counted as it arrives.
    """

    def __init__(self, app: Any, max_upload: int, max_other: int) -> None:
        self.app, self.max_upload, self.max_other = app, int(max_upload), int(max_other)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self.max_upload if ctype.startswith("multipart/form-data") else self.max_other
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, {"error": too_large(int(declared), limit)})
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise ApiError(413, too_large(seen, limit, at_least=True))
            return msg

        await self.app(scope, limited, send)


def too_large(size: int, limit: int, at_least: bool = False) -> str:
    """The 413 message.

    Examples
    --------
    >>> too_large(300 * 2**20, 200 * 2**20)
    'request body of 300.0 MB is over the limit of 200.0 MB (shapekit serve --max-upload-mb)'
    """
    return (f"request body of {'more than ' if at_least else ''}{size / 2**20:.1f} MB is over the "
            f"limit of {limit / 2**20:.1f} MB (shapekit serve --max-upload-mb)")


async def _send_json(send: Any, status: int, obj: dict) -> None:
    body = json.dumps(obj).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


async def read_multipart(request: Any, dest: Path, *, max_files: int, max_field_bytes: int = 65536) -> Upload:
    """Stream a ``multipart/form-data`` request into ``dest``: files on disk, fields in memory
    (an ``application/x-www-form-urlencoded`` form gives fields only).

    Raises
    ------
    ApiError
        415 for another content type, 400 for a malformed body, too many files or an oversized
        text field (the body-size limit itself is :class:`BodyLimit`'s).
    """
    from python_multipart.multipart import FormParser, parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype not in FORM_TYPES or (ctype == b"multipart/form-data" and not params.get(b"boundary")):
        raise ApiError(415, "expected a multipart/form-data upload (files as form fields) "
                            "or an application/x-www-form-urlencoded form")
    urlencoded = ctype == b"application/x-www-form-urlencoded"
    dest.mkdir(parents=True, exist_ok=True)
    out = Upload()
    pending: list[Any] = []

    def text(raw: bytes | None) -> str:
        s = (raw or b"").decode("utf-8", "replace")
        return unquote_plus(s) if urlencoded else s    # python-multipart leaves %XX as is

    def on_field(f: Any) -> None:
        name, value = text(f.field_name), f.value or b""
        if len(value) > max_field_bytes:
            raise ApiError(400, f"form field {name!r} is longer than {max_field_bytes} bytes")
        out.fields[name] = text(value)

    def on_file(f: Any) -> None:
        if len(pending) >= max_files:
            raise ApiError(400, f"more than {max_files} files in one request")
        pending.append(f)

    config = {"UPLOAD_DIR": str(dest), "UPLOAD_KEEP_FILENAME": False, "UPLOAD_DELETE_TMP": False,
              "MAX_MEMORY_FILE_SIZE": 0, "MAX_BODY_SIZE": float("inf")}
    parser = FormParser(ctype.decode(), on_field, on_file, boundary=params.get(b"boundary"),
                        config=config)
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001 - python-multipart's parse errors: the client's body
        raise ApiError(400, f"malformed multipart body ({type(e).__name__}: {e})") from None
    finally:
        for f in pending:
            f.close()
    for i, f in enumerate(pending):
        name = (f.field_name or b"").decode("utf-8", "replace")
        client = (f.file_name or b"").decode("utf-8", "replace")
        tmp = Path(f.actual_file_name.decode() if isinstance(f.actual_file_name, bytes)
                   else f.actual_file_name) if f.actual_file_name else None
        path = dest / safe_filename(client, i)
        if tmp is None:          # an empty part never touched the disk
            path.write_bytes(b"")
        else:
            tmp.replace(path)
        out.files.append(UploadedFile(name, client or path.name, path, int(f.size)))
    return out


def read_images(paths: list[tuple[Path, str]], max_pixels: int | None, what: str) -> tuple[list, np.ndarray]:
    """Uploaded images as arrays and their pixel sizes (NaN where the file has none).

    Each image is refused over ``max_pixels``, and the set over ``SET_FACTOR * max_pixels``
    pixels together, from each file's header before it is decoded (small files that decode to
    large images, up to the request's file count, would otherwise all be held at once).
    """
    from shapekit.io import read_image

    ims, um, used = [], [], 0
    for i, (p, name) in enumerate(paths):
        left = None if max_pixels is None else min(max_pixels, SET_FACTOR * max_pixels - used)
        try:
            if left is not None and left < 1:
                raise InputError(f"over the limit of {left} pixels")
            img, meta = read_image(p, max_pixels=left)
        except InputError as e:
            if left is not None and left < max_pixels and f"over the limit of {left} pixels" in str(e):
                raise InputError(
                    f"{what}: {name} and the {i} image(s) before it are over the server's budget for an "
                    f"uploaded set ({SET_FACTOR * max_pixels} pixels together, {SET_FACTOR}x shapekit serve "
                    f"--max-pixels; {used} already read): upload fewer or smaller images") from None
            raise InputError(f"{what}: " + str(e).replace(str(p), name)) from None
        ims.append(img)
        used += int(img.size)
        um.append(np.nan if meta.um_per_px is None else meta.um_per_px)
    return ims, np.asarray(um, dtype=np.float64)
