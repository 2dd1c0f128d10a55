"""Vectorisers: the compiled kernel against the per-diagram reference; the reference against
known answers, brute force and persim."""

from __future__ import annotations

import numpy as np
import pytest

from topology_reference import (
    betti_curve,
    diagram_summaries,
    persistence_image,
    persistence_landscape,
    summary_names,
    summary_vector,
)

from shapekit.errors import InputError
from shapekit.topology import vectorize as V


def test_summaries_known_values():
    d = np.array([[0.0, 1.0], [0.5, 0.75], [0.2, 0.2 + 2.0], [0.0, np.inf]])
    s = diagram_summaries(d, thresholds=(0.3, 1.5), quantiles=(0.5,))
    assert list(s) == summary_names((0.3, 1.5), (0.5,))
    assert s["n_pairs"] == 3 and s["n_essential"] == 1
    assert s["count_above_0"] == 2 and s["count_above_1"] == 1
    assert s["total_persistence"] == pytest.approx(3.25)
    assert s["total_persistence_sq"] == pytest.approx(1 + 0.0625 + 4)
    assert s["max_persistence"] == pytest.approx(2.0)
    p = np.array([1.0, 0.25, 2.0]) / 3.25
    assert s["persistence_entropy"] == pytest.approx(-(p * np.log(p)).sum())
    assert s["lifetime_q50"] == pytest.approx(1.0)
    assert s["birth_q50"] == pytest.approx(0.2) and s["death_q50"] == pytest.approx(1.0)


def test_summaries_superlevel_orientation_and_empty():
    sup = diagram_summaries([[0.9, 0.4], [0.7, 0.6], [1.0, -np.inf]], thresholds=(0.2,))
    assert sup["n_pairs"] == 2 and sup["count_above_0"] == 1
    assert sup["total_persistence"] == pytest.approx(0.6)
    empty = diagram_summaries(np.empty((0, 2)))
    assert all(np.isfinite(v) for v in empty.values()) and empty["n_pairs"] == 0
    only_ess = diagram_summaries([[0.0, np.inf]], fill_value=-1.0)
    assert only_ess["n_essential"] == 1 and only_ess["birth_q50"] == -1.0


def _brute_betti(d, grid, sup):
    out = []
    for t in grid:
        if sup:
            out.append(np.sum((d[:, 1] < t) & (t <= d[:, 0])))
        else:
            out.append(np.sum((d[:, 0] <= t) & (t < d[:, 1])))
    return np.array(out, float)


@pytest.mark.parametrize("uniform", [True, False])
def test_betti_curve_matches_brute_force(uniform):
    rng = np.random.default_rng(0)
    b = rng.integers(0, 10, 300) / 10.0
    d = np.c_[b, b + rng.integers(0, 5, 300) / 10.0]
    d[:3, 1] = np.inf
    grid = np.linspace(-0.2, 1.6, 19) if uniform else np.sort(rng.random(15) * 1.6)
    grid = np.unique(np.concatenate([grid, [0.3, 0.5]]))  # values equal to births/deaths
    assert np.array_equal(betti_curve(d, grid), _brute_betti(d, grid, False))
    sup = -d
    assert np.array_equal(betti_curve(sup, -grid[::-1]), _brute_betti(sup, -grid[::-1], True))


def test_persistence_image_exact_equals_persim():
    persim = pytest.importorskip("persim")
    rng = np.random.default_rng(1)
    b = rng.random(150)
    d = np.c_[b, b + rng.random(150) * 0.5]
    s = 0.07
    ref = persim.PersistenceImager(
        birth_range=(0, 1), pers_range=(0, 0.5), pixel_size=0.1,
        weight=lambda birth, pers, **kw: np.ones_like(birth),
        kernel_params={"sigma": np.array([[s * s, 0.0], [0.0, s * s]])}).transform(d)
    mine = persistence_image(d, (0, 1), (0, 0.5), resolution=(10, 5), sigma=s, weight="none",
                             method="exact")
    assert mine.shape == ref.shape == (10, 5)
    assert np.allclose(mine, ref, atol=1e-12)


def test_persistence_image_binned_close_to_exact_and_weights():
    rng = np.random.default_rng(2)
    b = rng.normal(0, 1, 5000)
    d = np.c_[b, b + rng.exponential(0.3, 5000)]
    kw = dict(birth_range=(-3, 3), pers_range=(0, 2), resolution=8)
    exact = persistence_image(d, method="exact", **kw)
    binned = persistence_image(d, method="binned", **kw)
    assert np.abs(binned - exact).sum() / exact.sum() < 0.03
    # linear weight: persistence / top of the persistence range, capped at 1
    kw = dict(birth_range=(-10, 10), pers_range=(0, 4), resolution=4, sigma=0.01, method="exact")
    assert persistence_image([[0.1, 2.6]], **kw).sum() == pytest.approx(2.5 / 4)
    assert persistence_image([[0.1, 1.6]], **kw).sum() == pytest.approx(1.5 / 4)
    assert persistence_image([[0.1, 1.6]], **kw)[2, 1] == pytest.approx(1.5 / 4)


