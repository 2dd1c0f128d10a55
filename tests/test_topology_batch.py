"""The batched vectorisation (compiled kernel and numpy fallback) against the per-diagram reference."""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.errors import InputError
from shapekit.topology import TopTempFeaturizer
from shapekit.topology import blocks as B
from shapekit.topology.batch import block_features_batch, grid_counts

PATHS = ["kernel", "numpy"]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("SHAPEKIT_NO_NUMBA", "1")
    else:
        monkeypatch.delenv("SHAPEKIT_NO_NUMBA", raising=False)
    return request.param


def _random_diagram(rng, n, superlevel, lattice):
    b = rng.normal(size=n)
    life = rng.exponential(0.4, size=n)
    if lattice:  # 8-bit-like values: many exact ties, values on grid points
        b = np.round(b * 8) / 8
        life = np.round(life * 8) / 8
    d = np.stack([b, b + life], axis=1)
    if n and rng.random() < 0.7:
        d[rng.integers(n), 1] = np.inf          # the essential bar
    return -d if superlevel else d


def _reference(dgms, grids, filtration, **kw):
    area = kw.pop("area_kpx")
    return np.stack([B.block_features(d, grids, filtration=filtration,
                                      area_kpx=None if area is None else a, **kw)
                     for d, a in zip(dgms, area if area is not None else [None] * len(dgms))])


@pytest.mark.parametrize("superlevel", [False, True])
@pytest.mark.parametrize("lattice", [False, True])
def test_batch_equals_reference_on_random_diagrams(path, superlevel, lattice):
    rng = np.random.default_rng(int(superlevel) * 2 + int(lattice))
    sizes = [0, 1, 2, 37, 600, 0, 3000, 5]
    dgms = [_random_diagram(rng, n, superlevel, lattice) for n in sizes]
    dgms.append(np.array([[0.0, np.inf]]) * (-1 if superlevel else 1))   # essential bar only
    dgms.append(np.array([[0.25, 0.25], [0.5, 0.75]]) * (-1 if superlevel else 1))  # zero life
    dgms += [np.zeros((0, 2)), np.zeros((0, 2))]     # trailing empty diagrams
    stats = np.stack([B.block_fit_stats(d, (0.9, 0.5, 0.75)) for d in dgms])
    grids = B.combine_fit_stats(stats)            # thresholds deliberately not increasing
    if lattice:  # a grid whose points coincide with lattice values
        grids["value_range"] = (-2.0, 2.0)
    filt = "superlevel" if superlevel else "sublevel"
    for kw in (dict(n_betti=16, n_landscape=16, quantile_samples=64),
               dict(n_betti=9, n_landscape=5, quantile_samples=None),
               dict(n_betti=0, n_landscape=16, quantile_samples=4096)):
        full = dict(quantiles=(0.0, 0.1, 0.5, 0.9, 1.0), persistence_images=True, pi_resolution=4,
                    pi_sigma=1.0, landscapes=True, n_landscape_layers=3,
                    area_kpx=rng.uniform(0.5, 5, len(dgms)), **kw)
        X = block_features_batch(dgms, grids, filtration=filt, **full)
        ref = _reference(dgms, grids, filt, **dict(full))
        assert X.shape == ref.shape
        np.testing.assert_allclose(X, ref, rtol=1e-9, atol=1e-9)


def test_batch_quantiles_are_exact_order_statistics(path):
    # heavy ties and near-ties: the bucket selection must still return exact order statistics
    rng = np.random.default_rng(7)
    b = np.concatenate([np.full(500, 0.3), 0.3 + 1e-13 * rng.integers(0, 3, 500),
                        rng.normal(size=200)])
    d = np.stack([b, b + np.abs(rng.normal(size=len(b))) + 1e-3], axis=1)
    grids = B.combine_fit_stats(B.block_fit_stats(d, (0.5,))[None])
    kw = dict(quantiles=(0.1, 0.25, 0.5, 0.75, 0.9), n_betti=0, persistence_images=False,
              pi_resolution=2, pi_sigma=1.0, landscapes=False, n_landscape_layers=1,
              n_landscape=2, area_kpx=None, quantile_samples=None)
    X = block_features_batch([d], grids, filtration="sublevel", **kw)[0]
    q = np.array(kw["quantiles"])
    expect = np.concatenate([np.quantile(d[:, 1] - d[:, 0], q), np.quantile(d[:, 0], q),
                             np.quantile(d[:, 1], q)])
    np.testing.assert_array_equal(X[-15:], expect)


