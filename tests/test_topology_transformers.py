"""The topology pipeline steps and the Diagrams type: contracts, known answers, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from topology_reference import betti_curve, persistence_landscape, summary_vector

from shapekit.errors import InputError
from shapekit.topology import (
    BettiCurves,
    Block,
    CubicalDiagrams,
    Diagrams,
    PersistenceImages,
    PersistenceLandscapes,
    PersistenceStatistics,
    Pyramid,
    Standardize,
    cubical_persistence,
    feature_blocks,
)


def _blobs(rng, n_dark, size=48):
    img = np.full((size, size), 0.8)
    cells = [(r, c) for r in range(4, size - 4, 8) for c in range(4, size - 4, 8)]
    for i in rng.choice(len(cells), size=n_dark, replace=False):
        r, c = cells[i]
        img[r - 1:r + 2, c - 1:c + 2] = 0.1 + 0.05 * rng.random()
    return img


def _union(**kw):
    return FeatureUnion([("statistics", PersistenceStatistics(**kw)), ("betti", BettiCurves(6)),
                         ("images", PersistenceImages(3)), ("landscapes", PersistenceLandscapes(5, 2))],
                        verbose_feature_names_out=False)


def test_diagrams_type():
    d = Diagrams({(2, "superlevel", 1): [[1.0, 0.5]], Block(1, "sublevel", 0): np.empty((0, 2))},
                 area=16)
    assert [b.name for b in d] == ["s2_superlevel_h1", "s1_sublevel_h0"]
    assert d[2, "superlevel", 1].dtype == np.float64 and d[Block(1, "sublevel", 0)].shape == (0, 2)
    with pytest.raises(ValueError, match="read-only"):
        d[2, "superlevel", 1][0, 0] = 0.0
    src = np.array([[0.0, 1.0]])
    Diagrams({(1, "sublevel", 0): src})
    src[0, 0] = 0.5                       # the caller's array is not frozen
    assert d == Diagrams(dict(d), area=16) and d != Diagrams(dict(d))
    for bad in ({(1, "sub", 0): []}, {(0, "sublevel", 0): []}, {(1, "sublevel", 0): [1.0, 2.0, 3.0]}):
        with pytest.raises(InputError):
            Diagrams(bad)
    with pytest.raises(KeyError):
        d[1, "superlevel", 0]


def test_pipeline_diagrams_equal_cubical_persistence_at_every_scale():
    rng = np.random.default_rng(0)
    imgs = rng.random((3, 24, 20))
    pipe = make_pipeline(Standardize(), Pyramid((1, 2), smooth=0.7, restandardize=True),
                         CubicalDiagrams(min_persistence=0.1))
    dgs = pipe.fit_transform(imgs)
    assert [b.name for b in dgs[0]] == [f"s{s}_{f}_h{k}" for s in (1, 2)
                                        for f in ("sublevel", "superlevel") for k in (0, 1)]
    levels = make_pipeline(Standardize(), Pyramid((1, 2), smooth=0.7, restandardize=True)).fit_transform(imgs)
    for d, lv in zip(dgs, levels):
        for b, arr in d.items():
            ref = cubical_persistence(lv[b.scale], b.filtration, min_persistence=0.1)[b.dim]
            np.testing.assert_array_equal(arr, ref)
    assert dgs[0].area == 24 * 20


def test_names_and_known_counts():
    img = np.ones((30, 30))
    for r, c in [(5, 5), (5, 20), (20, 12)]:
        img[r:r + 3, c:c + 3] = 0.0
    pipe = make_pipeline(CubicalDiagrams(), _union(thresholds=(0.5,), quantiles=(0.5,)))
    X = pipe.fit_transform([img])
    names = pipe.get_feature_names_out().tolist()
    assert len(names) == len(set(names)) == X.shape[1] == len(feature_blocks(pipe))
    f = dict(zip(names, X[0]))
    assert f["s1_sublevel_h0_n_pairs"] == 2 and f["s1_sublevel_h0_n_essential"] == 1  # 3 squares
    assert f["s1_superlevel_h1_n_pairs"] == 3                                  # 3 holes
    assert f["s1_superlevel_h0_n_pairs"] == 0 and f["s1_sublevel_h1_n_pairs"] == 0
    assert f["s1_superlevel_h1_total_persistence"] == pytest.approx(3.0)
    assert "s1_sublevel_h1_betti_5" in f and "s1_sublevel_h0_pi_2_2" in f
    assert "s1_superlevel_h1_land2_4" in f
    assert all(n.startswith(b.name + "_") for b, n in zip(feature_blocks(pipe), names))


def test_columns_equal_the_per_diagram_reference():
    rng = np.random.default_rng(1)
    imgs = [rng.random((32, 32)), np.full((32, 32), 0.4), np.round(rng.random((32, 40)) * 8) / 8]
    diag = make_pipeline(Standardize(), CubicalDiagrams())
    dgs = diag.fit_transform(imgs)
    kw = dict(thresholds=(0.5, 0.1), quantiles=(0.1, 0.9), quantile_samples=64)
    stats = PersistenceStatistics(**kw, per_area=100.0).fit(dgs)
    betti = BettiCurves(7, (-2.0, 2.0), log1p=True).fit(dgs)
    land = PersistenceLandscapes(9, 2, (-2.0, 2.0)).fit(dgs)
    Xs, Xb, Xl = stats.transform(dgs), betti.transform(dgs), land.transform(dgs)
    for i, d in enumerate(dgs):
        area = imgs[i].size / 100.0
        for j, b in enumerate(stats.blocks_):
            ref = summary_vector(d[b], kw["thresholds"], kw["quantiles"],
                                 max_quantile_samples=64)
            ref[[0, 2, 3, 4, 5]] /= area
            w = ref.size
            np.testing.assert_allclose(Xs[i, j * w:(j + 1) * w], ref, rtol=1e-9, atol=1e-12)
            np.testing.assert_array_equal(
                Xb[i, j * 7:(j + 1) * 7],
                np.log1p(betti_curve(d[b], np.linspace(-2, 2, 7), b.filtration)))
            np.testing.assert_allclose(
                Xl[i, j * 18:(j + 1) * 18],
                persistence_landscape(d[b], np.linspace(-2, 2, 9), 2).ravel(), atol=1e-12)


def test_fitted_ranges_learned_once_and_rows_independent():
    rng = np.random.default_rng(0)
    train = [_blobs(rng, k) for k in (2, 4, 6, 8)]
    test = [_blobs(rng, 5), rng.random((40, 56))]
    pipe = make_pipeline(Standardize(), CubicalDiagrams(),
                         _union(thresholds=(0.5,), per_area=1000.0)).fit(train)
    ranges = {k: dict(v) for k, v in pipe[-1].transformer_list[2][1].ranges_.items()}
    assert all(r["pers_range"][0] == 0 and r["birth_range"][1] > r["birth_range"][0]
               for r in ranges.values())
    Xt = pipe.transform(test)
    assert pipe[-1].transformer_list[2][1].ranges_ == ranges
    assert np.array_equal(pipe.transform(test[:1])[0], Xt[0])
    assert np.allclose(clone(pipe).fit_transform(train), pipe.transform(train))
    # more dark blobs -> more H0 pairs (per-area density), monotone in the training set
    col = list(pipe.get_feature_names_out()).index("s1_sublevel_h0_n_pairs")
    assert np.all(np.diff(pipe.transform(train)[:, col]) > 0)


def test_standardize_gives_contrast_and_brightness_invariance():
    rng = np.random.default_rng(2)
    imgs = [rng.random((32, 32)) for _ in range(3)]
    pipe = make_pipeline(Standardize(), Pyramid((1, 2)), CubicalDiagrams(),
                         PersistenceStatistics()).fit(imgs)
    X, X2 = pipe.transform(imgs), pipe.transform([0.5 * im + 0.2 for im in imgs])
    counts = np.array(["count_above" in n for n in pipe.get_feature_names_out()])
    assert np.allclose(X[:, ~counts], X2[:, ~counts], atol=1e-4)
    # a lifetime equal to a threshold may flip under float32 rounding: at most one pair
    assert np.abs(X[:, counts] - X2[:, counts]).max() <= 1


def test_constant_image_features_defined():
    pipe = make_pipeline(Standardize(), CubicalDiagrams(), _union())
    x = pipe.fit([np.random.default_rng(3).random((16, 16))]).transform([np.full((16, 16), 0.4)])
    f = dict(zip(pipe.get_feature_names_out(), x[0]))
    assert np.isfinite(x).all() and f["s1_sublevel_h0_n_pairs"] == 0 and f["s1_sublevel_h0_n_essential"] == 1


def test_parallel_equals_serial_and_input_layouts_agree():
    imgs = np.random.default_rng(6).random((5, 24, 24))
    a = make_pipeline(CubicalDiagrams(n_jobs=2), PersistenceStatistics()).fit_transform(imgs)
    b = make_pipeline(CubicalDiagrams(), PersistenceStatistics()).fit_transform(list(imgs))
    assert np.array_equal(a, b)


def test_fit_transform_computes_each_diagram_once(monkeypatch):
    import shapekit.topology.transformers as T

    calls = []
    real = T.sublevel_pairs
    monkeypatch.setattr(T, "sublevel_pairs", lambda batch, **kw: calls.append(len(batch)) or real(batch, **kw))
    pipe = Pipeline([("pyr", Pyramid((1, 2))), ("dg", CubicalDiagrams()), ("f", _union())])
    pipe.fit_transform(np.random.default_rng(0).random((4, 16, 16)))
    assert calls == [8, 8]        # one batch per scale: each image once in each filtration


@pytest.mark.parametrize("step, kw", [
    (Pyramid, dict(scales=(0,))), (Pyramid, dict(scales=())), (Pyramid, dict(smooth=-1.0)),
    (CubicalDiagrams, dict(dims=(2,))), (CubicalDiagrams, dict(filtrations=("upper",))),
    (CubicalDiagrams, dict(filtrations="sublevel")), (CubicalDiagrams, dict(min_persistence=-0.1)),
    (CubicalDiagrams, dict(backend="x")), (PersistenceStatistics, dict(quantiles=(1.5,))),
    (PersistenceStatistics, dict(quantile_samples=3))])
def test_bad_params_raise_at_fit(step, kw):
    est = step(**kw)            # stored untouched, checked in fit (scikit-learn contract)
    imgs = np.random.default_rng(0).random((2, 8, 8))
    X = CubicalDiagrams().fit_transform(imgs) if step is PersistenceStatistics else imgs
    with pytest.raises(InputError):
        est.fit(X)


_NAN = float("nan")
_BAD = [  # (step, parameter, bad value): each used to pass silently or crash deep inside
    *[(v, "per_area", x) for v in (PersistenceStatistics, BettiCurves, PersistenceImages)
      for x in (-1, 0, _NAN, np.inf, True, "1e4")],
    *[(BettiCurves, "n_points", x) for x in (0, -1, 2.5, True, _NAN, "16", None)],
    *[(PersistenceLandscapes, p, x) for p in ("n_points", "n_layers") for x in (0, 2.5, True, _NAN)],
    *[(PersistenceImages, "resolution", x) for x in (0, 2.5, True, _NAN)],
    *[(PersistenceImages, "sigma", x) for x in (0, -1, _NAN, True, "1")],
    *[(v, "log1p", x) for v in (PersistenceStatistics, BettiCurves) for x in ("no", 2, None)],
    (PersistenceStatistics, "quantiles", (_NAN,)), (PersistenceStatistics, "quantiles", 0.5),
    (PersistenceStatistics, "thresholds", (np.inf,)), (PersistenceStatistics, "thresholds", "ab"),
    (PersistenceStatistics, "quantile_samples", _NAN), (PersistenceStatistics, "quantile_samples", "a"),
    (PersistenceStatistics, "fill_value", "a"),
    (BettiCurves, "value_range", (1, 0)), (PersistenceImages, "birth_range", (0, _NAN)),
    (PersistenceLandscapes, "value_range", (0,)),
    *[(Pyramid, "scales", x) for x in ((1.5,), (True,), ("a",), 2, None, (1, 1))],
    *[(Pyramid, "smooth", x) for x in (-1, _NAN, np.inf, True, "a", None)],
    *[(Pyramid, "restandardize", x) for x in ("yes", 2)],
    *[(CubicalDiagrams, "dims", x) for x in ((0.5,), 0, (True,), (-1,), ())],
    *[(CubicalDiagrams, "min_persistence", x) for x in (True, _NAN, "a")],
    *[(CubicalDiagrams, "n_jobs", x) for x in (0, 1.5, True, "a")],
    (CubicalDiagrams, "construction", "t"), (CubicalDiagrams, "filtrations", ()),
]


@pytest.mark.parametrize("step, name, value", _BAD)
def test_bad_param_values_are_one_line_errors_naming_the_parameter(step, name, value):
    imgs = np.random.default_rng(0).random((2, 8, 8))
    is_vectorizer = step not in (Pyramid, CubicalDiagrams)
    X = CubicalDiagrams().fit_transform(imgs) if is_vectorizer else imgs
    est = step(**{name: value})
    assert est.get_params()[name] is value            # stored untouched
    with pytest.raises(InputError, match=rf"^{name.rstrip('s')}") as err:
        est.fit(X)
    assert "\n" not in str(err.value)


def test_integral_floats_and_numpy_numbers_still_accepted():
    d = CubicalDiagrams().fit_transform(np.random.default_rng(0).random((2, 8, 8)))
    ref = BettiCurves(4, (0.0, 1.0), per_area=64).fit_transform(d)
    same = BettiCurves(4.0, (0.0, 1.0), per_area=np.float32(64)).fit_transform(d)
    assert np.array_equal(ref, same)
    assert np.array_equal(PersistenceStatistics(quantile_samples=np.int64(16)).fit_transform(d),
                          PersistenceStatistics(quantile_samples=16).fit_transform(d))
    assert np.isnan(PersistenceStatistics(fill_value=np.nan).fit_transform(
        [Diagrams({(1, "sublevel", 0): np.empty((0, 2))})])).any()  # NaN fill: on purpose


def test_bad_input():
    bad = np.zeros((8, 8))
    bad[2, 3] = np.nan
    with pytest.raises(InputError, match=r"image 1.*NaN"):
        CubicalDiagrams().fit_transform([np.zeros((8, 8)), bad])
    with pytest.raises(InputError, match="NaN"):
        Standardize().fit_transform([bad])
    with pytest.raises(InputError, match="list of 2-D images"):
        CubicalDiagrams().fit_transform(np.zeros((8, 8)))
    with pytest.raises(InputError, match="Diagrams"):
        PersistenceStatistics().fit([np.zeros((8, 8))])
    dg = CubicalDiagrams(filtrations=("sublevel",)).fit_transform([np.eye(4)])
    ps = PersistenceStatistics().fit(CubicalDiagrams().fit_transform([np.eye(4)]))
    with pytest.raises(InputError, match="lack block s1_superlevel_h0"):
        ps.transform(dg)
    with pytest.raises(InputError, match="area"):
        PersistenceStatistics(per_area=1.0).fit_transform(
            make_pipeline(Pyramid((2,)), CubicalDiagrams()).fit_transform([np.eye(4)]))


def test_real_uhcs_tiles(uhcs3_dir):
    from shapekit.io import read_image

    files = sorted((uhcs3_dir / "images").glob("*.jpg"))[:3]
    tiles = [read_image(f)[0][:128, :128] for f in files]
    pipe = make_pipeline(Standardize(), Pyramid(), CubicalDiagrams(), _union())
    X = pipe.fit_transform(tiles)
    assert X.shape == (3, len(pipe.get_feature_names_out())) and np.isfinite(X).all()
    f = dict(zip(pipe.get_feature_names_out(), X[0]))
    assert f["s1_sublevel_h0_n_essential"] == 1 and f["s1_sublevel_h0_n_pairs"] > 10


def test_preprocessing_is_numpys_arithmetic_and_scipys_gaussian():
    from scipy.ndimage import gaussian_filter

    from shapekit.topology import rescale, standardize
    from shapekit.topology.preprocessing import smooth

    rng = np.random.default_rng(5)
    for shape in ((64, 64), (33, 70), (1, 9), (3, 300), (256, 256)):
        img = rng.random(shape, dtype=np.float32) * 7 - 2
        z = standardize(img)
        np.testing.assert_array_equal(z, (img - img.mean()) / img.std())
        assert not np.shares_memory(z, standardize(img))       # no scratch leaks out
        for sigma in (0.5, 1.0, 1.7, 3.0):      # scipy's kernel and edges, to float32 rounding
            ref = gaussian_filter(img.astype(np.float64), sigma, mode="reflect")
            np.testing.assert_allclose(smooth(img, sigma), ref, rtol=0, atol=4e-6)
        np.testing.assert_allclose(rescale(img, 1, 1.0), gaussian_filter(img, 1.0, mode="reflect"),
                                   rtol=0, atol=4e-6)
    with pytest.raises(InputError, match="NaN"):
        standardize(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_every_backend_plugs_into_the_diagram_step():
    """The one dispatch: GUDHI, torch (and cripser when installed) give the same features."""
    imgs = np.round(np.random.default_rng(9).random((3, 20, 24)) * 6) / 6     # many ties
    ref = make_pipeline(CubicalDiagrams(), PersistenceStatistics()).fit_transform(imgs)
    backends = [dict(backend="torch", device="cpu")]
    try:
        import cripser  # noqa: F401
        backends.append(dict(backend="cripser"))
    except ImportError:
        pass
    for kw in backends:
        X = make_pipeline(CubicalDiagrams(**kw), PersistenceStatistics()).fit_transform(imgs)
        np.testing.assert_allclose(X, ref, rtol=1e-12, atol=1e-12)


def test_features_do_not_depend_on_memory_layout():
    from shapekit.temper.presets import feature_params, toptemp_features

    scan = np.random.default_rng(11).random((300, 400)).astype(np.float32)
    views = [scan[:256, :256], scan[40:296, 100:356], scan[::-1, ::-1][:256, :256]]
    copies = [np.ascontiguousarray(v) for v in views]
    for preset in ("robust", "accurate"):
        pipe = toptemp_features(feature_params(preset))
        np.testing.assert_array_equal(pipe.fit_transform(views), pipe.fit_transform(copies))


@pytest.mark.parametrize("smooth, restandardize", [(0.0, False), (1.0, True), (0.7, False)])
def test_batch_outputs_in_one_block_equal_the_per_image_functions(smooth, restandardize):
    from shapekit.topology import pyramid, standardize

    rng = np.random.default_rng(11)
    same = [rng.random((37, 50)).astype(np.float32) for _ in range(3)]   # not multiples of 2, 4
    z = Standardize().fit_transform(same)
    assert z[0].base is not None and z[0].base is z[2].base          # one block for the batch
    for a, x in zip(z, same):
        np.testing.assert_array_equal(a, standardize(x))
    levels = Pyramid((1, 2, 4), smooth, restandardize).fit_transform(z)
    for lv, x in zip(levels, z):
        ref = pyramid(x, (1, 2, 4), smooth, restandardize)
        assert list(lv) == list(ref) and not np.shares_memory(lv[1], x)
        for s in ref:
            np.testing.assert_array_equal(lv[s], ref[s])
    mixed = Pyramid((1, 2), smooth, restandardize).fit_transform([same[0], same[1][:30]])
    np.testing.assert_array_equal(mixed[1][2], pyramid(same[1][:30], (1, 2), smooth, restandardize)[2])


def test_pandas_output_of_a_pipeline_names_the_feature_columns():
    # set_output(transform="pandas") on a pipeline that starts from images wrapped the image and
    # diagram steps' outputs too, and pandas refused the (n, h, w) stack
    rng = np.random.default_rng(0)
    imgs = [_blobs(rng, k) for k in (2, 5, 8)]
    pipe = make_pipeline(Standardize(), Pyramid(scales=(1, 2)), CubicalDiagrams(), _union(quantiles=()))
    X = pipe.fit_transform(imgs)
    df = clone(pipe).set_output(transform="pandas").fit_transform(imgs)
    assert list(df.columns) == list(pipe.get_feature_names_out())
    assert np.array_equal(df.to_numpy(), X)
    assert isinstance(pipe[:2].set_output(transform="pandas").transform(imgs)[0], dict)
