"""TopTemp features, classifiers, calibration, aggregation and CV folds: known answers."""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.errors import InputError, ModelFormatError
from shapekit.temper.aggregate import average_log_proba, cover_origins, pool_by_group, scan_tiles
from shapekit.temper.calibration import TemperatureScaler, expected_calibration_error, softmax
from shapekit.temper.classifier import TopTempClassifier
from shapekit.temper.cv import cv_topotemp, scan_folds, scores, select_by_cv, training_rows
from shapekit.temper.features import TopTempTileFeaturizer, feature_names, tile_features
from shapekit.temper.toy import toy_micrograph

P = {"scales": (1, 2)}


@pytest.fixture(scope="module")
def tile():
    return toy_micrograph("network", 64, np.random.default_rng(3))


def test_features_fixed_length_and_names(tile):
    f = tile_features(tile, **P)
    names = feature_names(**P)
    assert f.shape == (len(names),) and np.isfinite(f).all()
    assert len(set(names)) == len(names)
    fz = TopTempTileFeaturizer(scales=(1, 2)).fit([tile])
    assert list(fz.get_feature_names_out()) == names
    assert np.allclose(fz.transform([tile, tile]), np.stack([f, f]))


def test_features_invariant_to_brightness_contrast_and_rot90(tile):
    f = tile_features(tile, **P)
    assert np.allclose(tile_features(0.5 * tile + 0.3, **P), f, atol=1e-5)
    # the cubical complex of a rotated image is isomorphic: identical diagrams and features
    assert np.allclose(tile_features(np.rot90(tile), **P), f, atol=1e-6)
    assert np.allclose(tile_features(tile[:, ::-1], **P), f, atol=1e-6)


def test_features_see_structure():
    rng = np.random.default_rng(0)
    spots = tile_features(toy_micrograph("spheroids", 64, rng), scales=(1,))
    lam = tile_features(toy_micrograph("lamellae", 64, rng), scales=(1,))
    names = feature_names(scales=(1,))
    # isolated bright particles sit in ONE dark matrix: no long-lived dark (sublevel H0)
    # component besides the essential one; dark lamellae are many separate components
    j = names.index("s1_sublevel_h0_count_above_3")   # persistence > 1 standard deviation
    assert np.expm1(spots[j]) <= 2 and np.expm1(lam[j]) >= 8


def test_constant_tile_defined_and_nan_refused():
    f = tile_features(np.full((32, 32), 0.4), **P)
    assert np.isfinite(f).all()
    names = feature_names(**P)
    assert f[names.index("s1_sublevel_h0_n_pairs")] == 0.0
    bad = np.zeros((32, 32))
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        tile_features(bad, **P)
    with pytest.raises(InputError, match="scales"):
        tile_features(np.zeros((32, 32)), scales=(0,))
    with pytest.raises(InputError, match="too small"):
        tile_features(np.zeros((4, 4)), scales=(4,))


def test_cover_tiling():
    assert cover_origins(645, 256).tolist() == [0, 194, 389]
    tiles, coords = scan_tiles(np.arange(100 * 70, dtype=np.float32).reshape(100, 70), 50)
    assert tiles.shape == (4, 50, 50) and coords.tolist() == [[0, 0], [0, 20], [50, 0], [50, 20]]
    assert tiles[3, -1, -1] == 99 * 70 + 69   # last tile ends at the corner: no padding
    with pytest.raises(InputError, match="smaller than one 64x64 tile"):
        scan_tiles(np.zeros((40, 100)), 64)


def test_pool_and_geometric_mean():
    assert pool_by_group(np.array([[1.0], [3.0], [10.0]]), np.array([1, 1, 0])).ravel().tolist() == [10.0, 2.0]
    p = average_log_proba(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 0]))
    assert np.allclose(p, [[0.75, 0.25]])  # sqrt(.45) : sqrt(.05) = 3 : 1


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = rng.normal(size=(120, 6))
    X[:, 0] += 2.5 * y
    X[:, 1] -= 2.0 * (y == 1)
    return X, y


@pytest.mark.parametrize("model", ["svm", "logreg", "xgboost"])
def test_classifier_learns_and_round_trips(blobs, model):
    X, y = blobs
    clf = TopTempClassifier(model, n_estimators=60).fit(X, y)
    assert (clf.predict(X) == y).mean() > 0.85
    p = clf.predict_proba(X)
    assert p.shape == (120, 3) and np.allclose(p.sum(1), 1)
    cfg, arrays, raw = clf.get_state()
    assert (raw is not None) == (model == "xgboost")
    import json

    json.dumps(cfg)  # plain JSON
    clf2 = TopTempClassifier.from_state(json.loads(json.dumps(cfg)), arrays, raw)
    assert np.allclose(clf2.predict_proba(X), p, atol=1e-10)


