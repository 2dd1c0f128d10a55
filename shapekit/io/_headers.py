"""Format sniffing and header-only size parsing (no pixel buffer is allocated here)."""

from __future__ import annotations

import struct
from pathlib import Path

from shapekit.errors import InputError

_MAGIC = (
    (b"II*\x00", "tiff"), (b"MM\x00*", "tiff"),          # classic TIFF
    (b"II+\x00", "tiff"), (b"MM\x00+", "tiff"),          # BigTIFF
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"BM", "bmp"),
)


def sniff_format(path: Path) -> str | None:
    """Return ``"tiff"``, ``"png"``, ``"jpeg"``, ``"bmp"`` from the first bytes, else None.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.tif"
    >>> _ = p.write_text("hello")
    >>> sniff_format(p) is None
    True
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    return None


def raster_header_shape(path: Path, fmt: str) -> tuple[int, int]:
    """``(height, width)`` from a PNG, JPEG or BMP header without decoding pixels."""
    with open(path, "rb") as fh:
        if fmt == "png":
            return _png_shape(path, fh.read(33))
        if fmt == "bmp":
            return _bmp_shape(path, fh.read(26))
        if fmt == "jpeg":
            return _jpeg_shape(path, fh)
    raise InputError(f"{path}: unsupported format {fmt}")


def _png_shape(path: Path, head: bytes) -> tuple[int, int]:
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise InputError(f"{path}: truncated or corrupt PNG header")
    w, h = struct.unpack(">II", head[16:24])
    return int(h), int(w)


def _bmp_shape(path: Path, head: bytes) -> tuple[int, int]:
    if len(head) < 26:
        raise InputError(f"{path}: truncated or corrupt BMP header")
    (dib,) = struct.unpack("<I", head[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER
        w, h = struct.unpack("<HH", head[18:22])
    else:
        w, h = struct.unpack("<ii", head[18:26])
    return abs(int(h)), abs(int(w))


# JPEG start-of-frame markers carrying the frame size (all SOFn except DHT/JPG/DAC)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_shape(path: Path, fh) -> tuple[int, int]:  # noqa: ANN001 - a binary file handle
    fh.seek(2)
    while True:
        b = fh.read(1)
        while b and b != b"\xff":  # skip to the next marker
            b = fh.read(1)
        while b == b"\xff":  # fill bytes
            b = fh.read(1)
        if not b:
            raise InputError(f"{path}: truncated or corrupt JPEG (no frame header)")
        marker = b[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0xD9 or marker == 0xDA:
            raise InputError(f"{path}: corrupt JPEG (no frame header before the scan)")
        seg = fh.read(2)
        if len(seg) < 2:
            raise InputError(f"{path}: truncated JPEG header")
        (length,) = struct.unpack(">H", seg)
        if marker in _SOF:
            body = fh.read(5)
            if len(body) < 5:
                raise InputError(f"{path}: truncated JPEG frame header")
            h, w = struct.unpack(">HH", body[1:5])
            return int(h), int(w)
        fh.seek(length - 2, 1)


def header_shape(path: str | Path) -> tuple[int, int] | None:
    """``(height, width)`` of a one-page image from its header alone (TIFF tags, or the PNG,
    JPEG or BMP header); ``None`` where the header does not tell (not an image, corrupt,
    several pages): reading the file reports those.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(p, np.zeros((4, 6), np.uint8))
    >>> header_shape(p), header_shape(p.with_name("missing.png"))
    ((4, 6), None)
    """
    try:
        fmt = sniff_format(Path(path))
        if fmt != "tiff":
            return None if fmt is None else raster_header_shape(Path(path), fmt)
        import tifffile

        from shapekit.io._tiff import _image_pages

        with tifffile.TiffFile(path) as tf:
            pages = _image_pages(tf)
            if len(pages) != 1 or int(getattr(pages[0], "imagedepth", 1) or 1) != 1:
                return None
            return int(pages[0].imagelength), int(pages[0].imagewidth)
    except Exception:  # noqa: BLE001 - a header that does not tell: the read says why
        return None
