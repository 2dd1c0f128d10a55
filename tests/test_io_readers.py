"""read_image on every format and bit depth (files generated here), metadata pixel sizes, real data."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from shapekit.io import read_image

RNG = np.random.default_rng(42)
GREY8 = (RNG.random((20, 30)) * 255).astype(np.uint8)
GREY16 = (RNG.random((20, 30)) * 65535).astype(np.uint16)
RGB8 = (RNG.random((20, 30, 3)) * 255).astype(np.uint8)
LUMA = np.array([0.299, 0.587, 0.114])


def _luma(rgb: np.ndarray, top: float) -> np.ndarray:
    return (rgb.astype(np.float64) / top) @ LUMA


def _check(img: np.ndarray, expected: np.ndarray, atol: float = 1e-6) -> None:
    assert img.dtype == np.float32 and img.ndim == 2
    assert img.min() >= 0.0 and img.max() <= 1.0
    np.testing.assert_allclose(img, expected, atol=atol)


@pytest.mark.parametrize("arr, top, bits", [(GREY8, 255, 8), (GREY16, 65535, 16),
                                            ((GREY16.astype(np.uint32) << 16), 2**32 - 1, 32)])
def test_tiff_unsigned_depths(tmp_path: Path, arr: np.ndarray, top: float, bits: int) -> None:
    p = tmp_path / "a.tif"
    tifffile.imwrite(p, arr)
    img, meta = read_image(p)
    _check(img, arr / top)
    assert (meta.bit_depth, meta.dtype, meta.channels, meta.n_pages) == (bits, str(arr.dtype), 1, 1)
    assert meta.shape == arr.shape and meta.format == "tiff" and meta.um_per_px is None


def test_big_endian_tiff(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "be.tif", GREY16.astype(">u2"), byteorder=">")
    img, meta = read_image(tmp_path / "be.tif")
    _check(img, GREY16 / 65535.0)
    assert meta.dtype == "uint16"


def test_tiff_signed_int16_is_shifted(tmp_path: Path) -> None:
    a = np.array([[-32768, 0, 32767]], dtype=np.int16)
    tifffile.imwrite(tmp_path / "s.tif", a)
    img, _ = read_image(tmp_path / "s.tif")
    _check(img, [[0.0, 32768 / 65535, 1.0]])


def test_tiff_float_kept_in_range_rescaled_outside(tmp_path: Path) -> None:
    a = RNG.random((10, 12)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", a)
    img, meta = read_image(tmp_path / "f.tif")
    _check(img, a)
    assert meta.bit_depth == 32 and meta.dtype == "float32"
    b = (a * 1000.0 - 250.0).astype(np.float64)
    tifffile.imwrite(tmp_path / "g.tif", b)
    img, meta = read_image(tmp_path / "g.tif")
    _check(img, (b - b.min()) / (b.max() - b.min()), atol=1e-5)
    assert meta.bit_depth == 64


def test_tiff_rgb_rgba_planar_palette_miniswhite(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "rgb.tif", RGB8, photometric="rgb")
    _check(read_image(tmp_path / "rgb.tif")[0], _luma(RGB8, 255), atol=1e-5)
    rgba = np.concatenate([RGB8, (RNG.random((20, 30, 1)) * 255).astype(np.uint8)], axis=2)
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    img, meta = read_image(tmp_path / "rgba.tif")
    _check(img, _luma(RGB8, 255), atol=1e-5)  # alpha ignored
    assert meta.channels == 4
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(RGB8, -1, 0), photometric="rgb",
                     planarconfig="separate")
    _check(read_image(tmp_path / "planar.tif")[0], _luma(RGB8, 255), atol=1e-5)
    rgb16 = (RGB8.astype(np.uint16) * 257)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")
    img, meta = read_image(tmp_path / "rgb16.tif")
    _check(img, _luma(rgb16, 65535), atol=1e-5)
    assert (meta.bit_depth, meta.channels) == (16, 3)
    # palette: index i -> colour (i, 255 - i, 0) * 257, read as that colour's luminance
    cmap = np.zeros((3, 256), np.uint16)
    cmap[0] = np.arange(256) * 257
    cmap[1] = (255 - np.arange(256)) * 257
    tifffile.imwrite(tmp_path / "pal.tif", GREY8, photometric="palette", colormap=cmap)
    img, meta = read_image(tmp_path / "pal.tif")
    expected = (0.299 * GREY8 + 0.587 * (255 - GREY8.astype(np.float64))) / 255
    _check(img, expected, atol=1e-5)
    assert meta.channels == 1 and meta.dtype == "uint8"
    tifffile.imwrite(tmp_path / "mw.tif", GREY8, photometric="miniswhite")
    _check(read_image(tmp_path / "mw.tif")[0], 1.0 - GREY8 / 255.0)
    cmyk = np.zeros((20, 30, 4), np.uint8)
    cmyk[..., 3] = 255 - GREY8  # black ink only: grey = 1 - K
    tifffile.imwrite(tmp_path / "cmyk.tif", cmyk, photometric="separated")
    _check(read_image(tmp_path / "cmyk.tif")[0], GREY8 / 255.0, atol=1e-6)
    bits = GREY8 > 127
    tifffile.imwrite(tmp_path / "bilevel.tif", bits, photometric="minisblack")
    img, meta = read_image(tmp_path / "bilevel.tif")
    _check(img, bits.astype(float))
    assert meta.bit_depth == 1


@pytest.mark.parametrize("ext", [".png", ".bmp"])
def test_lossless_raster_formats(tmp_path: Path, ext: str) -> None:
    p = tmp_path / f"g{ext}"
    cv2.imwrite(str(p), GREY8)
    img, meta = read_image(p)
    _check(img, GREY8 / 255.0)
    assert meta.format == ext[1:] and meta.bit_depth == 8
    q = tmp_path / f"c{ext}"
    cv2.imwrite(str(q), RGB8[..., ::-1])  # OpenCV writes BGR: the file holds RGB8
    _check(read_image(q)[0], _luma(RGB8, 255), atol=1e-5)


def test_png_16bit_rgba_and_palette(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "g16.png"), GREY16)
    img, meta = read_image(tmp_path / "g16.png")
    _check(img, GREY16 / 65535.0)
    assert meta.bit_depth == 16
    bgra = np.concatenate([RGB8[..., ::-1], np.zeros((20, 30, 1), np.uint8)], axis=2)  # alpha 0
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    img, meta = read_image(tmp_path / "rgba.png")
    _check(img, _luma(RGB8, 255), atol=1e-5)
    assert meta.channels == 4
    pil = pytest.importorskip("PIL.Image")
    pal = pil.fromarray(GREY8 // 64, mode="L").convert("P")
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 252))
    pal.save(tmp_path / "pal.png")
    levels = np.array([0.0, 0.299, 0.587, 0.114])
    _check(read_image(tmp_path / "pal.png")[0], levels[GREY8 // 64], atol=1e-5)


def test_jpeg_grey_and_colour_close_to_source(tmp_path: Path) -> None:
    smooth = cv2.GaussianBlur(GREY8, (5, 5), 2)
    cv2.imwrite(str(tmp_path / "g.jpg"), smooth, [cv2.IMWRITE_JPEG_QUALITY, 98])
    img, meta = read_image(tmp_path / "g.jpg")
    assert meta.format == "jpeg" and meta.channels == 1
    assert np.abs(img - smooth / 255.0).mean() < 0.01
    colour = cv2.GaussianBlur(RGB8, (5, 5), 2)
    cv2.imwrite(str(tmp_path / "c.jpg"), colour[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])
    img, meta = read_image(tmp_path / "c.jpg")
    assert meta.channels == 3
    assert np.abs(img - _luma(colour, 255)).mean() < 0.01


def _jpeg_with_orientation(stored: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``stored`` with an EXIF APP1 segment holding only the Orientation tag (0x0112)."""
    import struct

    ok, buf = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 98])
    ifd = struct.pack("<2sHI", b"II", 42, 8) + struct.pack("<HHHIHHI", 1, 0x0112, 3, 1, orientation, 0, 0)
    app1 = b"Exif\x00\x00" + ifd
    data = buf.tobytes()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


