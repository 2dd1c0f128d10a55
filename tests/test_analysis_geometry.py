"""Known-answer tests: intrinsic dimension and CKA (shapekit.analysis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shapekit.analysis import (MinibatchCKA, cka, dedup_points, intrinsic_dimension,
                               layer_intrinsic_dimension, layerwise_cka, linear_cka, lpca_id,
                               mle_id, rbf_cka, twonn)
from shapekit.errors import InputError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gauss10() -> np.ndarray:
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(100, 10)))
    return rng.normal(size=(2000, 10)) @ Q.T


@pytest.fixture(scope="module")
def swiss() -> np.ndarray:
    """sklearn's make_swiss_roll construction, in numpy."""
    rng = np.random.default_rng(0)
    t = 1.5 * np.pi * (1 + 2 * rng.random(2000))
    return np.stack([t * np.cos(t), 21 * rng.random(2000), t * np.sin(t)], axis=1)


# ----------------------------------------------------------------------------- intrinsic dimension
def test_gaussian_in_r100(gauss10):
    assert abs(twonn(gauss10) - 9.6) < 1.0
    assert abs(mle_id(gauss10, k=20) - 9.1) < 1.0
    assert lpca_id(gauss10) == 10


def test_swiss_roll(swiss):
    assert 1.7 < twonn(swiss) < 2.3
    assert 1.7 < mle_id(swiss, k=20) < 2.3
    assert 2 < lpca_id(swiss) < 3  # local PCA: 100-point neighbourhoods see some of the curvature


def test_agrees_with_scikit_dimension(gauss10, swiss):
    skdim = pytest.importorskip("skdim")
    for X in (gauss10[:800], swiss[:800]):
        assert twonn(X) == pytest.approx(skdim.id.TwoNN().fit(X).dimension_, abs=5e-3)
        assert mle_id(X, k=20) == pytest.approx(
            skdim.id.MLE().fit(X, n_neighbors=20).dimension_, abs=5e-3)


def test_duplicates_removed_not_jittered():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 3))
    Xd = np.concatenate([X, X[:300]])  # 300 exact duplicates: r1 = 0 without dedup
    assert len(dedup_points(Xd)) == 600
    assert twonn(Xd) == twonn(X)  # identical point set after dedup: identical estimate
    assert mle_id(Xd, k=10) == mle_id(X, k=10)
    assert np.isfinite(twonn(Xd))


def test_id_errors_and_device():
    with pytest.raises(InputError):
        twonn(np.zeros((10, 3)))  # one distinct point
    with pytest.raises(InputError):
        intrinsic_dimension(np.random.rand(50, 3), ["bogus"])
    with pytest.raises(InputError):
        twonn(np.array([[np.nan, 1.0]] * 5))
    r = intrinsic_dimension(np.random.default_rng(0).normal(size=(300, 2)), device="cpu")
    assert r["lpca"] == 2 and 1.5 < r["twonn"] < 2.5


def test_layer_id_bounded_by_latent_dim():
    """ID of a smooth map's image is at most the input dimension (the GAN property test)."""
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 128), nn.Tanh())
    z = torch.randn(800, 3)
    groups = np.repeat(["a", "b"], 400)
    rows = layer_intrinsic_dimension(gen, z, ["1", "3"], groups=groups, methods=["twonn", "mle"])
    assert {(r["layer"], r["group"]) for r in rows} >= {("3", "a"), ("3", "all"), ("input", "b")}
    for r in rows:
        assert r["twonn"] < 3.6 and r["mle"] < 3.6
        assert r["twonn"] > 2.3
    with pytest.raises(InputError):
        layer_intrinsic_dimension(gen, z, ["nope"])


# ----------------------------------------------------------------------------------------- CKA
@pytest.fixture(scope="module")
def reps():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 20))
    Q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    return X, Q


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_cka_self_and_invariances(reps, kernel, debiased):
    X, Q = reps
    assert cka(X, X, kernel=kernel, debiased=debiased) == pytest.approx(1.0, abs=1e-6)
    assert cka(X, 3.7 * X @ Q + 5.0, kernel=kernel, debiased=debiased) == pytest.approx(1.0, abs=1e-6)
    assert cka(torch.as_tensor(X).float(), X, kernel=kernel) == pytest.approx(1.0, abs=1e-5)


def test_cka_not_invariant_to_general_linear_maps(reps):
    X, _ = reps
    A = np.random.default_rng(5).normal(size=(20, 20))
    v = linear_cka(X, X @ A)
    assert 0.3 < v < 0.95


def test_debiased_cka_of_independent_gaussians():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(1000, 64)), rng.normal(size=(1000, 64))
    assert abs(linear_cka(X, Y, debiased=True)) < 0.02
    assert linear_cka(X, Y) > 0.03  # the biased estimator is pulled up at this n and width
    assert abs(rbf_cka(X, Y, debiased=True)) < 0.02


def test_minibatch_cka_matches_full_debiased():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(1000, 32))
    H = np.maximum(Z @ rng.normal(size=(32, 64)), 0) + rng.normal(size=(1000, 64))
    full = linear_cka(Z, H, debiased=True)
    m = MinibatchCKA(1, 2)
    for s in range(0, 1000, 100):
        m.update([Z[s:s + 100]], [H[s:s + 100], Z[s:s + 100]])
    M = m.compute()
    assert abs(M[0, 0] - full) < 0.01
    assert M[0, 1] == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(InputError):
        m.update([Z[:3]], [H[:3], Z[:3]])  # < 4 rows: no unbiased HSIC


def test_cka_degenerate_inputs_are_defined():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 5))
    C = np.ones((50, 4))
    for kw in ({}, {"debiased": True}, {"kernel": "rbf"}):
        assert cka(C, X, **kw) == 0.0
        assert cka(C, 2 * C, **kw) == 1.0
    D = np.repeat(X[:10], 5, axis=0)  # duplicated rows
    assert cka(D, D) == pytest.approx(1.0) and np.isfinite(cka(D, D[:, ::-1], kernel="rbf"))
    with pytest.raises(InputError):
        cka(X, X[:40])
    with pytest.raises(InputError):
        cka(X, X, kernel="cosine")
    m = MinibatchCKA(1, 1)
    m.update([np.ones((10, 3))], [X[:10]])
    assert m.compute()[0, 0] == 0.0


def test_layerwise_cka_models():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    x = torch.randn(200, 6)
    M = layerwise_cka(net, net, x, layers_a=["1", "3"], layers_b=["1", "3"], batch_size=50)
    assert M.shape == (2, 2)
    assert np.allclose(np.diag(M), 1.0)
    assert M[0, 1] < 1.0
    full = layerwise_cka(net, net, x, layers_a=["1"], layers_b=["3"], minibatch=False)
    assert full[0, 0] == pytest.approx(cka(net[:2](x).detach(), net[:4](x).detach()), abs=1e-9)


def test_lazy_exports_are_what_they_name():
    """No public name of shapekit.analysis is also a submodule name (a submodule import would
    replace the function by the module), and each resolves to its object."""
    import importlib
    import pkgutil

    import shapekit.analysis as a

    subs = {m.name for m in pkgutil.iter_modules(a.__path__)}
    assert not subs & set(a.__all__)
    for name in a.__all__:
        importlib.import_module(a._LAZY[name])
        obj = getattr(a, name)
        assert not isinstance(obj, type(a)) and getattr(obj, "__name__", name) in (name, type(obj).__name__)
