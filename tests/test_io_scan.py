"""load_scan (scale precedence, crop, resample), resample anti-aliasing, write_tiff round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from shapekit.errors import InputError
from shapekit.io import load_scan, read_image, resample, write_tiff


def _barred(h: int = 220, w: int = 200, bar: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w)) * 200 + 30).astype(np.uint8)
    img[h - bar:] = 0
    img[h - bar + 8:h - bar + 14, 10:90] = 255  # a scale bar
    return img


def test_resample_shape_and_antialiasing() -> None:
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)  # 1-px checkerboard
    down = resample(checker, 0.1, 0.4)
    assert down.shape == (16, 16)
    assert np.abs(down - 0.5).max() < 1e-5  # averaged, not aliased to 0/1
    naive = checker[::4, ::4]  # what decimation without a filter gives
    assert np.abs(naive - 0.5).min() == 0.5
    ramp = np.tile(np.linspace(0, 1, 50, dtype=np.float32), (40, 1))
    up = resample(ramp, 0.2, 0.1)
    assert up.shape == (80, 100) and up.min() >= 0 and up.max() <= 1
    assert abs(float(up.mean()) - float(ramp.mean())) < 0.01
    np.testing.assert_array_equal(resample(ramp, 0.1, 0.1), ramp)
    with pytest.raises(InputError, match="positive"):
        resample(ramp, 0.0, 0.1)
    with pytest.raises(InputError, match="positive"):
        resample(ramp, 0.1, float("nan"))


def test_load_scan_crops_bar_and_scale_precedence(tmp_path: Path) -> None:
    p = tmp_path / "sem.tif"
    tifffile.imwrite(p, _barred(), resolution=(1e4 / 0.05, 1e4 / 0.05), resolutionunit=3)
    scan = load_scan(p)
    assert scan.info_bar_rows == 30 and scan.image.shape == (190, 200)
    assert scan.um_per_px == pytest.approx(0.05) and scan.um_per_px_source == "resolution"
    user = load_scan(p, um_per_px=0.2)  # a user's value beats the file's metadata
    assert user.um_per_px == 0.2 and user.um_per_px_source == "user"
    man = load_scan(p, um_per_px=0.2, um_per_px_source="manifest")  # metadata beats a manifest
    assert man.um_per_px == pytest.approx(0.05) and man.um_per_px_source == "resolution"
    bare = tmp_path / "bare.tif"
    tifffile.imwrite(bare, _barred())  # no metadata: the manifest's value is used
    assert load_scan(bare, um_per_px=0.2, um_per_px_source="manifest").um_per_px_source == "manifest"
    kept = load_scan(p, keep_info_bar=True)
    assert kept.info_bar_rows == 0 and kept.image.shape == (220, 200)
    res = load_scan(p, target_um_per_px=0.1)
    assert res.image.shape == (95, 100) and res.um_per_px == 0.1 and res.source_um_per_px == pytest.approx(0.05)
    d = res.to_dict()
    assert d["shape"] == [95, 100] and d["source_shape"] == [220, 200] and d["bit_depth"] == 8
    assert d["info_bar_rows"] == 30 and d["um_per_px"] == 0.1


def test_load_scan_resample_needs_known_scale(tmp_path: Path) -> None:
    p = tmp_path / "plain.tif"
    tifffile.imwrite(p, _barred())
    assert load_scan(p).um_per_px is None
    with pytest.raises(InputError, match="without a known source scale"):
        load_scan(p, target_um_per_px=0.1)
    assert load_scan(p, um_per_px=0.05, target_um_per_px=0.1).image.shape == (95, 100)
    with pytest.raises(InputError, match="positive"):
        load_scan(p, um_per_px=-1)


def test_write_tiff_round_trip_and_atomicity(tmp_path: Path) -> None:
    img = np.random.default_rng(1).random((30, 40)).astype(np.float32)
    p = tmp_path / "out" / "x.tif"
    write_tiff(p, img, {"um_per_px": 0.125, "source": "a.tif"})
    back, meta = read_image(p)
    np.testing.assert_array_equal(back, img)
    assert meta.dtype == "float32" and meta.um_per_px == pytest.approx(0.125)
    with tifffile.TiffFile(p) as tf:
        assert '"source": "a.tif"' in tf.pages[0].description
    bad = img.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        write_tiff(tmp_path / "out" / "y.tif", bad)
    assert sorted(q.name for q in (tmp_path / "out").iterdir()) == ["x.tif"]  # no temp files left
