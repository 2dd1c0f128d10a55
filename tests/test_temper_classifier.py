"""Temper classifiers (scikit-learn conformance), calibration, tile -> scan pooling, model selection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from shapekit.errors import InputError, ModelFormatError
from shapekit.temper.classifier import TopTempClassifier
from shapekit.temper.pooling import ScanClassifier, ScanTiles, average_log_proba
from shapekit.temper.probabilities import TemperatureScaler, expected_calibration_error, softmax
from shapekit.temper.selection import cv_table, scan_splitter, scores, select_model


@parametrize_with_checks([TopTempClassifier(), TopTempClassifier("logreg", cv=3),
                          ScanClassifier(TopTempClassifier("logreg"), "features"),
                          ScanClassifier(TopTempClassifier(), "proba")])
def test_sklearn_estimator_checks(estimator, check):
    """Every check passes; the only ones skipped are scikit-learn's array-API checks, which run
    only with ``SCIPY_ARRAY_API=1`` (numpy in, numpy out here)."""
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = rng.normal(size=(120, 6))
    X[:, 0] += 2.5 * y
    X[:, 1] -= 2.0 * (y == 1)
    return X, y


@pytest.mark.parametrize("model", ["svm", "logreg", "xgboost"])
def test_classifier_learns_any_labels_and_round_trips(blobs, model):
    X, y = blobs
    labels = np.array(["ferrite", "pearlite", "bainite"])[y]
    clf = TopTempClassifier(model, n_estimators=60).fit(X, labels)
    assert clf.classes_.tolist() == ["bainite", "ferrite", "pearlite"]
    assert (clf.predict(X) == labels).mean() > 0.85
    p = clf.predict_proba(X)
    assert p.shape == (120, 3) and np.allclose(p.sum(1), 1)
    cfg, arrays, raw = clf.get_state()
    assert (raw is not None) == (model == "xgboost")
    clf2 = TopTempClassifier.from_state(json.loads(json.dumps(cfg)), arrays, raw)
    assert np.allclose(clf2.predict_proba(X), p, atol=1e-10)
    assert clf2.predict(X[:5]).tolist() == clf.predict(X[:5]).tolist()


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
    with pytest.raises(InputError, match="only 1 class"):
        TopTempClassifier("logreg").fit(X, np.zeros(len(X)))
    clf = TopTempClassifier("logreg").fit(X, y)
    with pytest.raises(ValueError, match="6 features"):
        clf.predict(X[:, :4])
    cfg, arrays, raw = clf.get_state()
    del arrays["core.coef"]
    with pytest.raises(ModelFormatError):
        TopTempClassifier.from_state(cfg, arrays, raw)


_NAN = float("nan")


@pytest.mark.parametrize("name, value", [
    *[("C", v) for v in (0, -1, _NAN, True, "10")],
    *[("n_estimators", v) for v in (0, 2.5, True)], *[("max_depth", v) for v in (-1, 2.5, True)],
    *[("learning_rate", v) for v in (0, -0.1, _NAN, np.inf, True)],
    *[("max_bin", v) for v in (1, 2.5, True)], *[("calibrate", v) for v in ("no", 2, None)],
    *[("cv", v) for v in (0, 1, 2.5, True, _NAN, "5")], ("random_state", -1), ("model", "forest")])
def test_bad_classifier_params_fail_at_fit_naming_the_parameter(blobs, name, value):
    # XGBoost's parameters too, with the SVM core (scikit-learn checks every parameter): before,
    # cv=1 or calibrate="no" silently dropped or kept calibration, C=0 failed inside SVC and
    # max_bin=1 deep in XGBoost
    X, y = blobs
    with pytest.raises(InputError, match=rf"^{name}\b") as err:
        TopTempClassifier(**{name: value}).fit(X, y)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="aggregation"):
        ScanClassifier(aggregation="mean").fit(X, y)


@pytest.mark.parametrize("value", ["svm", TopTempClassifier, 3])
def test_scan_classifier_refuses_a_non_estimator(blobs, value):
    X, y = blobs
    with pytest.raises(InputError, match="^estimator=.*predict_proba"):
        ScanClassifier(value).fit(X, y)


@pytest.mark.parametrize("kw", [dict(l2=-1.0), dict(l2=_NAN), dict(bias="no")])
def test_temperature_scaler_bad_params(kw):
    with pytest.raises(InputError, match=next(iter(kw))):
        TemperatureScaler(**kw).fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))


def test_valid_edge_params_still_accepted(blobs):
    X, y = blobs        # XGBoost takes max_depth=0 (no limit) and max_bin=2; SVC takes C=inf
    for kw in (dict(model="xgboost", max_depth=0, max_bin=2, n_estimators=5), dict(C=np.inf),
               dict(cv=np.int64(3), n_estimators=np.int64(5), model="xgboost")):
        assert TopTempClassifier(**kw).fit(X, y).predict(X).shape == y.shape


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


def test_pooling_known_answers():
    p = average_log_proba(np.array([[0.5, 0.5], [0.9, 0.1]]))
    assert np.allclose(p, [0.75, 0.25])  # sqrt(.45) : sqrt(.05) = 3 : 1
    scans = [ScanTiles(np.array([[1.0, 2.0], [3.0, 4.0]]), (np.array([[100.0, 0.0]]),), "a"),
             ScanTiles(np.array([[5.0, 6.0]]), (), None)]
    sc = ScanClassifier(aggregation="features")
    X, y, g = sc.training_rows(scans, ["p", "q"])
    assert X.tolist() == [[2.0, 3.0], [5.0, 6.0], [100.0, 0.0]] and y.tolist() == ["p", "q", "p"]
    assert g.tolist() == ["a", 1, "a"]       # a copy shares its scan's group
    X, y, g = ScanClassifier(aggregation="proba").training_rows(scans, ["p", "q"])
    assert len(X) == 4 and y.tolist() == ["p", "p", "q", "p"]
    with pytest.raises(InputError, match="aggregation"):
        ScanClassifier(aggregation="max").fit(scans, ["p", "q"])
    with pytest.raises(InputError, match="scan 1"):
        ScanClassifier().fit([scans[0], ScanTiles(np.zeros((2, 3)))], ["p", "q"])


def test_scan_classifier_pools_tiles(blobs):
    X, y = blobs
    scans = [ScanTiles(X[i:i + 2]) for i in range(0, 120, 2)]
    ys = y[::2]
    for agg in ("features", "proba"):
        clf = ScanClassifier(TopTempClassifier("logreg"), agg).fit(scans, ys)
        assert (clf.predict(scans) == ys).mean() > 0.9
        if agg == "features":
            means = np.stack([s.tiles.mean(0) for s in scans])
            assert np.allclose(clf.predict_proba(scans), clf.estimator_.predict_proba(means))
        else:
            tp = clf.estimator_.predict_proba(scans[3].tiles)
            assert np.allclose(clf.predict_proba(scans[3:4])[0], average_log_proba(tp))
        clf2 = ScanClassifier.from_state(*clf.get_state())
        assert np.allclose(clf2.predict_proba(scans), clf.predict_proba(scans))


def test_splitters_never_split_groups():
    y = np.array([0, 1] * 10)
    g = np.repeat(np.arange(5), 4).astype(str)
    for n in (3, 5, 8):
        folds = list(scan_splitter(y, g, n_splits=n).split(y, y, g))
        assert len(folds) == min(n, 5)
        for tr, te in folds:
            assert not set(g[tr]) & set(g[te])
    with pytest.raises(InputError, match="2 groups"):
        scan_splitter(y, np.zeros(20), 3)
    with pytest.raises(InputError, match="2 scans of every class"):
        scan_splitter([0, 0, 1])


def test_select_model_by_grid_search(blobs):
    X, y = blobs
    scans = [ScanTiles(X[i:i + 2]) for i in range(0, 120, 2)]
    ys = np.array(["a", "b", "c"])[y[::2]]
    est = ScanClassifier(TopTempClassifier("logreg", calibrate=False))
    gs = select_model(scans, ys, {"aggregation": ["features", "proba"], "estimator__C": [0.1, 10.0]},
                      est, cv=3)
    table = cv_table(gs)
    assert len(table) == 4 and all(0.8 < r["accuracy"] <= 1 for r in table)
    best = max(range(4), key=lambda i: (table[i]["accuracy"], table[i]["macro_f1"], -i))
    assert gs.best_index_ == best and gs.best_estimator_.aggregation == table[best]["params"]["aggregation"]
    # grouped: folds from the groups (leave-one-group-out with few groups)
    groups = np.repeat(["s1", "s2", "s3"], 20)
    gs = select_model(scans, ys, {"aggregation": ["features"]}, est, groups=groups, cv=5)
    assert gs.n_splits_ == 3
    s = scores(["a", "b", "b"], np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), ["a", "b"])
    assert s == {"n": 3, "accuracy": 0.6667, "macro_f1": 0.6667, "labels": ["a", "b"],
                 "confusion": [[1, 0], [1, 1]]}


def test_fewer_folds_than_asked_are_announced():
    """With 2 scans in the smallest class, 5-fold CV runs 2 folds, and training says so instead
    of leaving it to config.json (session 24)."""
    import sys
    import warnings
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from toy import toy_dataset

    from shapekit.errors import ShapekitWarning
    from shapekit.temper.train import train_on_images

    imgs, labels = toy_dataset(2, 48, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = train_on_images(imgs, labels, tile_size=None, cv_folds=5, augment=0,
                            feature_params={"scales": [1]}, aggregation="features")
    msgs = [str(w.message) for w in caught if issubclass(w.category, ShapekitWarning)]
    assert m.config["cv"]["folds"] == 2
    assert any(s.startswith("cross-validation used 2 folds, not 5: the smallest class has 2 scans")
               for s in msgs), msgs


def test_random_state_none_or_int_and_a_random_state_instance_is_refused(blobs):
    # random_state=None crashed the XGBoost core with a bare TypeError (int(None))
    X, y = blobs
    for model in ("xgboost", "logreg"):
        clf = TopTempClassifier(model, random_state=None, cv=3).fit(X, y)
        assert (clf.predict(X) == y).mean() > 0.8
        assert TopTempClassifier.from_state(*clf.get_state()).get_params()["random_state"] is None
    a = TopTempClassifier("xgboost", random_state=np.int64(3), cv=3).fit(X, y).predict_proba(X)
    assert np.array_equal(a, TopTempClassifier("xgboost", random_state=3, cv=3).fit(X, y).predict_proba(X))
    with pytest.raises(InputError, match="random_state must be an int or None"):
        TopTempClassifier("svm", random_state=np.random.RandomState(0)).fit(X, y)
