"""backend="torch": exact against GUDHI (pair multisets, zero-persistence pairs removed) on
>10,000 tiles of every kind, both filtrations and constructions; API, memory bound, worst cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shapekit.errors import InputError
from shapekit.topology import cubical_persistence, cubical_persistence_batch
from shapekit.topology import torch_batch
from shapekit.topology.torch_ph import (BYTES_PER_PIXEL, _elder_rounds, order_keys,
                                        persistence_tensors)

N_TILES = {"count": 0}      # tiles checked against GUDHI in this module (asserted at the end)


def _canon(d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64).reshape(-1, 2)
    d = d[d[:, 0] != d[:, 1]]
    return d[np.lexsort((d[:, 1], d[:, 0]))]


def _check_against_gudhi(tiles, construction: str = "T", filtrations=("sublevel", "superlevel")):
    """Every tile, every filtration: the torch batch equals GUDHI's diagrams exactly."""
    tiles = list(tiles)
    for f in filtrations:
        got = cubical_persistence_batch(tiles, f, backend="torch", construction=construction,
                                        device="cpu")
        for i, t in enumerate(tiles):
            ref = cubical_persistence(t, f, construction=construction)
            for k in (0, 1):
                a, b = _canon(ref[k]), _canon(got[i][k])
                assert a.shape == b.shape and np.array_equal(a, b), \
                    f"{f} {construction} H{k} tile {i} shape {t.shape}:\n{t}\n{a}\n{b}"
    N_TILES["count"] += len(tiles)


SHAPES = [(4, 4), (5, 7), (8, 8), (9, 16), (16, 16), (13, 24), (32, 32)]
THIN = [(1, 1), (1, 2), (1, 9), (9, 1), (2, 2), (2, 11), (11, 2), (3, 1), (1, 32), (2, 32)]


@pytest.mark.parametrize("shape", SHAPES)
def test_random_tiles(shape):
    rng = np.random.default_rng(hash(shape) % 2**32)
    _check_against_gudhi(rng.random((500, *shape)).astype(np.float32))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("levels", [2, 3, 8])
def test_quantised_tiles_many_ties(shape, levels):
    rng = np.random.default_rng(levels * 1000 + shape[0])
    n = 500 if levels == 8 else 200
    _check_against_gudhi(rng.integers(0, levels, (n, *shape)).astype(np.float32))


@pytest.mark.parametrize("shape", THIN)
def test_thin_and_tiny_shapes(shape):
    rng = np.random.default_rng(7)
    tiles = np.concatenate([rng.random((60, *shape)), rng.integers(0, 4, (60, *shape))])
    _check_against_gudhi(tiles)