@pytest.mark.parametrize("orientation, store", [(3, lambda a: a[::-1, ::-1]), (6, lambda a: np.rot90(a, 1)),
                                                (8, lambda a: np.rot90(a, -1)), (2, lambda a: a[:, ::-1])])
def test_jpeg_turned_upright_by_exif_orientation(tmp_path: Path, orientation: int, store) -> None:
    """A JPEG stored sideways with an EXIF Orientation tag reads as viewers show it (it was read
    sideways: a 645x522 scan came out 522 wide, its info bar a column at the side, not cropped)."""
    upright = cv2.GaussianBlur(GREY8, (5, 5), 2)
    upright[:4, :6] = 255  # a mark in the top-left corner
    p = tmp_path / "r.jpg"
    p.write_bytes(_jpeg_with_orientation(np.ascontiguousarray(store(upright)), orientation))
    img, meta = read_image(p)
    assert img.shape == upright.shape == meta.shape
    assert np.abs(img - upright / 255.0).mean() < 0.01


def test_tiff_turned_upright_by_orientation_tag(tmp_path: Path) -> None:
    """TIFF Orientation (tag 274), all 8 values, against OpenCV's own EXIF handling of JPEG."""
    from shapekit.io._tiff import upright

    stored = cv2.resize(GREY8, (90, 60), interpolation=cv2.INTER_NEAREST)
    for o in range(1, 9):
        viewer = cv2.imdecode(np.frombuffer(_jpeg_with_orientation(stored, o), np.uint8), cv2.IMREAD_GRAYSCALE)
        assert viewer.shape == upright(stored, o).shape
        assert np.abs(viewer.astype(float) - upright(stored, o)).mean() < 2, o  # JPEG-close
        tifffile.imwrite(tmp_path / f"o{o}.tif", stored, extratags=[(274, "H", 1, o, True)])
        img, meta = read_image(tmp_path / f"o{o}.tif")
        _check(img, upright(stored, o) / 255.0)
        assert meta.shape == img.shape
    # LZW without imagecodecs is decoded by OpenCV, which turns the image itself: not twice (and
    # orientations 5-8 were refused as 'unexpected TIFF layout')
    pil = pytest.importorskip("PIL.Image")
    for o in range(1, 9):
        pil.fromarray(stored).save(tmp_path / f"l{o}.tif", compression="tiff_lzw", tiffinfo={274: o})
        _check(read_image(tmp_path / f"l{o}.tif")[0], upright(stored, o) / 255.0)


