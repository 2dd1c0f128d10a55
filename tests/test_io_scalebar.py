"""Scale-bar reading: bar length, label OCR, pixel size, precedence in load_scan, never a guess."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import tifffile

from shapekit.errors import InputError
from shapekit.io import load_scan, read_image
from shapekit.io.ocr import _components, match_label, parse_label, render_text, tesseract_available, tesseract_read
from shapekit.io.scalebar import read_scale_bar


def bar_image(label: str = "5 µm", length: int = 120, *, style: str = "filled", white_on_black: bool = True,
              position: str = "right", font: str = "DejaVuSans.ttf", font_px: int = 16, width: int = 640,
              seed: int = 0) -> np.ndarray:
    """A noisy micrograph with a drawn info bar: a scale bar of ``length`` px labelled ``label``."""
    rng = np.random.default_rng(seed)
    h, bar_h = 300, 96
    img = np.empty((h + bar_h, width), np.float32)
    img[:h] = np.clip(0.5 + 0.15 * rng.standard_normal((h, width)), 0, 1)
    band = np.zeros((bar_h, width), np.float32)
    x0, y = 150, 48
    if style == "filled":
        band[y - 3:y + 3, x0:x0 + length] = 1
    elif style == "ticks":  # line with end ticks, as the UHCS (XL30) bars
        band[y - 1:y + 1, x0:x0 + length] = 1
        band[y - 9:y + 10, x0] = band[y - 9:y + 10, x0 + length - 1] = 1
    elif style == "bracket":
        band[y:y + 2, x0:x0 + length] = 1
        band[y - 8:y + 2, x0:x0 + 2] = band[y - 8:y + 2, x0 + length - 2:x0 + length] = 1
    lab = render_text(label, font, font_px)
    lh, lw = lab.shape
    if position == "right":
        r, c = y - lh // 2, x0 + length + 10
    elif position == "below":
        r, c = y + 8, x0 + (length - lw) // 2
    else:  # above
        r, c = y - 12 - lh, x0 + (length - lw) // 2
    band[r:r + lh, c:c + lw] = np.maximum(band[r:r + lh, c:c + lw], lab)
    other = render_text("SE 15 kV", "DejaVuSans.ttf", font_px)[:, :140]  # other text on the bar
    band[4:4 + other.shape[0], 4:4 + other.shape[1]] = other
    img[h:] = band if white_on_black else 1.0 - band
    return img


def jpeg(img: np.ndarray, q: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


def test_parse_label_known_answers():
    assert parse_label("5 µm") == (5.0, "5 µm")
    assert parse_label("5 um") == (5.0, "5 µm")
    assert parse_label("500nm") == (0.5, "500 nm")
    assert parse_label("1 mm") == (1000.0, "1 mm")
    assert parse_label("2.5 μm") == (2.5, "2.5 µm")
    for bad in ("5 pm", "05 um", "um", "5", "0 nm", "5Min", ""):
        assert parse_label(bad) is None, bad


@pytest.mark.parametrize("text", ["5 µm", "20 µm", "500 nm", "0.5 um", "1 mm", "200nm", "2.5 µm", "100 nm",
                                  "3 µm", "4 µm", "6 µm", "7 µm", "8 µm", "9 µm", "10 µm", "50 µm"])
@pytest.mark.parametrize("px", [12, 20])
def test_matcher_reads_every_digit_and_unit(text, px):
    read, note = match_label(render_text(text, "DejaVuSans.ttf", px))
    assert note == "ok" and parse_label(read) == parse_label(text)


@pytest.mark.parametrize("style", ["filled", "ticks", "bracket"])
@pytest.mark.parametrize("white_on_black", [True, False])
@pytest.mark.parametrize("position", ["right", "below", "above"])
def test_synthetic_bars_styles_polarities_positions(style, white_on_black, position):
    img = bar_image("2 µm", 160, style=style, white_on_black=white_on_black, position=position)
    r = read_scale_bar(img, engine="matcher")
    assert r.note == "ok" and r.label == "2 µm"
    assert r.length_px == pytest.approx(160, abs=0.5)
    assert r.um_per_px == pytest.approx(2 / 160, rel=0.005)


@pytest.mark.parametrize("label,length", [("500 nm", 75), ("10 µm", 230), ("1 mm", 300), ("0.5 µm", 100),
                                          ("200 nm", 64)])
@pytest.mark.parametrize("zoom", [0.9, 1.0, 1.15])
def test_synthetic_bars_lengths_units_and_small_scale_changes(label, length, zoom):
    img = bar_image(label, length, style="ticks", font_px=18)
    if zoom != 1.0:
        img = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC)
        img = np.clip(img, 0, 1)
    r = read_scale_bar(jpeg(img, 85), engine="matcher")
    value = parse_label(label)[0]
    assert r.label == parse_label(label)[1], r.note
    assert r.um_per_px == pytest.approx(value / (length * zoom), rel=0.02)


def test_simulator_info_bars_are_read_or_refused_never_misread():
    """The simulator draws its bars in OpenCV's Hershey font (not a template font)."""
    from shapekit.synth import add_info_bar

    rng = np.random.default_rng(1)
    read = 0
    for size in (256, 384, 512, 768):
        for um in (0.002, 0.01, 0.05):
            img, _ = add_info_bar((0.2 + 0.6 * rng.random((size, size))).astype(np.float32), um,
                                  np.random.default_rng(size))
            r = read_scale_bar(img, engine="matcher")
            if r.um_per_px is not None:
                read += 1
                assert r.um_per_px == pytest.approx(um, rel=0.02), (size, um, r)
            else:
                assert r.note != "ok"
    assert read >= 9  # 10 of 12 at the time of writing


