"""Classifying a big scan holds memory bounded by the scan, not by every tile's per-pixel buffers:
tiles are featurised a chunk at a time and the outside check's descriptors are computed a block
of rows at a time, with the same results."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from shapekit.temper import descriptors, scans
from shapekit.temper.modeldir import load_model


def _scan(h: int, w: int, seed: int = 0) -> np.ndarray:
    img = gaussian_filter(np.random.default_rng(seed).normal(size=(h, w)), 3)
    return np.clip(0.5 + 0.15 * img / img.std(), 0, 1).astype(np.float32)


class _Spy:
    """A feature pipeline that records how many tiles it is given at once."""

    def __init__(self, pipe):
        self.pipe, self.sizes = pipe, []

    def transform(self, tiles):
        self.sizes.append(len(tiles))
        return self.pipe.transform(tiles)


def test_tiles_are_featurised_a_chunk_at_a_time_with_the_same_features():
    m = load_model("uhcs3")
    img = _scan(600, 700)
    tiles, coords = scans.scan_tiles(img, 256)
    whole = m.features.transform(tiles)                      # all 9 tiles at once
    spy = _Spy(m.features)
    X, c = scans.tile_features(img, 256, spy, chunk=2)
    assert spy.sizes == [2, 2, 2, 2, 1]
    assert np.array_equal(X, whole) and np.array_equal(c, coords)


def test_a_chunked_verdict_equals_the_unchunked_one(monkeypatch):
    m = load_model("uhcs3")
    img = _scan(560, 530, seed=1)
    monkeypatch.setattr(scans, "FEATURE_CHUNK", 10**6)
    whole = m.assess(img)
    monkeypatch.setattr(scans, "FEATURE_CHUNK", 1)
    assert m.assess(img) == whole


def _reference_descriptors(img: np.ndarray) -> np.ndarray:
    """The descriptors as computed on whole float64 copies of the scan (before the fix)."""
    img = np.asarray(img, dtype=np.float64)
    h, w = img.shape
    lo, hi = float(img.min()), float(img.max())
    q1, q50, q99 = np.percentile(img, [1, 50, 99])
    sd = float(img.std())
    clipped = float(np.mean(img <= lo + 1.5 / 255) + np.mean(img >= hi - 1.5 / 255))
    z = (img - img.mean()) / sd
    grey = [np.log(sd + 1e-4), np.log(q99 - q1 + 1e-4), q50, clipped, np.mean(z ** 3),
            np.log(np.mean(z ** 4))]
    power = np.abs(np.fft.rfft2(z * np.hanning(h)[:, None] * np.hanning(w)[None, :])) ** 2
    r = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    edges = 0.5 * 2.0 ** -np.arange(7)[::-1]
    bands = np.array([power[(r >= a) & (r < b)].sum() for a, b in zip(edges[:-1], edges[1:])])[1:4]
    return np.r_[grey, np.log(bands / bands.sum())]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_descriptors_by_blocks_equal_the_whole_scan_ones(monkeypatch, dtype):
    img = _scan(333, 517, seed=2).astype(dtype)
    img[:5] = 0.0                                            # some clipped pixels
    monkeypatch.setattr(descriptors, "BLOCK_PIXELS", 1000)   # many blocks of rows and columns
    got = descriptors.scan_descriptors(img)
    want = _reference_descriptors(img)
    assert np.array_equal(got[1:4], want[1:4])               # percentiles, clipped share: exact
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def _traced_peak(fn, *args) -> tuple[object, int]:
    """``fn(*args)`` and the peak bytes that Python and numpy allocated while it ran."""
    tracemalloc.start()
    try:
        out = fn(*args)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_descriptors_of_a_big_scan_hold_about_one_copy_of_it(monkeypatch):
    """Before: float64 copies, deviations and the whole complex spectrum (~25 bytes a pixel
    beside a float32 scan); now one float32 copy for the percentiles, the mid bands' part of the
    spectrum (2 bytes a pixel) and blocks (here of 1/24 of the scan, as 1 Mpx of a big one)."""
    monkeypatch.setattr(descriptors, "BLOCK_PIXELS", 1 << 16)
    img = _scan(1024, 1536)
    _, peak = _traced_peak(descriptors.scan_descriptors, img)
    assert peak < 0.8 * img.nbytes, peak / img.size


@pytest.mark.parametrize("case", ["levels", "constant", "one_outlier", "ties", "tiny_range"])
def test_percentiles_by_blocks_are_numpys_exactly(monkeypatch, case):
    rng = np.random.default_rng(3)
    img = {"levels": (rng.integers(0, 256, (97, 131)) / 255).astype(np.float32),
           "constant": np.full((64, 70), 0.25, np.float32),
           "one_outlier": np.where(np.arange(64 * 70).reshape(64, 70) == 5, 1.0, 0.5),
           "ties": np.repeat(rng.random((40, 1)), 90, axis=1),
           "tiny_range": 0.5 + 1e-12 * rng.random((50, 60))}[case]
    monkeypatch.setattr(descriptors, "BLOCK_PIXELS", 500)
    want = np.percentile(np.asarray(img, np.float64), [1, 50, 99])
    assert np.array_equal(descriptors._percentiles(img, [1, 50, 99]), want)


def test_a_verdict_holds_little_beside_the_scan(monkeypatch):
    """The whole verdict (tiles, classifier, outside check) of a 1024 x 1536 scan, with chunks and
    blocks as small against it as the defaults are against a 50-Mpx scan: its peak beside the
    scan stays near the scan's own size (before: ~25x the float32 scan, 1.8 GB for 8192 x 6144)."""
    m = load_model("uhcs3")
    monkeypatch.setattr(scans, "FEATURE_CHUNK", 4)
    monkeypatch.setattr(descriptors, "BLOCK_PIXELS", 1 << 16)
    m.assess(_scan(512, 512))                 # imports, per-thread scratch buffers of a chunk
    img = _scan(1024, 1536)
    _, peak = _traced_peak(m.assess, img)
    assert peak < 2 * img.nbytes, f"{peak / img.size:.1f} bytes a pixel"


@pytest.mark.parametrize("sigma", [2.0, 0.7, 3.3])
def test_structure_share_by_blocks_equals_the_whole_scan_one(monkeypatch, sigma):
    import cv2

    from shapekit.temper.outside import structure_share

    img = _scan(300, 517, seed=4)
    x = img.astype(np.float64)
    r = x - cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    want = 1.0 - r.var() / x.var()
    for pixels in (1 << 20, 1000, 1):                        # one block, many, one row each
        monkeypatch.setattr(descriptors, "BLOCK_PIXELS", pixels)
        assert structure_share(img, sigma) == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_cnn_tiles_are_cut_a_chunk_at_a_time_with_the_same_tiles(monkeypatch):
    """A CNN model's tiles were all cut at full size before being downsampled (the scan's size
    again); a chunk at a time they are the same tiles."""
    import cv2

    from shapekit.temper.cnn_cv import cnn_tiles

    img = _scan(1024, 1536, seed=5)
    full, coords = scans.scan_tiles(img, 256)
    want = np.stack([cv2.resize(t, (128, 128), interpolation=cv2.INTER_AREA) for t in full])
    monkeypatch.setattr(scans, "FEATURE_CHUNK", 2)
    cnn_tiles(img[:300, :300], 256, 2)                       # imports
    (got, c), peak = _traced_peak(cnn_tiles, img, 256, 2)
    assert np.array_equal(got, want) and np.array_equal(c, coords)
    assert peak < 0.5 * img.nbytes, peak / img.size          # before: 2x (every full tile, twice)
