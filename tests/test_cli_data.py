"""``shapekit ingest`` and ``shapekit manifest check`` as a user runs them: outputs, bad inputs, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from test_io_badfiles import BAD_INPUTS

from shapekit.io import read_image


def _sem_tiff(path: Path, um: float | None = 0.05, bar: int = 30) -> Path:
    rng = np.random.default_rng(0)
    img = (rng.random((220, 200)) * 200 + 30).astype(np.uint8)
    img[220 - bar:] = 0
    img[220 - bar + 8:220 - bar + 14, 10:90] = 255
    kw = {"resolution": (1e4 / um, 1e4 / um), "resolutionunit": 3} if um else {}
    tifffile.imwrite(path, img, **kw)
    return path


def test_ingest_writes_clean_float_tiff_and_json(tmp_path: Path, run_cli) -> None:
    src = _sem_tiff(tmp_path / "scan.tif")
    rgba = tmp_path / "colour.png"
    cv2.imwrite(str(rgba), (np.random.default_rng(1).random((40, 50, 4)) * 255).astype(np.uint8))
    g16 = tmp_path / "deep.png"
    cv2.imwrite(str(g16), (np.random.default_rng(2).random((40, 50)) * 65535).astype(np.uint16))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("ingest", src, rgba, g16, "--out", out, "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["n_ok"] == 3 and report["n_failed"] == 0
    meta = json.loads((out / "scan.json").read_text())
    assert meta["shape"] == [190, 200] and meta["info_bar_rows"] == 30 and meta["bit_depth"] == 8
    assert meta["um_per_px"] == pytest.approx(0.05) and meta["source"] == str(src)
    img, m = read_image(out / "scan.tif")
    assert img.shape == (190, 200) and m.dtype == "float32" and 0 <= img.min() and img.max() <= 1
    assert json.loads((out / "colour.json").read_text())["shape"] == [40, 50]
    assert json.loads((out / "deep.json").read_text())["bit_depth"] == 16


def test_ingest_resample_and_options(tmp_path: Path, run_cli) -> None:
    src = _sem_tiff(tmp_path / "scan.tif")
    out = tmp_path / "o"
    code, _, err = run_cli("ingest", src, "--out", out, "--um-per-px", "0.1")
    assert code == 0, err
    meta = json.loads((out / "scan.json").read_text())
    assert meta["shape"] == [95, 100] and meta["um_per_px"] == 0.1
    code, _, err = run_cli("ingest", out / "scan.tif", "--out", out / "again")  # idempotent
    again = json.loads((out / "again" / "scan.json").read_text())
    assert code == 0 and again["shape"] == [95, 100] and again["info_bar_rows"] == 0
    assert again["um_per_px"] == pytest.approx(0.1) and again["bit_depth"] == 32
    code, _, _ = run_cli("ingest", src, "--out", out / "k", "--keep-info-bar", "--tile-size", "64",
                         "--pad", "reflect")
    assert code == 0
    assert json.loads((out / "k" / "scan.json").read_text())["shape"] == [220, 200]
    with np.load(out / "k" / "scan.tiles.npz") as z:
        assert z["tiles"].shape == (16, 64, 64) and z["coords"][-1].tolist() == [192, 192]
    plain = _sem_tiff(tmp_path / "plain.tif", um=None)
    code, _, err = run_cli("ingest", plain, "--out", out / "p", "--um-per-px", "0.1")
    assert code == 2 and "without a known source scale" in err and not (out / "p" / "plain.tif").exists()
    code, _, err = run_cli("ingest", plain, "--out", out / "p", "--um-per-px", "0.1",
                           "--source-um-per-px", "0.05")
    assert code == 0 and json.loads((out / "p" / "plain.json").read_text())["um_per_px_source"] == "user"


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_each_bad_input_exit_2_one_line_nothing_written(tmp_path: Path, run_cli, name: str) -> None:
    build, words, extra = BAD_INPUTS[name]
    (tmp_path / "in").mkdir()
    bad = build(tmp_path / "in")
    good = _sem_tiff(tmp_path / "in" / "good.tif")
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("ingest", good, bad, "--out", out, *extra)
    assert code == 2
    lines = stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("shapekit: error:")]
    assert len(errors) == 1 and words.lower() in errors[0].lower(), stderr
    assert len(lines) == 2, stderr  # the error and the good input's log line, nothing else
    written = sorted(p.name for p in out.iterdir())
    stem = Path(bad).stem
    assert not any(n.startswith(stem + ".") for n in written if stem != "good"), written
    assert "good.tif" in written and "good.json" in written  # the good input is still written
    assert not any(n.startswith(".") for n in written)  # no temporary files left


def test_native_decoder_noise_stays_off_stderr(tmp_path: Path) -> None:
    """In a real process, libpng's own error print is captured: stderr is exactly one line."""
    import subprocess
    import sys

    from test_io_badfiles import _corrupted

    bad = _corrupted(tmp_path / "bad.png")
    cmd = [sys.executable, "-c", "from shapekit.cli import main; main()", "ingest", str(bad),
           "--out", str(tmp_path / "o")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "libpng error" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_multipage_page_option(tmp_path: Path, run_cli) -> None:
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, (np.random.default_rng(0).random((3, 40, 40)) * 255).astype(np.uint8),
                     photometric="minisblack")
    code, _, err = run_cli("ingest", stack, "--out", tmp_path / "o", "--page", "1")
    assert code == 0, err
    assert json.loads((tmp_path / "o" / "stack.json").read_text())["page"] == 1