def test_grid_counts_equal_searchsorted():
    rng = np.random.default_rng(3)
    for lo, hi, n in ((-3.0, 3.0, 16), (0.1, 0.7, 7), (-8.47, 2.18, 16), (0.0, 1.0, 1)):
        g = np.linspace(lo, hi, n)
        x = np.concatenate([rng.uniform(lo - 1, hi + 1, 500), g, np.nextafter(g, np.inf),
                            np.nextafter(g, -np.inf), [np.inf, -np.inf]])
        left, right = grid_counts(lo, hi, n, x)
        np.testing.assert_array_equal(left, np.searchsorted(g, x, "left"))
        np.testing.assert_array_equal(right, np.searchsorted(g, x, "right"))


def test_batch_refuses_nan_and_bad_filtration(path):
    grids = B.combine_fit_stats(np.array([[0.0, 1.0, 0.0, 1.0, 1.0, 0.5]]))
    kw = dict(quantiles=(0.5,), n_betti=4, persistence_images=True, pi_resolution=2,
              pi_sigma=1.0, landscapes=False, n_landscape_layers=1, n_landscape=2, area_kpx=None)
    with pytest.raises(InputError, match="NaN"):
        block_features_batch([np.array([[0.0, np.nan]])], grids, **kw)
    with pytest.raises(InputError, match="filtration"):
        block_features_batch([np.zeros((0, 2))], grids, filtration="auto", **kw)


def _tiles(uhcs3_dir, n, size):
    from shapekit.io import read_image

    files = sorted((uhcs3_dir / "images").glob("*.jpg"))[:n]
    return [read_image(f)[0][:size, :size] for f in files]


@pytest.mark.parametrize("scales", [(1,), (1, 2)])
def test_featurizer_transform_equals_per_tile_reference_on_real_tiles(path, uhcs3_dir, scales):
    tiles = _tiles(uhcs3_dir, 3, 96)
    tiles.append(np.full((96, 96), 0.4, dtype=np.float32))   # constant tile: no finite pair
    ft = TopTempFeaturizer(scales=scales, n_betti=16, pi_resolution=4, landscapes=True,
                           n_landscape=16, quantile_samples=256).fit(tiles)
    X = ft.transform(tiles)
    ref = []
    for t in tiles:   # the per-diagram reference path of shapekit.topology.blocks
        dg = ft.diagrams(t)
        ref.append(np.concatenate([
            B.block_features(dg[b], ft.grids_[b], filtration=f, quantiles=ft.quantiles,
                             n_betti=ft.n_betti, persistence_images=True,
                             pi_resolution=ft.pi_resolution, pi_sigma=ft.pi_sigma,
                             landscapes=True, n_landscape_layers=ft.n_landscape_layers,
                             n_landscape=ft.n_landscape, area_kpx=t.size / 1000.0,
                             quantile_samples=ft.quantile_samples)
            for b, f in zip(ft.blocks_, ft._block_filtrations())]))
    np.testing.assert_allclose(X, np.stack(ref), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ft.transform_one(tiles[0]), X[0], rtol=0, atol=0)


def test_preprocess_zscore_is_numpys():
    rng = np.random.default_rng(5)
    for shape in ((64, 64), (33, 70), (1, 9)):
        img = rng.random(shape, dtype=np.float32)
        z = B.preprocess(img, (1,))[0]
        np.testing.assert_array_equal(z, (img - img.mean()) / img.std())
        assert not np.shares_memory(z, B.preprocess(img, (1,))[0])   # no scratch leaks out
    with pytest.raises(InputError, match="NaN"):
        B.image_diagrams(np.array([[0.0, np.nan], [1.0, 2.0]]), scales=(1,),
                         filtrations=("sublevel",), dims=(0,), normalize="zscore",
                         smooth_sigma=0.0, min_persistence=0.0)
