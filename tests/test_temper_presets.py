"""The shipped feature presets: pipelines of topology steps, equal to the per-diagram reference
and to the features saved models were trained on (written before the pipeline refactor)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from topology_reference import betti_curve, diagram_summaries

from shapekit.errors import InputError
from shapekit.temper.presets import PRESETS, feature_params, fitted_features, toptemp_features
from shapekit.topology import cubical_persistence, rescale, standardize

LEGACY = Path(__file__).parent / "data" / "legacy_models"


def _reference(tile, scales, smooth=0.0, thresholds=(0.1, 0.25, 0.5, 1.0, 2.0),
               quantiles=(0.1, 0.25, 0.5, 0.75, 0.9), betti_points=0, min_persistence=0.0,
               restandardize=False):
    """The classifier features spelled out per diagram with the reference vectorisers."""
    z = standardize(tile)
    grid = np.linspace(-3, 3, betti_points) if betti_points else None
    stats, betti = [], []
    for s in scales:
        a = rescale(z, s, smooth)
        if restandardize:
            a = standardize(a)
        for filt in ("sublevel", "superlevel"):
            dg = cubical_persistence(a, filt, dims=(0, 1), min_persistence=min_persistence)
            for dim in (0, 1):
                summ = diagram_summaries(dg[dim], thresholds, quantiles)
                stats += [np.log1p(v) if k.startswith(("n_pairs", "count_above", "total_pers"))
                          else v for k, v in summ.items()]
                if grid is not None:
                    betti += list(np.log1p(betti_curve(dg[dim], grid, filt)))
    return np.array(stats + betti)


@pytest.mark.parametrize("params", [
    dict(scales=(1, 2)),
    dict(scales=(1, 2, 4), smooth=1.0, min_persistence=0.25, restandardize=True),
    dict(scales=(2,), betti_points=7, thresholds=(1.0, 0.1), quantiles=(0.5, 0.0, 1.0)),
])
def test_features_equal_reference(params):
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    tiles = [gaussian_filter(rng.random((64, 64)), 1.5), np.full((64, 64), 0.3),
             np.round(rng.random((64, 48)) * 8) / 8]          # smooth, constant, 8-level ties
    pipe = toptemp_features(params, n_jobs=2)
    X = pipe.fit_transform(tiles)
    ref = np.stack([_reference(t, **params) for t in tiles])
    assert X.shape == ref.shape == (3, len(pipe.get_feature_names_out()))
    np.testing.assert_allclose(X, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_shipped_presets_equal_the_features_saved_models_use(preset):
    """Features written by the code before the refactor (tests/data/legacy_models/README.md).

    ``accurate`` is equal to 1e-10.  ``robust`` smooths every scale; since session 5 that is
    OpenCV's float32 separable filter (scipy's kernel and edges) instead of a float64 kernel,
    so its features agree to float32 rounding (measured: 7e-7 here, 2e-6 on 256 uhcs3 tiles).
    """
    z = np.load(LEGACY / "preset_features.npz")
    tiles = [z[f"tile_{i}"].astype(np.float32) / 255 for i in range(4)]
    ref = z[f"features_{preset}"]
    tol = 1e-10 if preset == "accurate" else 1e-5
    one_by_one = np.stack([toptemp_features(feature_params(preset)).fit_transform([t])[0]
                           for t in tiles])
    np.testing.assert_allclose(one_by_one, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(fitted_features(feature_params(preset)).transform(tiles[:3]),
                               ref[:3], rtol=0, atol=tol)


def test_names_blocks_and_invariances():
    from shapekit.topology import feature_blocks

    rng = np.random.default_rng(3)
    tile = rng.random((64, 64)).astype(np.float32)
    pipe = fitted_features(feature_params("accurate", scales=[1, 2], betti_points=3))
    names = pipe.get_feature_names_out().tolist()
    blocks = feature_blocks(pipe)
    assert names[0] == "s1_sublevel_h0_n_pairs" and names[-1] == "s2_superlevel_h1_betti_2"
    assert len(set(names)) == len(names) == len(blocks)
    assert all(n.startswith(b.name) for n, b in zip(names, blocks))
    f = pipe.transform([tile])[0]
    assert np.allclose(pipe.transform([0.5 * tile + 0.3])[0], f, atol=1e-5)
    # the cubical complex of a rotated image is isomorphic: identical diagrams and features
    assert np.allclose(pipe.transform([np.rot90(tile)])[0], f, atol=1e-6)


def test_constant_tile_defined_and_bad_input_refused():
    pipe = fitted_features(feature_params("accurate", scales=[1, 2]))
    f = pipe.transform([np.full((32, 32), 0.4)])[0]
    assert np.isfinite(f).all() and f[0] == 0.0
    bad = np.zeros((32, 32))
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        pipe.transform([bad])
    with pytest.raises(InputError, match="scales"):
        toptemp_features({"scales": [0]})
    with pytest.raises(InputError, match="too small"):
        toptemp_features({"scales": [4]}).fit_transform([np.zeros((4, 4))])
    with pytest.raises(InputError, match="unknown feature parameter"):
        feature_params("robust", scale=[1])