def test_ingest_usage_errors(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("ingest", "--out", tmp_path)
    assert code == 2 and err.count("\n") == 1
    src = _sem_tiff(tmp_path / "scan.tif")
    code, _, err = run_cli("ingest", src, "--out", tmp_path / "o", "--um-per-px", "-1")
    assert code == 2 and "--um-per-px must be positive" in err
    code, _, err = run_cli("ingest", src, src, "--out", tmp_path / "o")
    assert code == 2 and "given twice" in err and not (tmp_path / "o" / "scan.tif").exists()


def test_ingest_takes_folders_and_patterns_as_classify_does(tmp_path: Path, run_cli) -> None:
    """A folder gives the images directly inside it, a quoted pattern its matches; a folder with
    no image is one error line while the other inputs are still written; a pattern matching
    nothing is refused before anything is written."""
    d = tmp_path / "scans"
    (d / "sub").mkdir(parents=True)
    for name in ("a.tif", "b.tif", "sub/c.tif"):
        _sem_tiff(d / name)
    (d / "notes.txt").write_text("not an image")
    code, _, err = run_cli("ingest", d, "--out", tmp_path / "o1")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o1").glob("*.tif")) == ["a.tif", "b.tif"]
    code, _, err = run_cli("ingest", str(d / "**" / "*.tif"), "--out", tmp_path / "o2")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o2").glob("*.tif")) == ["a.tif", "b.tif", "c.tif"]
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("ingest", tmp_path / "empty", d / "a.tif", "--out", tmp_path / "o3")
    assert code == 2 and err.count("shapekit: error:") == 1 and "no image files" in err, err
    assert sorted(p.name for p in (tmp_path / "o3").iterdir()) == ["a.json", "a.tif"]
    code, _, err = run_cli("ingest", str(d / "*.png"), d / "a.tif", "--out", tmp_path / "o4")
    assert code == 2 and err.count("\n") == 1 and "no image matches" in err, err
    assert not (tmp_path / "o4").exists()


def test_ingest_colliding_outputs_are_refused_before_anything_is_written(tmp_path: Path,
                                                                          run_cli) -> None:
    """x.tif and x.png would both write DIR/x.tif: refused at once, not after x.tif is written."""
    tif = _sem_tiff(tmp_path / "x.tif")
    png = tmp_path / "x.png"
    cv2.imwrite(str(png), (np.random.default_rng(1).random((40, 50)) * 255).astype(np.uint8))
    out = tmp_path / "out"
    code, stdout, err = run_cli("ingest", tif, png, "--out", out)
    assert code == 2 and err.count("\n") == 1 and "distinct file stems" in err, err
    assert str(png) in err and str(tif) in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("first, second", [("d1/Scan.tif", "d2/scan.tif"), ("d1/x.TIF", "d2/X.png")])
def test_ingest_stems_equal_but_for_case_are_refused(tmp_path: Path, run_cli, first, second) -> None:
    """Scan.tif and scan.tif wrote DIR/Scan.tif and DIR/scan.tif: one file on macOS and Windows,
    so the second silently replaced the first there; now refused at once, nothing written."""
    a, b = tmp_path / first, tmp_path / second
    a.parent.mkdir(exist_ok=True)
    b.parent.mkdir(exist_ok=True)
    _sem_tiff(a)
    if b.suffix == ".png":
        cv2.imwrite(str(b), (np.random.default_rng(1).random((40, 50)) * 255).astype(np.uint8))
    else:
        _sem_tiff(b)
    out = tmp_path / "out"
    code, _, err = run_cli("ingest", a, b, "--out", out)
    assert code == 2 and err.count("\n") == 1 and "case-insensitive" in err, err
    assert str(a) in err and str(b) in err
    assert not out.exists() or not any(out.iterdir())


def test_manifest_check_counts_and_errors(tmp_path: Path, run_cli) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for i in range(3):
        tifffile.imwrite(root / f"{i}.tif", np.zeros((8, 8), np.uint8))
    (root / "t.csv").write_text("f,cls\n0.tif,a\n1.tif,b\n2.tif,a\n")
    (tmp_path / "m.yaml").write_text("name: toy\nroot: d\ntable: t.csv\nimage: f\nlabel: cls\n")
    code, out, err = run_cli("manifest", "check", tmp_path / "m.yaml")
    assert code == 0, err
    assert "toy: 3 images" in out and any(ln.split() == ["a", "2"] for ln in out.splitlines())
    code, out, _ = run_cli("manifest", "check", tmp_path / "m.yaml", "--json")
    assert code == 0 and json.loads(out)["counts"] == {"a": 2, "b": 1}
    code, out, _ = run_cli("manifest", "check", tmp_path / "m.yaml", "--root", root, "--json",
                           "--read-images")
    assert code == 0 and json.loads(out)["n_images"] == 3
    (root / "t.csv").write_text("f,cls\n0.tif,a\n../../etc/passwd,b\n")
    code, out, err = run_cli("manifest", "check", tmp_path / "m.yaml")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "line 3" in err and "escapes the data root" in err


def test_shipped_manifests_check(manifests_dir: Path, superalloy_dir: Path, run_cli) -> None:
    code, out, err = run_cli("manifest", "check", manifests_dir / "superalloy_aging.yaml", "--json",
                             "--root", superalloy_dir)
    assert code == 0, err
    report = json.loads(out)
    assert report["counts"] == {"0": 9, "180": 9} and report["excluded_unlabeled"] == 5


def test_help_texts(run_cli) -> None:
    for args in (("ingest", "--help"), ("manifest", "check", "--help")):
        code, out, _ = run_cli(*args)
        assert code == 0 and "Usage:" in out
    assert "the good inputs are still written" in " ".join(run_cli("ingest", "--help")[1].split())
