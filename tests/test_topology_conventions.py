"""PH conventions: connectivity, Euler characteristic, backend agreement, superlevel sign."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from topology_reference import betti_curve, count_components, euler_curve, euler_curve_from_diagrams

from shapekit.errors import InputError
from shapekit.topology import cubical_persistence
from shapekit.topology.locations import persistence_pairs_with_locations

# small integer-valued images make ties (the hard case for pairing) frequent
small_images = arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 7)),
                      elements=st.integers(0, 4).map(float))


def _multiset(d: np.ndarray) -> list[tuple[float, float]]:
    return sorted(map(tuple, np.asarray(d, dtype=float).reshape(-1, 2).tolist()))


@settings(max_examples=60, deadline=None)
@given(small_images, st.sampled_from(["T", "V"]), st.sampled_from(["sublevel", "superlevel"]))
def test_backends_agree(img, construction, filtration):
    pytest.importorskip("cripser")
    a = cubical_persistence(img, filtration, construction=construction, backend="gudhi")
    b = cubical_persistence(img, filtration, construction=construction, backend="cripser")
    for k in (0, 1):
        assert _multiset(a[k]) == _multiset(b[k])


@settings(max_examples=60, deadline=None)
@given(small_images, st.sampled_from(["T", "V"]), st.sampled_from(["sublevel", "superlevel"]))
def test_euler_characteristic_matches_cell_count(img, construction, filtration):
    levels = np.arange(-1.0, 6.0, 0.5)   # pixel values and the gaps between them
    d = cubical_persistence(img, filtration, construction=construction)
    assert np.array_equal(euler_curve(img, levels, construction, filtration),
                          euler_curve_from_diagrams(d, levels, filtration))


@pytest.mark.parametrize("construction", ["T", "V"])
@pytest.mark.parametrize("filtration", ["sublevel", "superlevel"])
def test_h0_counts_connectivity(construction, filtration):
    rng = np.random.default_rng(3)
    img = rng.random((40, 50))
    d = cubical_persistence(img, filtration, construction=construction)
    for t in np.quantile(img, [0.05, 0.2, 0.4, 0.6, 0.8, 0.95]):
        b0 = betti_curve(d[0], [t], filtration=filtration)[0]
        assert b0 == count_components(img, t, construction, filtration)


def test_t_is_8_connected_v_is_4_connected():
    # a dark diagonal: one component under 8-connectivity (T), four under 4-connectivity (V)
    img = np.ones((4, 4)) - np.eye(4)
    t = cubical_persistence(img, construction="T")[0]
    v = cubical_persistence(img, construction="V")[0]
    assert len(t) == 1 and np.isinf(t[0, 1])
    assert len(v) == 4 and np.isinf(v[:, 1]).sum() == 1
    # the complementary bright ring around a dark centre: T loses the H1 class of a diagonal gap
    ring = np.zeros((3, 3))
    ring[[0, 1, 2, 1], [1, 0, 1, 2]] = 1.0   # bright plus-shaped ring, dark corners + centre
    assert len(cubical_persistence(ring, "superlevel", construction="T")[1]) == 1
    assert len(cubical_persistence(ring, "superlevel", construction="V")[1]) == 0


def test_superlevel_is_negated_sublevel_in_original_units():
    rng = np.random.default_rng(0)
    img = rng.random((30, 30))
    sup = cubical_persistence(img, "superlevel")
    neg = cubical_persistence(-img, "sublevel")
    for k in (0, 1):
        assert _multiset(sup[k]) == _multiset(-neg[k])
        fin = np.isfinite(sup[k][:, 1])
        assert np.all(sup[k][fin, 0] > sup[k][fin, 1])    # births above deaths
    ess = sup[0][~np.isfinite(sup[0][:, 1])]
    assert ess.tolist() == [[img.max(), -np.inf]]
    sub_ess = cubical_persistence(img)[0]
    assert sub_ess[~np.isfinite(sub_ess[:, 1])].tolist() == [[img.min(), np.inf]]


def test_essential_modes():
    img = np.array([[0.0, 3.0, 1.0], [3.0, 3.0, 3.0], [2.0, 3.0, 0.5]])
    keep = cubical_persistence(img, essential="keep")[0]
    assert np.isinf(keep[:, 1]).sum() == 1
    drop = cubical_persistence(img, essential="drop")[0]
    assert len(drop) == len(keep) - 1 and np.isfinite(drop).all()
    cap = cubical_persistence(img, essential="cap")[0]
    assert [0.0, 3.0] in cap.tolist() and np.isfinite(cap).all()
    capsup = cubical_persistence(img, "superlevel", essential="cap")[0]
    assert capsup.tolist() == [[3.0, 0.0]]


def test_min_persistence_filters_strictly():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 10, (25, 25)).astype(float)
    full = cubical_persistence(img)
    for mp in (0.0, 1.0, 3.0):
        for backend in ("gudhi", "cripser"):
            if backend == "cripser":
                pytest.importorskip("cripser")
            for construction in ("T", "V"):
                f = cubical_persistence(img, min_persistence=mp, backend=backend,
                                        construction=construction)
                ref = cubical_persistence(img, backend=backend, construction=construction)
                for k in (0, 1):
                    life = ref[k][:, 1] - ref[k][:, 0]
                    assert _multiset(f[k]) == _multiset(ref[k][(life > mp) | np.isinf(life)])
    assert all(len(full[k]) and (np.diff(full[k], axis=1) > 0).all() for k in (0, 1))


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1), (2, 2)])
def test_thin_images_agree_across_backends(shape):
    pytest.importorskip("cripser")
    img = np.arange(np.prod(shape), dtype=float).reshape(shape) % 3
    for construction in ("T", "V"):
        a = cubical_persistence(img, construction=construction)
        b = cubical_persistence(img, construction=construction, backend="cripser")
        assert all(_multiset(a[k]) == _multiset(b[k]) for k in (0, 1))
        assert np.isinf(a[0][:, 1]).sum() == 1          # one connected image, one essential bar


def test_dims_and_degenerate_shapes():
    d = cubical_persistence(np.arange(5.0)[None, :], dims=(0, 1, 2))
    assert d[0].tolist() == [[0.0, np.inf]] and d[1].shape == (0, 2) and d[2].shape == (0, 2)
    const = cubical_persistence(np.full((8, 8), 0.3))
    assert const[0].tolist() == [[0.3, np.inf]] and const[1].shape == (0, 2)
    assert list(cubical_persistence(np.eye(3), dims=1)) == [1]


@pytest.mark.parametrize("bad, match", [
    (np.array([[np.nan, 1.0], [0.0, 1.0]]), "NaN"),
    (np.zeros((2, 2, 2)), "2-D"),
    (np.zeros((0, 4)), "empty"),
    (np.array([["a", "b"]]), "numeric"),
])
def test_bad_images(bad, match):
    with pytest.raises(InputError, match=match):
        cubical_persistence(bad)


@pytest.mark.parametrize("kw", [{"filtration": "upper"}, {"construction": "X"},
                                {"backend": "ripser"}, {"essential": "zero"},
                                {"min_persistence": -1}, {"dims": (-1,)}])
def test_bad_options(kw):
    with pytest.raises(InputError):
        cubical_persistence(np.eye(3), **kw)


@pytest.mark.parametrize("construction", ["T", "V"])
@pytest.mark.parametrize("filtration", ["sublevel", "superlevel"])
@pytest.mark.parametrize("backend", ["gudhi", "cripser"])
def test_locations_point_at_the_pixels(construction, filtration, backend):
    if backend == "cripser":
        pytest.importorskip("cripser")
    rng = np.random.default_rng(7)
    img = rng.integers(0, 6, (12, 15)).astype(float)
    loc = persistence_pairs_with_locations(img, filtration, construction, backend)
    ref = cubical_persistence(img, filtration, construction=construction)
    for k in (0, 1):
        rows = loc[k]
        assert rows.shape[1] == 6
        assert _multiset(rows[:, :2]) == _multiset(ref[k])
        br, bc = rows[:, 2].astype(int), rows[:, 3].astype(int)
        assert np.array_equal(img[br, bc], rows[:, 0])
        fin = np.isfinite(rows[:, 1])
        dr, dc = rows[fin, 4].astype(int), rows[fin, 5].astype(int)
        assert np.array_equal(img[dr, dc], rows[fin, 1])
        assert (rows[~fin, 4:] == -1).all()


def test_locations_of_a_single_dark_spot():
    img = np.ones((9, 9))
    img[6, 2] = 0.0
    img[1, 7] = 0.2
    loc = persistence_pairs_with_locations(img)[0]
    finite = loc[np.isfinite(loc[:, 1])]
    assert finite.tolist() == [[0.2, 1.0, 1.0, 7.0, finite[0, 4], finite[0, 5]]]
    ess = loc[~np.isfinite(loc[:, 1])]
    assert ess[0, 2:4].tolist() == [6.0, 2.0]


def test_batch_equals_loop_on_threads():
    from shapekit.topology import cubical_persistence_batch

    rng = np.random.default_rng(11)
    imgs = [rng.random((20 + i, 30)) for i in range(5)]
    batch = cubical_persistence_batch(imgs, "superlevel", n_jobs=2, min_persistence=0.1)
    for im, got in zip(imgs, batch):
        ref = cubical_persistence(im, "superlevel", min_persistence=0.1)
        assert all(np.array_equal(got[k], ref[k]) for k in (0, 1))


def test_missing_cripser_is_a_clear_input_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cripser", None)   # import cripser -> ImportError
    with pytest.raises(InputError, match="cripser"):
        cubical_persistence(np.eye(4), backend="cripser")
    # the V-construction still works without it (GUDHI vertices, exact)
    assert len(cubical_persistence(1 - np.eye(4), construction="V")[0]) == 4


@pytest.mark.parametrize("backend", ["gudhi", "torch"])
def test_pairs_with_locations_are_bounded_before_gudhi_allocates(monkeypatch, backend):
    """GUDHI's cubical complex with locations needs about 250 bytes a pixel: an image whose
    ``CELL_WORK x height x width`` exceeds the pixel budget is refused in one line (session 24:
    explain on a 12000^2 scan, accepted as an image, would have needed about 35 GB). The torch
    backend was not checked at all ("it sizes its own chunks": not here, one image is one chunk),
    though it takes up to ~230 bytes a pixel with the pairs' arrays."""
    from shapekit.errors import InputError
    from shapekit.topology.locations import CELL_WORK

    img = np.random.default_rng(0).random((40, 30))
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", str(CELL_WORK * 40 * 30))
    assert len(persistence_pairs_with_locations(img, "sublevel", backend=backend)[0]) > 1
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", str(CELL_WORK * 40 * 30 - 1))
    with pytest.raises(InputError, match=r"persistence pairs with locations of a 30x40 image"):
        persistence_pairs_with_locations(img, "superlevel", backend=backend)