def test_constant_checkerboard_single_pixel():
    tiles = []
    for h, w in [(1, 1), (1, 5), (4, 4), (7, 5), (16, 16), (2, 9)]:
        yy, xx = np.mgrid[:h, :w]
        tiles += [np.zeros((h, w)), np.full((h, w), 3.5), ((yy + xx) % 2).astype(float),
                  ((yy // 2 + xx // 2) % 2).astype(float), (yy % 2).astype(float)]
        for v in (-1.0, 1.0):
            for y, x in [(0, 0), (h // 2, w // 2), (h - 1, w - 1)]:
                t = np.zeros((h, w))
                t[y, x] = v
                tiles.append(t)
    _check_against_gudhi(tiles)


def test_smooth_tiles_and_float64_values():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(3)
    tiles = [gaussian_filter(rng.random((48, 40)), s) for s in (1, 2, 4) for _ in range(40)]
    assert tiles[0].dtype == np.float64          # not float32-exact: the dense-rank key path
    _check_against_gudhi(tiles)


def test_v_construction():
    rng = np.random.default_rng(11)
    tiles = [rng.integers(0, 5, s).astype(float) for s in [(1, 6), (2, 5), (6, 6), (9, 12)]
             for _ in range(60)] + [rng.random((12, 10)) for _ in range(60)]
    _check_against_gudhi(tiles, construction="V")


def test_simulator_tiles():
    from shapekit.synth import render_micrograph

    tiles = []
    for i, (temp, hours) in enumerate([(160, 1), (200, 10), (240, 100), (180, 30)]):
        img, _ = render_micrograph(temp, hours, size=128, seed=i)
        tiles += [img[y:y + 32, x:x + 32] for y in range(0, 128, 32) for x in range(0, 128, 32)]
        tiles.append(img)
    _check_against_gudhi(tiles)


def test_real_uhcs3_tiles(uhcs3_dir):
    import pandas as pd

    from shapekit.io import read_image

    files = pd.read_csv(uhcs3_dir / "labels.csv")["file"].tolist()
    rng = np.random.default_rng(0)
    tiles = []
    for f in rng.permutation(files)[:6]:
        img = read_image(uhcs3_dir / "images" / f)[0]
        tiles += [img[y:y + 32, x:x + 32] for y in range(0, 256, 32) for x in range(0, 256, 32)]
        tiles += [img[:64, :96], img[100:356, 200:456]]        # and a 256^2 one
    _check_against_gudhi(tiles)


# small images with many ties: the hard case for pairing
small = arrays(np.float64, st.tuples(st.integers(1, 9), st.integers(1, 9)),
               elements=st.integers(0, 4).map(float))
small_float = arrays(np.float32, st.tuples(st.integers(1, 9), st.integers(1, 9)),
                     elements=st.floats(-1e6, 1e6, width=32))


@settings(max_examples=150, deadline=None)
@given(small, st.sampled_from(["T", "V"]))
def test_property_ties(img, construction):
    _check_against_gudhi([img], construction)


@settings(max_examples=100, deadline=None)
@given(st.lists(small_float, min_size=1, max_size=6))
def test_property_batches_of_mixed_shapes(imgs):
    _check_against_gudhi(imgs)


def test_corpus_size():
    # the tests above (collected in file order) check >= 10,000 tiles, each in both filtrations
    if N_TILES["count"] < 10_000:
        pytest.skip(f"only {N_TILES['count']} tiles ran (a subset of this module was selected)")
    assert N_TILES["count"] >= 10_000


# --------------------------------------------------------------------- API and conventions
def test_options_match_gudhi_path():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 6, (20, 17)).astype(np.float32)
    for kw in [dict(dims=(1,)), dict(dims=(0, 1, 2)), dict(essential="drop"),
               dict(essential="cap"), dict(min_persistence=1.5),
               dict(filtration="superlevel", essential="cap")]:
        a = cubical_persistence(img, **kw)
        b = cubical_persistence(img, backend="torch", device="cpu", **kw)
        assert sorted(a) == sorted(b)
        for k in a:
            assert np.array_equal(_canon(a[k]), _canon(b[k])), kw
    sup = cubical_persistence(img, "superlevel", backend="torch", device="cpu")
    assert sup[0][-1, 1] == -np.inf and np.all(sup[0][:, 0] >= sup[0][:, 1])


def test_input_types_and_errors():
    x = np.array([[3, 1, 3], [3, 3, 3], [0, 3, 2]], dtype=np.uint8)
    ref = cubical_persistence(x)
    got = cubical_persistence(x, backend="torch", device="cpu")
    assert np.array_equal(_canon(ref[0]), _canon(got[0]))
    with pytest.raises(InputError, match="NaN"):
        cubical_persistence(np.array([[0.0, np.nan]]), backend="torch", device="cpu")
    with pytest.raises(InputError, match="backend"):
        cubical_persistence(x, backend="torchh")
    with pytest.raises(InputError, match="device"):
        cubical_persistence(x, backend="torch", device="nodevice")
    with pytest.raises(InputError, match="memory_budget"):
        cubical_persistence_batch([x], backend="torch", device="cpu", memory_budget=-5)


def test_order_keys_total_order_and_ties():
    v = torch.tensor([0.0, -0.0, 1e-30, -1e-30, 3.5, -7.0, 3.5, float("inf"), -float("inf")])
    k = order_keys(v)
    assert torch.equal(torch.argsort(k, stable=True), torch.argsort(v, stable=True))
    assert k[0] == k[1] and k[4] == k[6]
    big = torch.tensor([2**40 + 1, 2**40, 5], dtype=torch.int64)     # not float32-exact
    assert order_keys(big).tolist() == [2, 1, 0]


def test_batch_is_split_to_the_budget_and_results_unchanged(monkeypatch):
    rng = np.random.default_rng(2)
    tiles = list(rng.random((40, 24, 24)).astype(np.float32)) + list(rng.random((5, 9, 30)))
    whole = cubical_persistence_batch(tiles, backend="torch", device="cpu")
    calls = []
    real = torch_batch._run

    def counting(stack, *a, **k):
        calls.append(len(stack))
        return real(stack, *a, **k)

    monkeypatch.setattr(torch_batch, "_run", counting)
    budget = 7 * 26 * 26 * BYTES_PER_PIXEL          # 7 tiles of 24^2 (padded to 26^2)
    split = cubical_persistence_batch(tiles, backend="torch", device="cpu", memory_budget=budget)
    assert max(calls) <= 7 and sum(calls) == 45 and len(calls) >= 7
    for a, b in zip(whole, split):
        for k in (0, 1):
            assert np.array_equal(a[k], b[k])
    with pytest.raises(InputError, match="memory budget"):
        cubical_persistence_batch(tiles[:1], backend="torch", device="cpu", memory_budget=1000)


def test_deterministic_row_order():
    rng = np.random.default_rng(9)
    tiles = rng.integers(0, 5, (30, 20, 20)).astype(np.float32)
    a = cubical_persistence_batch(tiles, backend="torch", device="cpu")
    b = cubical_persistence_batch(tiles[::-1].copy(), backend="torch", device="cpu")[::-1]
    for x, y in zip(a, b):
        for k in (0, 1):
            assert np.array_equal(x[k], y[k])


def test_nested_staircase_worst_case_is_exact():
    # minima 1 < 2 < ... each nested deeper, saddles falling towards the innermost: the elder
    # rounds resolve one level per round here, and stay exact
    n = 40
    line = np.empty(2 * n - 1)
    line[0::2] = np.arange(1, n + 1)
    line[1::2] = 1000 - np.arange(n - 1)
    _check_against_gudhi([line[None, :], np.tile(line, (3, 1))])
    x = torch.from_numpy(line[None, None, :])
    nkey = torch.arange(n, dtype=torch.int64)            # node i: the i-th minimum
    u, v = torch.arange(n - 1), torch.arange(1, n)
    w = torch.tensor(1000 - np.arange(n - 1), dtype=torch.int64) + n
    dead, death, surv, rounds = _elder_rounds(nkey, u, v, w)
    assert rounds == n - 1 and surv.tolist() == [0]
    assert sorted(zip(dead.tolist(), death.tolist())) == [(i, int(w[i - 1])) for i in range(1, n)]
    assert persistence_tensors(x).counts.tolist() == [[n, 0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_equals_cpu():
    rng = np.random.default_rng(4)
    tiles = list(rng.integers(0, 8, (300, 32, 32)).astype(np.float32))
    for f in ("sublevel", "superlevel"):
        a = cubical_persistence_batch(tiles, f, backend="torch", device="cpu")
        b = cubical_persistence_batch(tiles, f, backend="torch", device="cuda")
        for x, y in zip(a, b):
            for k in (0, 1):
                assert np.array_equal(_canon(x[k]), _canon(y[k]))


def test_stacked_array_path_equals_list_and_leaves_input_alone():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 6, (12, 10, 11)).astype(np.float32)
    x0 = x.copy()
    for kw in [dict(), dict(filtration="superlevel", essential="cap")]:
        a = cubical_persistence_batch(x, backend="torch", device="cpu", **kw)
        b = cubical_persistence_batch(list(x), backend="torch", device="cpu", **kw)
        assert np.array_equal(x, x0)                    # no in-place negation of the caller's data
        for i in range(len(x)):
            ref = cubical_persistence(x[i], **kw)
            for k in (0, 1):
                assert np.array_equal(a[i][k], b[i][k])
                assert np.array_equal(_canon(a[i][k]), _canon(ref[k]))
    x[4, 1, 1] = np.inf
    with pytest.raises(InputError, match=r"images\[4\]"):
        cubical_persistence_batch(x, backend="torch", device="cpu")


@pytest.mark.parametrize("construction", ["T", "V"])
@pytest.mark.parametrize("filtration", ["sublevel", "superlevel"])
def test_locations_point_at_pixels_holding_the_values(construction, filtration):
    from shapekit.topology import persistence_pairs_with_locations

    rng = np.random.default_rng(6)
    for img in [rng.integers(0, 5, (14, 11)).astype(float), rng.random((9, 17))]:
        ref = persistence_pairs_with_locations(img, filtration, construction)
        got = persistence_pairs_with_locations(img, filtration, construction, backend="torch",
                                               device="cpu")
        for k in (0, 1):
            assert np.array_equal(_canon(ref[k][:, :2]), _canon(got[k][:, :2]))
            r = got[k]
            fin = np.isfinite(r[:, 1])
            ij = r[:, 2:6].astype(int)
            assert np.array_equal(img[ij[:, 0], ij[:, 1]], r[:, 0])
            assert np.array_equal(img[ij[fin, 2], ij[fin, 3]], r[fin, 1])
            assert np.all(ij[~fin, 2:4] == -1)
