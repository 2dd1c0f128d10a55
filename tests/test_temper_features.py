"""The classifier's tile features come from the topology core and equal the per-diagram reference."""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.temper.features import (
    FILTRATIONS,
    TopTempTileFeaturizer,
    feature_names,
    rescale,
    standardize,
    tiles_features,
)
from shapekit.topology import betti_curve, cubical_persistence, diagram_summaries


def _reference(tile, scales, smooth=0.0, thresholds=(0.1, 0.25, 0.5, 1.0, 2.0),
               quantiles=(0.1, 0.25, 0.5, 0.75, 0.9), betti_points=0, min_persistence=0.0,
               restandardize=False):
    """The classifier features spelled out per diagram with the reference vectorisers."""
    z = standardize(tile)
    grid = np.linspace(-3, 3, betti_points) if betti_points else None
    out = []
    for s in scales:
        a = rescale(z, s, smooth)
        if restandardize:
            a = standardize(a)
        for filt in FILTRATIONS:
            dg = cubical_persistence(a, filt, dims=(0, 1), min_persistence=min_persistence)
            for dim in (0, 1):
                summ = diagram_summaries(dg[dim], thresholds, quantiles)
                out += [np.log1p(v) if k.startswith(("n_pairs", "count_above", "total_pers"))
                        else v for k, v in summ.items()]
                if grid is not None:
                    out += list(np.log1p(betti_curve(dg[dim], grid, filt)))
    return np.array(out)


@pytest.mark.parametrize("params", [
    dict(scales=(1, 2)),
    dict(scales=(1, 2, 4), smooth=1.0, min_persistence=0.25, restandardize=True),
    dict(scales=(2,), betti_points=7, thresholds=(1.0, 0.1), quantiles=(0.5, 0.0, 1.0)),
])
def test_tile_features_equal_reference(params):
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    tiles = [gaussian_filter(rng.random((64, 64)), 1.5), np.full((64, 64), 0.3),
             np.round(rng.random((64, 48)) * 8) / 8]          # smooth, constant, 8-level ties
    X = tiles_features(tiles, n_jobs=2, **params)
    ref = np.stack([_reference(t, **params) for t in tiles])
    assert X.shape == ref.shape == (3, len(feature_names(**params)))
    np.testing.assert_allclose(X, ref, rtol=1e-10, atol=1e-10)


def test_tile_features_on_real_tiles_and_chunks(uhcs3_dir):
    from shapekit.io import read_image

    img = read_image(sorted((uhcs3_dir / "images").glob("*.jpg"))[0])[0]
    tiles = [img[:128, :128], img[128:256, :128], img[:128, 128:256]]
    p = dict(scales=(1, 2, 4), smooth=1.0, min_persistence=0.25, restandardize=True)
    fz = TopTempTileFeaturizer(**p).fit(tiles)
    X = fz.transform(tiles)
    np.testing.assert_allclose(X, np.stack([_reference(t, **p) for t in tiles]),
                               rtol=1e-10, atol=1e-10)


def test_tiles_features_refuses_unknown_parameter():
    from shapekit.errors import InputError

    with pytest.raises(InputError, match="unknown feature parameter"):
        tiles_features([np.zeros((16, 16))], scale=(1,))