def test_lzw_tiff_without_imagecodecs(tmp_path: Path) -> None:
    """OpenCV writes LZW TIFFs; they read back whether or not tifffile has the codec."""
    cv2.imwrite(str(tmp_path / "lzw.tif"), GREY8)
    with tifffile.TiffFile(tmp_path / "lzw.tif") as tf:
        assert int(tf.pages[0].compression) == 5  # LZW
    _check(read_image(tmp_path / "lzw.tif")[0], GREY8 / 255.0)
    cv2.imwrite(str(tmp_path / "lzwc.tif"), RGB8[..., ::-1])
    _check(read_image(tmp_path / "lzwc.tif")[0], _luma(RGB8, 255), atol=1e-5)
    cv2.imwritemulti(str(tmp_path / "lzwm.tif"), [GREY8, GREY8[::-1]])
    img, meta = read_image(tmp_path / "lzwm.tif", page=1)
    assert meta.n_pages == 2
    _check(img, GREY8[::-1] / 255.0)


def test_format_sniffed_from_content_not_extension(tmp_path: Path) -> None:
    p = tmp_path / "really_a_png.tif"
    cv2.imwrite(str(tmp_path / "x.png"), GREY8)
    p.write_bytes((tmp_path / "x.png").read_bytes())
    img, meta = read_image(p)
    assert meta.format == "png"
    _check(img, GREY8 / 255.0)


