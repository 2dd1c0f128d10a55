"""Encoding results for the wire: JSON-safe values, PNG/TIFF bytes with metadata, previews."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays as Python values and NaN/inf as None (valid JSON).

    Examples
    --------
    >>> jsonable({"a": np.float32(0.5), "b": [float("nan"), np.arange(2)], "c": Path("x")})
    {'a': 0.5, 'b': [None, [0, 1]], 'c': 'x'}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A ``[0, 1]`` float image as uint8 (rounded, clipped)."""
    return (np.clip(np.asarray(image, dtype=np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def png_bytes(image: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """8-bit grey PNG of a ``[0, 1]`` image, with optional ``tEXt`` metadata chunks.

    Examples
    --------
    >>> from PIL import Image
    >>> b = png_bytes(np.linspace(0, 1, 12).reshape(3, 4), {"shapekit": '{"seed": 1}'})
    >>> im = Image.open(io.BytesIO(b)); im.size, im.text["shapekit"]
    ((4, 3), '{"seed": 1}')
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    buf = io.BytesIO()
    Image.fromarray(to_uint8(image), mode="L").save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def tiff_bytes(images: np.ndarray | list[np.ndarray], descriptions: list[dict[str, Any]]) -> bytes:
    """8-bit grey TIFF, one page per image, each with its JSON ``ImageDescription`` and, where
    the description gives a positive ``um_per_px``, that pixel size in its resolution tags (as
    :func:`shapekit.io.write_tiff` writes them, so ``shapekit ingest`` and ``score`` read it).

    Examples
    --------
    >>> import tifffile
    >>> b = tiff_bytes([np.zeros((2, 3))], [{"label": "a", "um_per_px": 0.002}])
    >>> with tifffile.TiffFile(io.BytesIO(b)) as t:
    ...     t.pages[0].shape, json.loads(t.pages[0].description)["label"]
    ((2, 3), 'a')
    >>> from shapekit.io.readers import read_image
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.tif"; _ = p.write_bytes(b)
    >>> round(read_image(p)[1].um_per_px, 6)
    0.002
    """
    import tifffile

    from shapekit.io.write import resolution_tags

    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tw:
        for im, d in zip(images, descriptions):
            tw.write(to_uint8(im), description=json.dumps(jsonable(d)), metadata=None,
                     **resolution_tags(d.get("um_per_px")))
    return buf.getvalue()


def preview_data_url(image: np.ndarray, max_side: int = 1024) -> tuple[str, float]:
    """A PNG data URL of the image, area-downscaled so its longer side is at most ``max_side``.

    Returns the URL and the scale (preview pixels per image pixel).

    Examples
    --------
    >>> url, s = preview_data_url(np.zeros((100, 300)), max_side=150)
    >>> url[:22], s
    ('data:image/png;base64,', 0.5)
    """
    import cv2

    img = np.asarray(image, dtype=np.float32)
    scale = min(1.0, max_side / max(img.shape))
    if scale < 1.0:
        size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", to_uint8(img))
    if not ok:  # pragma: no cover - OpenCV always encodes an 8-bit grey array
        raise RuntimeError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii"), scale