def test_svm_decision_equals_sklearn(blobs):
    from sklearn.svm import SVC

    X, y = blobs
    for yy in (y, (y > 0).astype(int)):
        clf = TopTempClassifier("svm", calibrate=False).fit(X, yy)
        Xs = (X - clf.mean_) / clf.scale_
        ref = SVC(C=10.0).fit(Xs, yy)
        assert (clf.predict(X) == ref.predict(Xs)).all()


def test_classifier_bad_input(blobs):
    X, y = blobs
    with pytest.raises(InputError, match="model"):
        TopTempClassifier("forest").fit(X, y)
    Xn = X.copy()
    Xn[5, 2] = np.nan
    with pytest.raises(InputError, match="row 5"):
        TopTempClassifier("logreg").fit(Xn, y)
    clf = TopTempClassifier("logreg").fit(X, y)
    with pytest.raises(InputError, match="6 features"):
        clf.predict(X[:, :4])
    cfg, arrays, raw = clf.get_state()
    del arrays["core.coef"]
    with pytest.raises(ModelFormatError):
        TopTempClassifier.from_state(cfg, arrays, raw)


def test_temperature_scaling_calibrates():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 3000)
    logits = rng.normal(0, 1, (3000, 3))
    logits[np.arange(3000), y] += 1.0
    over = 6.0 * logits  # over-confident scores
    ts = TemperatureScaler().fit(over[:1500], y[:1500])
    assert 4.0 < ts.temperature_ < 8.0
    before = expected_calibration_error(softmax(over[1500:]), y[1500:])
    after = expected_calibration_error(ts.predict_proba(over[1500:]), y[1500:])
    assert after < before / 2 and after < 0.05


def test_grouped_folds_never_split_groups():
    y = np.array([0, 1] * 10)
    g = np.repeat(np.arange(5), 4).astype(str)
    folds = scan_folds(y, g, n_splits=5)
    assert len(folds) == 5
    for tr, te in folds:
        assert not set(g[tr]) & set(g[te])
    with pytest.raises(InputError, match="2 groups"):
        scan_folds(y, np.zeros(20), 3)


def test_cv_and_selection(blobs):
    X, y = blobs
    scan = np.repeat(np.arange(60), 2)
    ys = y[::2]
    folds = scan_folds(ys, n_splits=3)
    p = cv_topotemp(X, scan, ys, folds, {"model": "logreg"}, "proba")
    assert np.isfinite(p).all() and scores(ys, p)["accuracy"] > 0.8
    fast = {"model": "logreg", "calibrate": False}
    best, agg, table = select_by_cv(X, scan, ys, folds, [(fast, "features"), (fast, "proba")])
    assert len(table) == 2 and agg in ("features", "proba")
    s = scores(np.array([0, 0, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), ["a", "b"])
    assert s == {"n": 3, "accuracy": 0.6667, "macro_f1": 0.6667, "labels": ["a", "b"],
                 "confusion": [[1, 1], [0, 1]]}


def test_training_rows_with_augmented_copies():
    X = np.arange(12.0).reshape(6, 2)
    scan = np.array([0, 0, 1, 1, 2, 2])
    y = np.array([0, 1, 1])
    aug = (np.array([[100.0, 100.0], [200.0, 200.0], [300.0, 300.0]]), np.array([0, 2, 2]),
           np.array([0, 0, 1]))
    Xt, yt, gt = training_rows(X, scan, y, np.array([0, 2]), "features", aug=aug)
    # two clean scans (tile means), then copy 0 of scan 0, copy 0 of scan 2, copy 1 of scan 2
    assert Xt[:, 0].tolist() == [1.0, 9.0, 100.0, 200.0, 300.0]
    assert yt.tolist() == [0, 1, 0, 1, 1] and gt.tolist() == [0, 2, 0, 2, 2]
    Xt, yt, gt = training_rows(X, scan, y, np.array([1]), "proba", aug=aug)
    assert Xt[:, 0].tolist() == [4.0, 6.0] and gt.tolist() == [1, 1]   # no copy of scan 1
