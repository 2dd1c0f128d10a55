"""``lpca`` is local PCA: the PCA dimension of each point's neighbourhood, averaged over points.

It was one PCA of the whole cloud: two well-separated flats read 1 (the direction between them
dwarfed everything else) while each alone read its own dimension.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shapekit.analysis import intrinsic_dimension, layer_intrinsic_dimension, lpca_id
from shapekit.errors import InputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _flat(rng: np.random.Generator, n: int, d: int, D: int, offset: float = 0.0) -> np.ndarray:
    """``n`` Gaussian points on a random ``d``-dimensional linear subspace of R^D, shifted."""
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, D)) + offset


@pytest.mark.parametrize(("d", "D"), [(3, 10), (7, 40), (4, 500)])  # covariance and Gram paths
def test_a_linear_subspace_reads_its_dimension_at_every_point(d, D):
    rng = np.random.default_rng(d)
    X = _flat(rng, 400, d, D, offset=5.0)
    est, local = lpca_id(X, k=40, return_pointwise=True)
    assert est == d and local.shape == (400,) and set(local) == {d}


def test_two_separated_flats_each_read_their_own_dimension():
    rng = np.random.default_rng(0)
    A, B = _flat(rng, 300, 3, 50), _flat(rng, 300, 6, 50, offset=1000.0)
    est, local = lpca_id(np.vstack([A, B]), k=30, return_pointwise=True)
    assert set(local[:300]) == {3} and set(local[300:]) == {6}  # the global PCA read 1 for all
    assert est == pytest.approx(4.5)
    r = intrinsic_dimension(np.vstack([A, B]), ["lpca", "mle"], k=10, k_lpca=30)
    assert r["lpca"] == pytest.approx(4.5) and r["k_lpca"] == 30.0 and r["k"] == 10.0


def test_neighbourhood_size_and_curvature():
    rng = np.random.default_rng(0)
    t = 1.5 * np.pi * (1 + 2 * rng.random(2000))  # a Swiss roll: a curved 2-dim sheet in R^3
    roll = np.stack([t * np.cos(t), 21 * rng.random(2000), t * np.sin(t)], axis=1)
    assert lpca_id(roll, k=20) == pytest.approx(2, abs=0.01)  # small neighbourhoods are flat
    assert lpca_id(roll, k=1999) == 3.0  # the whole roll: global PCA
    X = _flat(rng, 50, 10, 30)
    assert lpca_id(X, k=6, return_pointwise=True)[1].max() == 5  # 6 points span at most 5
    assert intrinsic_dimension(X, ["lpca"], k_lpca=500)["k_lpca"] == 49.0  # at most n - 1
    with pytest.raises(InputError, match="k must be >= 2"):
        lpca_id(X, k=1)
    with pytest.raises(InputError, match="alpha must be in"):
        lpca_id(X, alpha=1.5)
    with pytest.raises(InputError, match="k_lpca must be >= 2"):
        intrinsic_dimension(X, k_lpca=1)


def test_layer_rows_use_k_lpca():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16))  # linear: the flats stay flats
    far = torch.zeros(100, 4)
    far[:, :2] = torch.randn(100, 2)  # group 1: a 2-dim flat ...
    x = torch.cat([torch.randn(100, 4), far + 50.0])  # ... far from group 0, a 4-dim one
    rows = layer_intrinsic_dimension(net, x, ["0"], groups=[0] * 100 + [1] * 100,
                                     methods=["lpca"], k_lpca=20, include_input=False)
    got = {r["group"]: (r["lpca"], r["k_lpca"]) for r in rows}
    assert got == {"all": (3.0, 20.0), "0": (4.0, 20.0), "1": (2.0, 20.0)}


def test_agrees_with_scikit_dimension_pointwise():
    skdim = pytest.importorskip("skdim")
    rng = np.random.default_rng(1)
    t = 1.5 * np.pi * (1 + 2 * rng.random(600))
    roll = np.stack([t * np.cos(t), 21 * rng.random(600), t * np.sin(t)], axis=1)
    blob = np.vstack([_flat(rng, 300, 8, 40), rng.normal(size=(300, 40)) * 0.1 + 30])
    for X, k in ((roll, 60), (blob, 25)):
        est, local = lpca_id(X, k=k, return_pointwise=True)
        ref = skdim.id.lPCA(ver="FO", alphaFO=0.05).fit_pw(X, n_neighbors=k).dimension_pw_
        assert np.array_equal(local, ref) and est == pytest.approx(ref.mean())


def test_too_few_neighbours_per_dimension_get_a_note():
    X = _flat(np.random.default_rng(0), 400, 20, 60)
    notes: list[str] = []
    r = intrinsic_dimension(X, ["lpca"], k_lpca=30, notes=notes)
    assert r["lpca"] < 19  # 30 neighbours for 20 dimensions: the smallest variances drop out
    assert notes == [f"lpca {r['lpca']:.1f} from 30 neighbours: under about 2.5 per dimension local "
                     f"PCA reads low (more points or a larger k_lpca)"]
    notes.clear()
    assert intrinsic_dimension(X, ["lpca"], k_lpca=100, notes=notes)["lpca"] == 20.0 and not notes