def test_unreadable_bars_give_none_and_a_reason():
    rng = np.random.default_rng(0)
    assert read_scale_bar(rng.random((100, 120))).note == "no info bar at the bottom of the image"
    img = bar_image("5 µm", 120)
    img[300:, 270:] = 0.0  # erase the label
    r = read_scale_bar(img, engine="matcher")
    assert r.um_per_px is None and "label" in r.note
    img = bar_image("5 µm", 120)
    img[300:, 150:275] = 0.0  # erase the bar
    r = read_scale_bar(img, engine="matcher")
    assert r.um_per_px is None and r.note == "no scale-bar line found in the info bar"
    img = bar_image("5 µm", 120, font="DejaVuSerif.ttf")  # a serif label: refused, not guessed
    r = read_scale_bar(img, engine="matcher")
    assert r.um_per_px is None or r.um_per_px == pytest.approx(5 / 120, rel=0.02)
    with pytest.raises(InputError, match="engine"):
        read_scale_bar(img, engine="magic")


def test_load_scan_precedence_user_metadata_scalebar_manifest(tmp_path):
    img = np.round(bar_image("2 µm", 160) * 255).astype(np.uint8)
    plain, tagged = tmp_path / "plain.tif", tmp_path / "tagged.tif"
    tifffile.imwrite(plain, img)
    tifffile.imwrite(tagged, img, resolution=(1e4 / 0.05, 1e4 / 0.05), resolutionunit=3)  # 0.05 um/px
    s = load_scan(plain)
    assert s.um_per_px_source == "scale_bar" and s.um_per_px == pytest.approx(2 / 160, rel=0.005)
    assert s.info_bar_rows == 96 and s.scale_bar["label"] == "2 µm"
    s = load_scan(plain, um_per_px=0.3, um_per_px_source="manifest")  # the bar beats a manifest
    assert s.um_per_px_source == "scale_bar"
    s = load_scan(plain, um_per_px=0.3)  # the user beats everything
    assert (s.um_per_px, s.um_per_px_source, s.scale_bar) == (0.3, "user", None)
    s = load_scan(tagged)  # the file's metadata beats the bar, which is read to check it: 4x off, said
    assert s.um_per_px == pytest.approx(0.05) and s.um_per_px_source == "resolution"
    assert s.scale_bar["label"] == "2 µm" and len(s.notes) == 1, s.notes
    assert s.notes[0].startswith("pixel size conflict: the file's TIFF resolution tags say 0.05 um/px")
    assert "4x finer" in s.notes[0] and "--um-per-px" in s.notes[0]
    agree = tmp_path / "agree.tif"  # tags and bar within 10 %: nothing to say
    tifffile.imwrite(agree, img, resolution=(1e4 / 0.0126, 1e4 / 0.0126), resolutionunit=3)
    s = load_scan(agree)
    assert s.um_per_px == pytest.approx(0.0126) and s.notes == [] and s.scale_bar["label"] == "2 µm"
    assert load_scan(tagged, scale_bar=None).notes == []
    s = load_scan(plain, scale_bar=None)
    assert s.um_per_px is None and s.scale_bar is None
    s = load_scan(plain, keep_info_bar=True)  # kept bar: still read
    assert s.info_bar_rows == 0 and s.um_per_px_source == "scale_bar"