@pytest.mark.parametrize("tag, text, um, source", [
    (34682, "[User]\nUser=x\n[Scan]\nPixelWidth=2.5e-09\nPixelHeight=2.5e-09\n", 0.0025, "FEI_HELIOS"),
    (34680, "[Beam]\nHV=5000\n[Scan]\nPixelWidth=1.2e-08\n", 0.012, "FEI_SFEG"),
    (34118, "0\nAP_PIXEL_SIZE\nPixel Size = 3.5 nm\nAP_WD\nWD = 8.5 mm\n", 0.0035, "CZ_SEM"),
    (34118, "0\nAP_IMAGE_PIXEL_SIZE\nImage Pixel Size = 1.25 um\n", 1.25, "CZ_SEM"),
])
def test_vendor_pixel_size_tags(tmp_path: Path, tag: int, text: str, um: float, source: str) -> None:
    p = tmp_path / "sem.tif"
    tifffile.imwrite(p, GREY8, extratags=[(tag, "s", 0, text, True)])
    _, meta = read_image(p)
    assert meta.um_per_px == pytest.approx(um, rel=1e-9)
    assert meta.um_per_px_source == source


@pytest.mark.parametrize("kwargs, um", [
    ({"resolution": (25400 / 0.25, 25400 / 0.25), "resolutionunit": 2}, 0.25),    # inch
    ({"resolution": (1e4 / 0.04, 1e4 / 0.04), "resolutionunit": 3}, 0.04),        # centimetre
    ({"imagej": True, "resolution": (5.0, 5.0), "metadata": {"unit": "micron"}}, 0.2),
    ({"resolution": (72.0, 72.0), "resolutionunit": 2}, None),                    # print default
    ({"resolution": (200.0, 200.0), "resolutionunit": 1}, None),                  # no unit
])
def test_resolution_tags_with_units(tmp_path: Path, kwargs: dict, um: float | None) -> None:
    p = tmp_path / "r.tif"
    tifffile.imwrite(p, GREY8, **kwargs)
    _, meta = read_image(p)
    if um is None:
        assert meta.um_per_px is None and meta.um_per_px_source is None
    else:
        assert meta.um_per_px == pytest.approx(um, rel=1e-6)
        assert meta.um_per_px_source == "resolution"


def test_real_originals_pixel_size_matches_scale_bar(uhcs_originals_dir: Path) -> None:
    """The Olympus SIS tag of the UHCS originals agrees with the scale-bar calibration in labels.csv."""
    rows = list(csv.DictReader(open(uhcs_originals_dir / "labels.csv", newline="")))
    assert len(rows) == 5
    for row in rows:
        img, meta = read_image(uhcs_originals_dir / row["file"])
        assert img.shape == (int(row["height"]), int(row["width"]))
        assert meta.um_per_px_source == "OLYMPUS_SIS"
        assert meta.um_per_px == pytest.approx(float(row["um_per_px"]), rel=0.03)


def test_real_superalloy_three_channel_uint16(superalloy_dir: Path) -> None:
    seen = set()
    for p in sorted((superalloy_dir / "images").glob("*.tif"))[:6]:
        img, meta = read_image(p)
        raw = tifffile.imread(p)
        assert raw.ndim == 3 and raw.shape[2] == 3 and meta.channels == 3
        top = np.iinfo(raw.dtype).max
        np.testing.assert_allclose(img, raw[..., 0] / top, atol=1e-5)  # identical channels
        seen.add(meta.bit_depth)
    assert seen == {8, 16}