def test_landscape_matches_brute_force():
    rng = np.random.default_rng(3)
    grid = np.linspace(0, 1.5, 25)
    for n in (5, 400, 4000):
        lo = rng.random(n)
        hi = lo + rng.exponential(0.05, n)
        tents = np.maximum(np.minimum(grid[None] - lo[:, None], hi[:, None] - grid[None]), 0)
        ref = np.zeros((3, len(grid)))
        top = -np.sort(-tents, axis=0)[:3]
        ref[:len(top)] = top
        assert np.allclose(persistence_landscape(np.c_[lo, hi], grid, 3), ref)
        assert np.allclose(persistence_landscape(np.c_[hi, lo], grid, 3), ref)  # superlevel


def test_bad_diagrams():
    with pytest.raises(InputError):
        diagram_summaries(np.zeros((3, 3)))
    with pytest.raises(InputError):
        betti_curve([[0.0, 1.0]], [1.0, 0.0])
    with pytest.raises(InputError):
        persistence_image([[0.0, 1.0]], (1, 0), (0, 1))


# ----------------------------------------------------------------------------------------------
# the compiled kernel (many diagrams at once) against the per-diagram reference above


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


@pytest.mark.parametrize("superlevel", [False, True])
@pytest.mark.parametrize("lattice", [False, True])
def test_kernel_equals_reference_on_random_diagrams(superlevel, lattice):
    rng = np.random.default_rng(int(superlevel) * 2 + int(lattice))
    sizes = [0, 1, 2, 37, 600, 0, 3000, 5]
    dgms = [_random_diagram(rng, n, superlevel, lattice) for n in sizes]
    dgms.append(np.array([[0.0, np.inf]]) * (-1 if superlevel else 1))   # essential bar only
    dgms.append(np.array([[0.25, 0.25], [0.5, 0.75]]) * (-1 if superlevel else 1))  # zero life
    dgms += [np.zeros((0, 2)), np.zeros((0, 2))]     # trailing empty diagrams
    filt = "superlevel" if superlevel else "sublevel"
    vr = (-2.0, 2.0) if lattice else (-1.7, 2.3)     # lattice: grid points on lattice values
    thr, qs = (0.9, 0.5, 0.75), (0.0, 0.1, 0.5, 0.9, 1.0)   # thresholds deliberately unsorted
    for samples in (None, 64, 4096):
        X = V.persistence_statistics(dgms, thr, qs, quantile_samples=samples)
        ref = np.stack([summary_vector(d, thr, qs, max_quantile_samples=samples) for d in dgms])
        np.testing.assert_allclose(X, ref, rtol=1e-9, atol=1e-9)
    for m in (16, 9, 1):
        ref = np.stack([betti_curve(d, V.grid(*vr, m), filt) for d in dgms])
        np.testing.assert_array_equal(V.betti_curves(dgms, filt, vr, m), ref)
    for res, sigma in ((4, 1.0), (3, 0.5)):
        ref = np.stack([persistence_image(d, (-1.5, 2.5), (0.0, 1.3), res,
                                          sigma=(sigma * 4 / res, sigma * 1.3 / res)).ravel()
                        for d in dgms])
        np.testing.assert_allclose(V.persistence_images(dgms, (-1.5, 2.5), (0.0, 1.3), res, sigma),
                                   ref, rtol=1e-9, atol=1e-12)
    for m, k in ((16, 3), (5, 1)):
        ref = np.stack([persistence_landscape(d, V.grid(*vr, m), k).ravel() for d in dgms])
        np.testing.assert_allclose(V.persistence_landscapes(dgms, vr, m, k), ref, rtol=1e-12,
                                   atol=1e-12)


def test_kernel_quantiles_are_exact_order_statistics():
    # heavy ties and near-ties: the bucket selection must still return exact order statistics
    rng = np.random.default_rng(7)
    b = np.concatenate([np.full(500, 0.3), 0.3 + 1e-13 * rng.integers(0, 3, 500),
                        rng.normal(size=200)])
    d = np.stack([b, b + np.abs(rng.normal(size=len(b))) + 1e-3], axis=1)
    q = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    X = V.persistence_statistics([d], (0.5,), q)[0]
    expect = np.concatenate([np.quantile(d[:, 1] - d[:, 0], q), np.quantile(d[:, 0], q),
                             np.quantile(d[:, 1], q)])
    np.testing.assert_array_equal(X[-15:], expect)


def test_kernel_refuses_nan_and_bad_arguments():
    with pytest.raises(InputError, match="NaN"):
        V.persistence_statistics([np.array([[0.0, np.nan]])])
    with pytest.raises(InputError, match="filtration"):
        V.betti_curves([np.zeros((0, 2))], "auto", (0, 1), 4)
    with pytest.raises(InputError, match="value_range"):
        V.betti_curves([np.zeros((0, 2))], "sublevel", (1, 0), 4)
    with pytest.raises(InputError, match="quantiles"):
        V.persistence_statistics([np.zeros((0, 2))], quantiles=(1.5,))
    with pytest.raises(InputError, match="sigma"):
        V.persistence_images([np.zeros((0, 2))], (0, 1), (0, 1), 4, sigma=0.0)
