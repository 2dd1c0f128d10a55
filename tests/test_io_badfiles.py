"""Bad inputs for ingestion: each one is refused by read_image/load_scan with a one-line InputError.

The ``BAD_INPUTS`` builders are reused by ``tests/test_cli_data.py`` (through the CLI).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from shapekit.errors import InputError
from shapekit.io import load_scan, read_image


def _texture(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w)) * 255).astype(np.uint8)


def huge_tiff(path: Path, h: int = 100_000, w: int = 100_000) -> Path:
    """A tiny file whose TIFF header claims an h x w 8-bit image (no pixel data)."""
    entries = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 8 + 2 + 12 * 9 + 4), (277, 3, 1), (278, 4, h), (279, 4, min(h * w, 2**32 - 1))]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, val in entries:
        packed = struct.pack("<HH", val, 0) if typ == 3 else struct.pack("<I", val)
        ifd += struct.pack("<HHI", tag, typ, 1) + packed
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 64)
    return path


def huge_png(path: Path, h: int = 100_000, w: int = 100_000) -> Path:
    """A valid-looking PNG whose IHDR claims h x w pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def _truncated(path: Path, write) -> Path:  # noqa: ANN001
    write(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _float_tiff(path: Path, value: float) -> Path:
    a = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    a[3, 4] = value
    tifffile.imwrite(path, a)
    return path


def _multipage(path: Path) -> Path:
    tifffile.imwrite(path, np.stack([_texture(seed=i) for i in range(3)]), photometric="minisblack")
    return path


def _corrupted(path: Path) -> Path:
    """A file whose header and end marker are intact but whose compressed data is damaged."""
    cv2.imwrite(str(path), _texture())
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    for i in range(start, start + 200):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


# name -> (builder(tmp_path) -> path, words the error message must contain, extra CLI args)
BAD_INPUTS = {
    "nonexistent": (lambda d: d / "missing.tif", "not found", ()),
    "directory": (lambda d: (d / "folder.tif").mkdir() or d / "folder.tif", "directory", ()),
    "zero_byte": (lambda d: (d / "empty.tif").write_bytes(b"") and None or d / "empty.tif", "empty", ()),
    "text_named_tif": (lambda d: (d / "notes.tif").write_text("hello, not an image\n") and d / "notes.tif",
                       "not a supported image", ()),
    "truncated_tiff": (lambda d: _truncated(d / "trunc.tif", lambda p: tifffile.imwrite(p, _texture())),
                       "truncated", ()),
    "truncated_tiff_ifd_last": (lambda d: _truncated(d / "trunc_lzw.tif",
                                                    lambda p: cv2.imwrite(str(p), _texture())),
                                "truncated", ()),
    "truncated_jpeg": (lambda d: _truncated(d / "trunc.jpg", lambda p: cv2.imwrite(str(p), _texture())),
                       "truncated", ()),
    "truncated_png": (lambda d: _truncated(d / "trunc.png", lambda p: cv2.imwrite(str(p), _texture())),
                      "truncated", ()),
    "corrupt_png_data": (lambda d: _corrupted(d / "bad.png"), "corrupt", ()),
    "corrupt_jpeg_data": (lambda d: _corrupted(d / "bad.jpg"), "corrupt", ()),
    "corrupt_lzw_tiff_data": (lambda d: _corrupted(d / "bad.tif"), "corrupt", ()),
    "nan_float_tiff": (lambda d: _float_tiff(d / "nan.tif", np.nan), "NaN", ()),
    "inf_float_tiff": (lambda d: _float_tiff(d / "inf.tif", np.inf), "Inf", ()),
    "constant": (lambda d: cv2.imwrite(str(d / "flat.png"), np.full((64, 64), 77, np.uint8))
                 and d / "flat.png", "constant", ()),
    "one_by_n": (lambda d: cv2.imwrite(str(d / "line.png"), _texture(1, 300)) and d / "line.png",
                 "too small", ()),
    "multipage": (lambda d: _multipage(d / "stack.tif"), "3 pages", ()),
    "huge_tiff_header": (lambda d: huge_tiff(d / "huge.tif"), "100000x100000", ()),
    "huge_png_header": (lambda d: huge_png(d / "huge.png"), "100000x100000", ()),
    "smaller_than_tile": (lambda d: cv2.imwrite(str(d / "small.png"), _texture(40, 40)) and d / "small.png",
                          "smaller than one", ("--tile-size", "64")),
}


@pytest.mark.parametrize("name", [n for n in BAD_INPUTS if n != "smaller_than_tile"])
def test_bad_input_refused_with_one_line(tmp_path: Path, name: str) -> None:
    build, words, _ = BAD_INPUTS[name]
    path = build(tmp_path)
    with pytest.raises(InputError) as exc:
        load_scan(path)
    msg = str(exc.value)
    assert "\n" not in msg
    assert words.lower() in msg.lower(), msg
    if name not in ("nonexistent",):
        assert path.name in msg  # names the file


def test_multipage_with_page_reads_that_page(tmp_path: Path) -> None:
    path = _multipage(tmp_path / "stack.tif")
    img, meta = read_image(path, page=2)
    assert meta.n_pages == 3 and meta.page == 2
    np.testing.assert_allclose(img, _texture(seed=2) / 255.0, atol=1e-6)
    with pytest.raises(InputError, match="page 5 out of range"):
        read_image(path, page=5)


def test_pixel_limit_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), _texture(100, 100))
    assert read_image(p)[0].shape == (100, 100)
    with pytest.raises(InputError, match="over the limit of 5000"):
        read_image(p, max_pixels=5000)
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", "9999")
    with pytest.raises(InputError, match="over the limit of 9999"):
        read_image(p)
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", "10000")
    assert read_image(p)[0].shape == (100, 100)
    # a huge header is refused at the default limit without allocating 10 GB
    monkeypatch.delenv("SHAPEKIT_MAX_PIXELS")
    with pytest.raises(InputError, match="over the limit"):
        read_image(huge_tiff(tmp_path / "h.tif"))
