"""TopTempFeaturizer contract: scikit-learn conformance, fitted grids, layouts, cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from shapekit.errors import InputError
from shapekit.topology import FeatureCache, TopTempFeaturizer
from shapekit.topology import blocks as B


def _small(**kw):
    base = dict(scales=(1, 2), n_betti=6, pi_resolution=3)
    base.update(kw)
    return TopTempFeaturizer(**base)


@parametrize_with_checks([_small()])
def test_sklearn_estimator_checks(estimator, check):
    # 2-D X is read as (n, h*w) rows: with image_shape=None each row is a 1-pixel-high image
    check(estimator)


def _blobs(rng, n_dark, size=48):
    img = np.full((size, size), 0.8)
    cells = [(r, c) for r in range(4, size - 4, 8) for c in range(4, size - 4, 8)]
    for i in rng.choice(len(cells), size=n_dark, replace=False):
        r, c = cells[i]
        img[r - 1:r + 2, c - 1:c + 2] = 0.1 + 0.05 * rng.random()
    return img


def test_names_and_known_counts():
    img = np.ones((30, 30))
    for r, c in [(5, 5), (5, 20), (20, 12)]:
        img[r:r + 3, c:c + 3] = 0.0
    ft = TopTempFeaturizer(scales=(1,), normalize="none", per_area=False, n_betti=8)
    X = ft.fit_transform([img])
    names = ft.get_feature_names_out().tolist()
    assert len(names) == len(set(names)) == X.shape[1] == ft.n_features_out_
    f = dict(zip(names, X[0]))
    assert f["sub_H0_n_pairs"] == 2 and f["sub_H0_n_essential"] == 1   # 3 dark squares
    assert f["sup_H1_n_pairs"] == 3                                   # 3 holes in the bright set
    assert f["sup_H0_n_pairs"] == 0 and f["sub_H1_n_pairs"] == 0
    assert f["sup_H1_total_persistence"] == pytest.approx(3.0)
    assert "sub_H1_betti_07" in f and "sub_H0_pi_07_07" in f
    ms = TopTempFeaturizer(scales=(1, 2)).fit([img])
    assert "s2_sup_H0_total_persistence" in ms.get_feature_names_out()


def test_grids_fitted_once_and_rows_independent():
    rng = np.random.default_rng(0)
    train = [_blobs(rng, k) for k in (2, 4, 6, 8)]
    test = [_blobs(rng, 5), rng.random((40, 56))]
    ft = _small().fit(train)
    grids = {k: dict(v) for k, v in ft.grids_.items()}
    Xt = ft.transform(test)
    assert ft.grids_ == grids
    assert np.array_equal(ft.transform(test[:1])[0], Xt[0])
    assert np.allclose(_small().fit_transform(train), ft.transform(train))
    assert Xt.shape == (2, ft.n_features_out_)
    # more dark blobs -> more H0 pairs (per-area density), monotone in the training set
    col = list(ft.get_feature_names_out()).index("sub_H0_n_pairs")
    assert np.all(np.diff(ft.transform(train)[:, col]) > 0)


def test_input_layouts_agree():
    rng = np.random.default_rng(1)
    stack = rng.random((3, 20, 24))
    a = _small().fit_transform(stack)
    b = _small().fit_transform(list(stack))
    c = _small(image_shape=(20, 24)).fit_transform(stack.reshape(3, -1))
    assert np.array_equal(a, b) and np.array_equal(a, c)
    with pytest.raises(InputError, match="image_shape"):
        _small(image_shape=(5, 5)).fit(stack.reshape(3, -1))


def test_zscore_invariance_to_contrast_and_brightness():
    rng = np.random.default_rng(2)
    imgs = [rng.random((32, 32)) for _ in range(3)]
    ft = _small().fit(imgs)
    X = ft.transform(imgs)
    X2 = ft.transform([0.5 * im + 0.2 for im in imgs])
    counts = np.array(["count_above" in n for n in ft.get_feature_names_out()])
    assert np.allclose(X[:, ~counts], X2[:, ~counts], atol=1e-4)
    # a lifetime equal to a fitted threshold may flip under float32 rounding: at most one pair
    assert np.abs(X[:, counts] - X2[:, counts]).max() <= 1000 / 32**2 + 1e-9


def test_constant_image_features_defined():
    rng = np.random.default_rng(3)
    ft = _small().fit([rng.random((16, 16)), np.zeros((16, 16))])
    x = ft.transform([np.full((16, 16), 0.4)])
    assert np.isfinite(x).all()
    f = dict(zip(ft.get_feature_names_out(), x[0]))
    assert f["sub_H0_n_pairs"] == 0 and f["sub_H1_n_pairs"] == 0


def test_per_area_divides_counts():
    rng = np.random.default_rng(4)
    imgs = [rng.random((20, 50))]
    raw = dict(zip(*[_small(per_area=False).fit(imgs).get_feature_names_out(),
                     _small(per_area=False).fit_transform(imgs)[0]]))
    den = dict(zip(*[_small().fit(imgs).get_feature_names_out(), _small().fit_transform(imgs)[0]]))
    assert den["sub_H1_n_pairs"] == pytest.approx(raw["sub_H1_n_pairs"] / 1.0)  # 1000 px
    assert den["s2_sup_H0_total_persistence"] == pytest.approx(raw["s2_sup_H0_total_persistence"])


def test_landscapes_and_options():
    rng = np.random.default_rng(5)
    imgs = rng.random((2, 24, 24))
    ft = _small(landscapes=True, n_landscape_layers=2, n_landscape=5, persistence_images=False,
                filtrations=("superlevel",), dims=(1,), smooth_sigma=1.0, min_persistence=0.05)
    X = ft.fit_transform(imgs)
    names = ft.get_feature_names_out()
    assert X.shape[1] == 2 * (26 + 6 + 10) and names[-1] == "s2_sup_H1_land2_04"
    assert all("_pi_" not in n for n in names)


def test_parallel_equals_serial():
    rng = np.random.default_rng(6)
    imgs = rng.random((5, 24, 24))
    assert np.array_equal(_small(n_jobs=2).fit_transform(imgs), _small().fit_transform(imgs))


def test_cache_hits_are_exact(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    imgs = [rng.random((30, 30)) for _ in range(3)]
    X0 = _small().fit_transform(imgs)
    ft = _small(cache_dir=tmp_path)
    assert np.array_equal(ft.fit_transform(imgs), X0)
    assert len(FeatureCache(tmp_path)) == 3

    def boom(*a, **k):
        raise AssertionError("diagrams recomputed despite the cache")

    monkeypatch.setattr(B, "image_diagrams", boom)
    assert np.array_equal(_small(cache_dir=tmp_path).fit(imgs).transform(imgs), X0)
    # other parameters -> other key; a corrupt entry is a miss, recomputed and rewritten
    monkeypatch.undo()
    other = _small(cache_dir=tmp_path, smooth_sigma=1.0).fit(imgs)
    assert len(FeatureCache(tmp_path)) == 6 and other.transform(imgs).shape == X0.shape
    entry = next(tmp_path.glob("*/*.npz"))
    entry.write_bytes(b"not an npz")
    assert FeatureCache(tmp_path).load(f"{entry.parent.name}/{entry.stem}") is None
    assert np.isfinite(_small(cache_dir=tmp_path).fit_transform(imgs)).all()


@pytest.mark.parametrize("kw", [dict(scales=(0,)), dict(scales=()), dict(dims=(2,)),
                                dict(normalize="unit"), dict(filtrations=("upper",)),
                                dict(filtrations="sublevel"), dict(pi_sigma=0.0),
                                dict(n_betti=-1), dict(quantiles=(1.5,)),
                                dict(min_persistence=-0.1), dict(backend="x")])
def test_bad_params_raise_at_fit(kw):
    ft = TopTempFeaturizer(**kw)   # stored untouched, checked in fit (scikit-learn contract)
    with pytest.raises(InputError):
        ft.fit(np.random.default_rng(0).random((2, 8, 8)))


def test_bad_images():
    good = np.zeros((8, 8))
    bad = np.zeros((8, 8))
    bad[2, 3] = np.nan
    with pytest.raises(InputError, match=r"X\[1\].*NaN"):
        _small().fit([good, bad])
    ft = _small().fit([np.random.default_rng(0).random((8, 8))])
    with pytest.raises(InputError, match="2-D"):
        ft.transform_one(np.zeros((2, 2, 2)))


def test_real_uhcs_tiles(uhcs3_dir):
    from shapekit.io import read_image

    files = sorted((uhcs3_dir / "images").glob("*.jpg"))[:3]
    tiles = [read_image(f)[0][:128, :128] for f in files]
    ft = TopTempFeaturizer(scales=(1, 2, 4))
    X = ft.fit_transform(tiles)
    assert X.shape == (3, ft.n_features_out_) and np.isfinite(X).all()
    f = dict(zip(ft.get_feature_names_out(), X[0]))
    assert f["sub_H0_n_essential"] == 1 and f["sub_H0_n_pairs"] > 10
