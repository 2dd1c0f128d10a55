"""Tiling: coordinates reconstruct the scan, padding policies, lazy batches, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapekit.errors import InputError
from shapekit.io import iter_tiles, stitch_tiles, tile_image, tile_origins


def _img(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w)).astype(np.float32)


def test_coords_index_the_scan_exactly() -> None:
    img = _img(37, 50)
    t = tile_image(img, 16, stride=10, pad="none")
    assert t.tiles.shape[1:] == (16, 16) and t.tiles.dtype == np.float32
    assert t.coords.dtype.kind == "i" and t.image_shape == (37, 50)
    assert sorted(set(t.coords[:, 0].tolist())) == [0, 10, 20]
    assert sorted(set(t.coords[:, 1].tolist())) == [0, 10, 20, 30]
    for tile, (r, c) in zip(t.tiles, t.coords):
        np.testing.assert_array_equal(tile, img[r:r + 16, c:c + 16])


@given(h=st.integers(1, 60), w=st.integers(1, 60), size=st.integers(1, 24), stride=st.integers(1, 24),
       pad=st.sampled_from(["reflect", "constant"]))
@settings(max_examples=60, deadline=None)
def test_padded_tiles_cover_and_reconstruct(h: int, w: int, size: int, stride: int, pad: str) -> None:
    img = _img(h, w, seed=h * 61 + w)
    if stride > size:  # gaps between tiles: not a cover, skip this combination
        stride = size
    t = tile_image(img, size, stride=stride, pad=pad)
    np.testing.assert_allclose(stitch_tiles(t), img, atol=1e-6)
    assert t.coords[:, 0].max() + size >= h and t.coords[:, 1].max() + size >= w
    assert (t.coords >= 0).all() and t.coords[:, 0].max() < max(h, 1) and t.coords[:, 1].max() < w


def test_reflect_and_constant_padding_values() -> None:
    img = np.arange(12, dtype=np.float32).reshape(3, 4) / 11
    t = tile_image(img, 4, pad="reflect")
    assert len(t) == 1
    # numpy's "reflect" (edge not repeated) along both axes
    np.testing.assert_allclose(t.tiles[0], np.pad(img, ((0, 1), (0, 0)), mode="reflect"))
    c = tile_image(img, 5, pad="constant", cval=0.5)
    np.testing.assert_allclose(c.tiles[0], np.pad(img, ((0, 2), (0, 1)), constant_values=0.5))
    tiny = tile_image(np.array([[0.25, 0.75]], np.float32), 3, pad="reflect")  # 1 x N image
    np.testing.assert_allclose(tiny.tiles[0], [[0.25, 0.75, 0.25]] * 3)


def test_none_drops_partial_tiles_and_rejects_small_images() -> None:
    img = _img(30, 45)
    t = tile_image(img, 16, pad="none")
    assert t.coords.tolist() == [[0, 0], [0, 16]]
    out = stitch_tiles(t)
    assert np.isnan(out[16:]).all() and np.isnan(out[:, 32:]).all()
    with pytest.raises(InputError, match="smaller than one 64x64 tile"):
        tile_image(img, 64, pad="none")
    with pytest.raises(InputError, match="pad must be one of"):
        tile_image(img, 8, pad="wrap")
    with pytest.raises(InputError, match="tile size"):
        tile_image(img, 0)
    with pytest.raises(InputError, match="stride"):
        tile_image(img, 8, stride=-1)
    with pytest.raises(InputError, match="2-D"):
        tile_image(np.zeros((4, 4, 3)), 2)


def test_iter_tiles_batches_equal_tile_image_and_stay_small() -> None:
    img = _img(100, 90)
    full = tile_image(img, 20, stride=15, pad="reflect")
    batches = list(iter_tiles(img, 20, stride=15, pad="reflect", batch=7))
    assert all(len(b) <= 7 for b in batches) and sum(len(b) for b in batches) == len(full)
    np.testing.assert_array_equal(np.concatenate([b.tiles for b in batches]), full.tiles)
    np.testing.assert_array_equal(np.concatenate([b.coords for b in batches]), full.coords)
    np.testing.assert_array_equal(tile_origins(img.shape, 20, 15, "reflect"), full.coords)


def test_iter_tiles_is_lazy_on_a_large_scan() -> None:
    """An 8192^2 scan: the first batch arrives without materialising all 4096 tiles."""
    big = np.zeros((8192, 8192), dtype=np.float32)
    gen = iter_tiles(big, 128, batch=16)
    first = next(gen)
    assert first.tiles.shape == (16, 128, 128)
    assert first.coords[-1].tolist() == [0, 15 * 128]
    assert len(tile_origins(big.shape, 128)) == 4096