def test_tesseract_missing_is_a_clear_error(monkeypatch):
    import shapekit.io.ocr as ocr

    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    assert not tesseract_available()
    with pytest.raises(InputError, match="apt-get install tesseract-ocr"):
        tesseract_read(np.zeros((10, 10), np.float32))
    with pytest.raises(InputError, match="--scale-bar matcher"):  # the CLI's remedy, not only Python's
        tesseract_read(np.zeros((10, 10), np.float32))
    r = read_scale_bar(bar_image("2 µm", 160), engine="auto")  # auto: the matcher alone
    assert r.engine == "matcher" and r.label == "2 µm"


@pytest.mark.skipif(not tesseract_available(), reason="tesseract-ocr is not installed")
def test_tesseract_engine_reads_synthetic_and_agrees_in_auto():
    img = bar_image("20 µm", 200, font_px=20)
    r = read_scale_bar(img, engine="tesseract")
    assert r.label == "20 µm" and r.engine == "tesseract"
    r = read_scale_bar(img, engine="auto")
    assert r.engine == "matcher+tesseract" and r.um_per_px == pytest.approx(0.1, rel=0.005)


def _originals(d):
    with open(d / "labels.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("quality", [None, 90, 75])
def test_uhcs_originals_within_2_percent_of_labels(uhcs_originals_dir, tmp_path, quality):
    """The 5 UHCS originals: the TIFF pixels (metadata ignored) and JPEG copies, against labels.csv."""
    for row in _originals(uhcs_originals_dir):
        img, _ = read_image(uhcs_originals_dir / row["file"])
        expected = float(row["micron_bar"]) / float(row["micron_bar_px"])
        if quality is None:  # a copy without any metadata tag goes through load_scan
            p = tmp_path / row["file"]
            tifffile.imwrite(p, np.round(img * 255).astype(np.uint8))
            scan = load_scan(p, scale_bar="matcher")
            assert scan.um_per_px_source == "scale_bar", scan.scale_bar
            um = scan.um_per_px
        else:
            p = tmp_path / (row["file"][:-4] + ".jpg")
            cv2.imwrite(str(p), np.round(img * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
            r = read_scale_bar(read_image(p)[0], engine="matcher")
            assert r.label == f"{float(row['micron_bar']):g} µm", r.note
            um = r.um_per_px
        assert um == pytest.approx(expected, rel=0.02), row["file"]


def test_a_glyph_broken_in_two_reads_once():
    """Resampling can break a digit's stroke into a top and a bottom piece over the same columns;
    each piece was read as the whole digit ("5 µm" -> "55 µm", ten times the pixel size)."""
    for px in (16, 20, 24):
        ink = render_text("5 µm", "DejaVuSans.ttf", px)
        t, b, left, right = _components(ink)[0]  # the "5"
        for cut in range(t + 1, b - 1):
            broken = ink.copy()
            broken[cut, left:right] = 0
            if len([c for c in _components(broken) if c[2] < right]) != 2:
                continue
            text, note = match_label(broken)
            assert text is None or parse_label(text) in (None, (5.0, "5 µm")), (px, cut, text, note)


@pytest.mark.parametrize("name,zoom,resample", [("micrograph607.tif", 0.75, "LANCZOS"),
                                                ("micrograph1522.tif", 1.25, "BILINEAR")])
def test_resized_originals_are_read_right_or_not_at_all(uhcs_originals_dir, name, zoom, resample):
    """Resized copies of the UHCS originals whose label glyphs break apart: were read as
    "220 µm" / "55 µm" (a pixel size 11x too large); now within 2 % or refused."""
    from PIL import Image

    row = next(r for r in _originals(uhcs_originals_dir) if r["file"] == name)
    im = Image.open(uhcs_originals_dir / name).convert("L")
    size = (round(im.width * zoom), round(im.height * zoom))
    img = np.asarray(im.resize(size, getattr(Image, resample)), np.float32) / 255
    r = read_scale_bar(img, engine="matcher")
    expected = float(row["micron_bar"]) / float(row["micron_bar_px"]) * im.width / size[0]
    assert r.um_per_px is None or r.um_per_px == pytest.approx(expected, rel=0.02), (r.label, r.note)


@pytest.mark.skipif(not tesseract_available(), reason="tesseract-ocr is not installed")
def test_uhcs_originals_tesseract(uhcs_originals_dir):
    ok = 0
    for row in _originals(uhcs_originals_dir):
        img, _ = read_image(uhcs_originals_dir / row["file"])
        r = read_scale_bar(img, engine="tesseract")
        assert r.um_per_px is None or r.um_per_px == pytest.approx(
            float(row["micron_bar"]) / float(row["micron_bar_px"]), rel=0.02)
        ok += r.um_per_px is not None
    assert ok == 5


def test_auto_refuses_when_readers_disagree_and_falls_back_to_tesseract(monkeypatch):
    import shapekit.io.scalebar as sb

    monkeypatch.setattr(sb, "tesseract_available", lambda: True)
    monkeypatch.setattr(sb, "tesseract_read", lambda crop: "50 µm")
    r = read_scale_bar(bar_image("2 µm", 160), engine="auto")
    assert r.um_per_px is None and "disagree" in r.note and "'2 µm'" in r.note and "'50 µm'" in r.note
    monkeypatch.setattr(sb, "tesseract_read", lambda crop: "2 µm")
    assert read_scale_bar(bar_image("2 µm", 160), engine="auto").engine == "matcher+tesseract"
    serif = bar_image("2 µm", 160, font="DejaVuSerif.ttf")
    if read_scale_bar(serif, engine="matcher").um_per_px is None:  # the matcher refuses serif digits
        r = read_scale_bar(serif, engine="auto")
        assert r.engine == "tesseract" and r.um_per_px == pytest.approx(2 / 160, rel=0.005)


def test_cli_ingest_reports_the_scale_bar(tmp_path, run_cli):
    import json

    p = tmp_path / "scan.jpg"
    cv2.imwrite(str(p), np.round(bar_image("2 µm", 160) * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    code, out, _ = run_cli("ingest", p, "--out", tmp_path / "o", "--scale-bar", "matcher", "--json")
    rec = json.loads(out)["images"][0]
    assert code == 0 and rec["um_per_px_source"] == "scale_bar" and rec["scale_bar"]["label"] == "2 µm"
    assert rec["um_per_px"] == pytest.approx(2 / 160, rel=0.01)
    side = json.loads((tmp_path / "o" / "scan.json").read_text())
    assert side["scale_bar"]["engine"] == "matcher"
    code, out, _ = run_cli("ingest", p, "--out", tmp_path / "o2", "--scale-bar", "off", "--json")
    rec = json.loads(out)["images"][0]
    assert rec["um_per_px"] is None and rec["scale_bar"] is None
    img = bar_image("2 µm", 160)
    img[300:, 320:] = 0.0  # no label: null and why, in the sidecar
    cv2.imwrite(str(p), np.round(img * 255).astype(np.uint8))
    code, out, err = run_cli("ingest", p, "--out", tmp_path / "o3", "--scale-bar", "matcher")
    side = json.loads((tmp_path / "o3" / "scan.json").read_text())
    assert code == 0 and side["um_per_px"] is None and "label" in side["scale_bar"]["note"]
    assert "scale bar:" in err
    # a file whose tags contradict its scale bar: ingested at the tags' value, the conflict said
    tagged = tmp_path / "tagged.tif"
    tifffile.imwrite(tagged, np.round(bar_image("2 µm", 160) * 255).astype(np.uint8),
                     resolution=(1e4 / 0.05, 1e4 / 0.05), resolutionunit=3)
    code, out, err = run_cli("ingest", tagged, "--out", tmp_path / "o4")
    side = json.loads((tmp_path / "o4" / "tagged.json").read_text())
    assert code == 0 and side["um_per_px"] == pytest.approx(0.05), err
    assert "pixel size conflict" in err and side["notes"][0].startswith("pixel size conflict")


def test_server_verdict_carries_the_readers_notes(tmp_path):
    """The page's classify prepares a scan as `shapekit classify` does (temper.scans.scan_for_model):
    a scale bar that contradicts the file's tags is said in the verdict (the server dropped it)."""
    from shapekit.registry import resolve
    from shapekit.server.services import classify_file
    from shapekit.temper.modeldir import load_model

    img = np.round(bar_image("2 µm", 160) * 255).astype(np.uint8)
    tagged = tmp_path / "tagged.tif"
    tifffile.imwrite(tagged, img, resolution=(1e4 / 0.05, 1e4 / 0.05), resolutionunit=3)
    res = classify_file(load_model(resolve("uhcs3", "classifier")), tagged, "tagged.tif")
    assert sum(n.startswith("pixel size conflict") for n in res["notes"]) == 1, res["notes"]
    assert res["scan"]["um_per_px"] == pytest.approx(0.05) and res["scan"]["info_bar_rows"] == 96
