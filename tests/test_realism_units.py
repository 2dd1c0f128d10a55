"""Unit checks of the realism building blocks against direct computations with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shapekit.realism.coverage import coverage_metrics, expected_coverage
from shapekit.realism.resampling import percentile_ci, permutation_test
from shapekit.realism.diagdist import pairwise_diagram_distances, pairwise_l1, sliced_wasserstein_embedding
from shapekit.realism.materials import (binarize, chord_length_histogram, chord_lengths,
                                        materials_statistics, two_point_correlation)
from shapekit.realism.setstats import (PooledFeatures, column_w1_ks, energy_distance, mmd2_unbiased,
                                       set_statistics)


def test_column_w1_ks_match_scipy_with_ties():
    rng = np.random.default_rng(3)
    a = np.c_[rng.integers(0, 4, 23), rng.normal(size=23), rng.exponential(size=23)].astype(float)
    b = np.c_[rng.integers(0, 6, 31), rng.normal(1, 2, size=31), rng.exponential(size=31)].astype(float)
    w1, ks = column_w1_ks(a, b)
    for j in range(3):
        assert w1[j] == pytest.approx(stats.wasserstein_distance(a[:, j], b[:, j]), rel=1e-10)
        assert ks[j] == pytest.approx(stats.ks_2samp(a[:, j], b[:, j]).statistic, rel=1e-10)


def test_mmd_and_energy_are_u_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=12)
    K = np.exp(-np.subtract.outer(x, x) ** 2)
    ia, ib = np.arange(5), np.arange(5, 12)
    kaa, kbb = K[:5, :5], K[5:, 5:]
    expect = ((kaa.sum() - 5) / 20) + ((kbb.sum() - 7) / 42) - 2 * K[:5, 5:].mean()
    assert mmd2_unbiased(K, ia, ib) == pytest.approx(expect)
    D = np.abs(np.subtract.outer(x, x))
    e = 2 * D[:5, 5:].mean() - D[:5, :5].sum() / 20 - D[5:, 5:].sum() / 42
    assert energy_distance(D, ia, ib) == pytest.approx(e)
    # a bootstrap repeat is not paired with itself
    rep = np.array([0, 0, 1, 2])
    mask = rep[:, None] != rep[None, :]
    kk = K[np.ix_(rep, rep)]
    expect_rep = kk[mask].mean() + (kbb.sum() - 7) / 42 - 2 * K[np.ix_(rep, ib)].mean()
    assert mmd2_unbiased(K, rep, ib) == pytest.approx(expect_rep)
    assert np.isnan(mmd2_unbiased(K, np.array([0]), ib))


def _exact_sw(d1: np.ndarray, d2: np.ndarray, n_dir: int) -> float:
    th = np.linspace(-np.pi / 2, np.pi / 2, n_dir + 1)[:-1]
    tot = 0.0
    for t in th:
        line = np.array([np.cos(t), np.sin(t)])
        m1 = d1.sum(1) / 2 * line.sum()
        m2 = d2.sum(1) / 2 * line.sum()
        a = np.sort(np.r_[d1 @ line, m2])
        b = np.sort(np.r_[d2 @ line, m1])
        tot += np.abs(a - b).sum()
    return tot / n_dir


def test_sliced_wasserstein_embedding_matches_exact_sorting():
    rng = np.random.default_rng(1)
    ds = []
    for n in (30, 45, 0, 12):
        b = rng.random(n)
        ds.append(np.c_[b, b + 0.5 * rng.random(n)])
    D = pairwise_l1(sliced_wasserstein_embedding(ds, n_directions=6, n_grid=2000))
    for i in range(4):
        for j in range(i + 1, 4):
            assert D[i, j] == pytest.approx(_exact_sw(ds[i], ds[j], 6), rel=0.01, abs=1e-3)


def test_hera_pairwise_matches_direct_calls_and_is_symmetric():
    import gudhi
    import gudhi.hera

    rng = np.random.default_rng(2)
    imgs = []
    for _ in range(4):
        b = rng.random(10)
        imgs.append([np.c_[b, b + rng.random(10)], np.c_[b[:3], b[:3] + 0.1]])
    D = pairwise_diagram_distances(imgs, "wasserstein", top_k=10)
    want = sum(gudhi.hera.wasserstein_distance(imgs[0][k], imgs[2][k], order=1.0, internal_p=np.inf)
               for k in range(2))
    assert D[0, 2] == pytest.approx(want) and D[2, 0] == D[0, 2] and D[1, 1] == 0
    B = pairwise_diagram_distances(imgs, "bottleneck", top_k=10)
    assert B[1, 3] == pytest.approx(sum(gudhi.bottleneck_distance(imgs[1][k], imgs[3][k]) for k in range(2)))


def test_two_point_correlation_known_values():
    rng = np.random.default_rng(0)
    m = rng.random((200, 200)) < 0.25
    s2 = two_point_correlation(m, r_max=10)
    assert s2[0] == pytest.approx(m.mean())
    assert s2[5:].mean() == pytest.approx(m.mean() ** 2, abs=0.005)
    full = np.ones((40, 40), bool)
    assert np.allclose(two_point_correlation(full, 8), 1.0)
    # horizontal stripes of period 4 (2 on, 2 off): vertical lag 4 returns to phase; radial average
    stripes = np.zeros((128, 128), bool)
    stripes[(np.arange(128) % 4) < 2] = True
    s = two_point_correlation(stripes, 8)
    assert s[0] == pytest.approx(0.5) and s[2] < s[0]


def test_chords_and_binarize():
    m = np.zeros((6, 10), bool)
    m[2, 1:4] = True          # a horizontal chord of 3 (and three vertical chords of 1)
    m[4, 6:9] = True
    assert sorted(chord_lengths(m).tolist()) == [1, 1, 1, 1, 1, 1, 3, 3]
    edge = np.zeros((4, 6), bool)
    edge[1, :3] = True        # touches the left border: dropped along rows
    assert 3 not in chord_lengths(edge).tolist()
    assert 3 in chord_lengths(edge, drop_border=False).tolist()
    h = chord_length_histogram(m, np.array([0, 2, 5]))
    assert h.tolist() == [0.75, 0.25]
    assert not binarize(np.full((8, 8), 0.3)).any()
    st = materials_statistics([np.full((16, 16), 0.5, np.float32)], r_max=4)
    assert st["phase_fraction"][0] == 0 and st["chord_mean"][0] == 0


def _pf(X: np.ndarray, n_real: int) -> PooledFeatures:
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1) / X.shape[1])
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    return PooledFeatures(X, [f"s{j}" for j in range(X.shape[1])], X[:n_real].std(0, ddof=1), K, D,
                          np.arange(len(X)), float(D[:n_real, :n_real].mean()), n_real)


def test_permutation_test_separates_shift_from_null():
    rng = np.random.default_rng(5)
    same = _pf(rng.normal(size=(60, 3)), 30)
    obs = set_statistics(same, np.arange(30), np.arange(30, 60))["topological_distance"]
    p_same, null = permutation_test(same, obs, 99, np.random.default_rng(0))
    assert p_same > 0.05 and len(null) == 99
    X = rng.normal(size=(60, 3))
    X[30:] += 1.0
    shifted = _pf(X, 30)
    obs2 = set_statistics(shifted, np.arange(30), np.arange(30, 60))["topological_distance"]
    p_shift, _ = permutation_test(shifted, obs2, 99, np.random.default_rng(0))
    assert p_shift == pytest.approx(0.01) and obs2 > obs


def test_coverage_identical_vs_collapsed():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(150, 4)), rng.normal(size=(150, 4))
    c = coverage_metrics(real, fake, k=5)
    assert abs(c["coverage"] - expected_coverage(150, 150, 5)) < 0.08
    assert 0.85 < c["diversity_ratio"] < 1.15
    collapsed = real[:1] + 0.05 * rng.normal(size=(150, 4))
    cc = coverage_metrics(real, collapsed, k=5)
    assert cc["coverage"] < 0.2 and cc["diversity_ratio"] < 0.1 and cc["recall"] < 0.2
    assert expected_coverage(1000, 1000, 1) == pytest.approx(1 - 999 / 1999)


def test_percentile_ci_shift():
    v = np.array([1.0, 2.0, 3.0, np.nan])
    lo, hi = percentile_ci(v, level=0.5)
    assert lo == pytest.approx(1.5) and hi == pytest.approx(2.5)
    lo2, hi2 = percentile_ci(v, level=0.5, estimate=1.0)   # bias +1 removed
    assert (lo2, hi2) == (pytest.approx(0.5), pytest.approx(1.5))
    assert all(np.isnan(percentile_ci(np.array([np.nan]))))


def test_otsu_matches_skimage():
    from skimage.filters import threshold_otsu

    from shapekit.realism.materials import otsu_threshold

    rng = np.random.default_rng(4)
    for _ in range(3):
        img = np.clip(np.r_[rng.normal(0.3, 0.05, 3000), rng.normal(0.7, 0.1, 2000)], 0, 1)
        img = img.reshape(50, 100).astype(np.float32)
        assert otsu_threshold(img) == pytest.approx(float(threshold_otsu(img)), abs=1e-6)


def test_a_summary_constant_up_to_float_rounding_is_scaled_by_the_pooled_spread():
    """Superalloy 0 d against 180 d (8-bit scans) read 'topological_distance 1348.9, baseline 0.65':
    every 0 d scan's q90 H0 lifetime is 8/255, equal up to float32 rounding (sd 1e-8), and the
    summary was divided by that sd (w1_std 307033). A column constant to float precision in the
    real set is now scaled like an exactly constant one, by the pooled spread."""
    from shapekit.realism.imaging import imaging_descriptors, imaging_pooled
    from shapekit.realism.setstats import pooled_features, set_statistics
    from shapekit.realism.summaries import image_features

    rng = np.random.default_rng(0)
    real = image_features([rng.random((24, 24)) for _ in range(6)])
    fake = image_features([rng.random((24, 24)) for _ in range(6)])
    j = 0
    rounding = np.float32(0.34117648) - np.float32(0.30980393) - 8 / 255    # float32 differences of k/255
    real.summaries[:, j] = 8 / 255 + np.array([0, rounding, 0, -rounding, rounding, 0])
    fake.summaries[:, j] = 8 / 255 + 0.004 * rng.standard_normal(6)
    pf = pooled_features(real, fake, rng=np.random.default_rng(1))
    pooled = np.r_[real.summaries[:, j], fake.summaries[:, j]].std(ddof=1)
    assert pf.scale[j] == pytest.approx(pooled)
    w1_std = set_statistics(pf, np.arange(6), np.arange(6, 12))["w1_std"]
    assert w1_std[j] < 5
    # the imaging descriptors likewise (a brightness equal up to rounding in the reference)
    X, _ = imaging_descriptors([rng.random((32, 32)) for _ in range(8)])
    X[:4, 0] = 0.5 + np.array([0, 1e-9, -1e-9, 0])
    assert imaging_pooled(X[:4], X[4:], list(_)).scale[0] > 1e-3
