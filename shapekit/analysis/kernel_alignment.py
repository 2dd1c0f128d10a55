"""Centered kernel alignment (CKA): linear and RBF, biased and debiased, full and minibatch.

All arithmetic is in float64 on the chosen device. Degenerate inputs have a defined value instead of
NaN: if either representation is constant (zero centred Gram matrix) CKA is 0, except that two
constant representations give 1 (they are identical up to an isotropic scaling). A debiased HSIC
that comes out non-positive in a denominator (possible on tiny samples) also gives 0.

References
----------
.. [1] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, "Similarity of neural network representations
   revisited", ICML (2019).
.. [2] L. Song, A. Smola, A. Gretton, J. Bedo, K. Borgwardt, "Feature selection via dependence
   maximization", JMLR 13 (2012) -- the unbiased HSIC estimator.
.. [3] T. Nguyen, M. Raghu, S. Kornblith, "Do wide and deep networks learn the same things?", ICLR
   (2021) -- minibatch CKA.
.. [4] S. McGuire, S. Jackson, T. Emerson, H. Kvinge, "Do neural networks trained with topological
   features learn different internal representations?", NeurIPS workshop, PMLR 197 (2023).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from shapekit._device import default_device
from shapekit._progress import progress
from shapekit.analysis._hooks import as_tensor, collect_activations
from shapekit.errors import InputError

__all__ = ["gram_linear", "gram_rbf", "hsic", "cka", "linear_cka", "rbf_cka", "MinibatchCKA",
           "layerwise_cka"]

def _prep(X: np.ndarray | torch.Tensor, device: str | torch.device | None) -> torch.Tensor:
    dev = device if isinstance(device, torch.device) else default_device(device)
    t = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(X))
    t = t.detach().to(dev, torch.float64)
    t = t.reshape(len(t), -1)
    if not torch.isfinite(t).all():
        raise InputError("activations contain NaN or Inf values")
    return t


def gram_linear(X: torch.Tensor) -> torch.Tensor:
    """Linear kernel Gram matrix ``X X^T`` of the rows of column-centred ``X``.

    Centring the features first leaves CKA unchanged and avoids cancellation for large offsets.

    Examples
    --------
    >>> gram_linear(torch.eye(2, dtype=torch.float64)).tolist()
    [[0.5, -0.5], [-0.5, 0.5]]
    """
    X = X - X.mean(0, keepdim=True)
    return X @ X.T


def gram_rbf(X: torch.Tensor, sigma_frac: float = 0.8) -> torch.Tensor:
    """RBF Gram matrix ``exp(-|x-y|^2 / (2 s^2))`` with ``s = sigma_frac * median pairwise distance``.

    If every point is identical the bandwidth is undefined and the all-ones matrix is returned.

    Examples
    --------
    >>> K = gram_rbf(torch.randn(5, 3, dtype=torch.float64))
    >>> bool(torch.allclose(K.diagonal(), torch.ones(5, dtype=torch.float64)))
    True
    """
    if sigma_frac <= 0:
        raise InputError(f"sigma_frac must be > 0, got {sigma_frac}")
    sq = torch.cdist(X, X).pow(2)
    n = len(X)
    off = sq[~torch.eye(n, dtype=torch.bool, device=X.device)]
    med = off.sqrt().median() if off.numel() else torch.zeros((), dtype=X.dtype, device=X.device)
    if med <= 0:
        return torch.ones_like(sq)
    return torch.exp(-sq / (2 * (sigma_frac * med) ** 2))


def hsic(K: torch.Tensor, L: torch.Tensor, *, debiased: bool = False) -> torch.Tensor:
    """HSIC of two Gram matrices: biased ``tr(KHLH)/(n-1)^2`` or unbiased HSIC_1 (Song et al.).

    The unbiased estimator zeroes the diagonals and needs ``n >= 4``.

    Examples
    --------
    >>> X = torch.randn(20, 3, dtype=torch.float64)
    >>> float(hsic(gram_linear(X), gram_linear(X))) > 0
    True
    """
    n = K.shape[0]
    if not debiased:
        Kc = K - K.mean(0, keepdim=True) - K.mean(1, keepdim=True) + K.mean()
        Lc = L - L.mean(0, keepdim=True) - L.mean(1, keepdim=True) + L.mean()
        return (Kc * Lc).sum() / (n - 1) ** 2
    if n < 4:
        raise InputError(f"the debiased HSIC needs at least 4 samples per batch, got {n}")
    Kt = K - torch.diag_embed(K.diagonal())
    Lt = L - torch.diag_embed(L.diagonal())
    ones_k, ones_l = Kt.sum(1), Lt.sum(1)
    term = (Kt * Lt).sum() + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) \
        - 2 * (ones_k @ ones_l) / (n - 2)
    return term / (n * (n - 3))


def _is_constant(X: torch.Tensor) -> bool:
    """All rows equal (to 1e-12 relative): the representation carries no information."""
    scale = float(X.abs().max()) if X.numel() else 0.0
    return bool(X.numel() == 0 or float((X - X[:1]).abs().max()) <= 1e-12 * max(scale, 1e-300))


def _ratio(kl: float, kk: float, ll: float, const_k: bool, const_l: bool) -> float:
    if const_k and const_l:
        return 1.0
    if const_k or const_l or kk <= 0 or ll <= 0:
        return 0.0
    return float(kl / np.sqrt(kk * ll))


def _grams(X: torch.Tensor, Y: torch.Tensor, kernel: str, sigma_frac: float):
    if kernel == "linear":
        return gram_linear(X), gram_linear(Y)
    if kernel == "rbf":
        return gram_rbf(X, sigma_frac), gram_rbf(Y, sigma_frac)
    raise InputError(f"unknown kernel {kernel!r}; choose 'linear' or 'rbf'")


def cka(X: np.ndarray | torch.Tensor, Y: np.ndarray | torch.Tensor, *, kernel: str = "linear",
        debiased: bool = False, sigma_frac: float = 0.8,
        device: str | torch.device | None = None) -> float:
    """CKA between two representations of the same ``n`` examples.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with ``K``, ``L`` the Gram matrices of the
    rows of ``X`` and ``Y`` (flattened to ``(n, features)``; feature counts may differ).

    Parameters
    ----------
    X, Y : array or Tensor, shape (n, ...)
    kernel : {"linear", "rbf"}
    debiased : bool
        Use the unbiased HSIC_1 estimator (Song et al. 2012); removes the positive bias of CKA
        between unrelated representations on small ``n``.
    sigma_frac : float
        RBF bandwidth as a fraction of the median pairwise distance.
    device : str, optional
        Default CUDA if available.

    Returns
    -------
    float
        In ``[0, 1]`` for the biased estimator (debiased values may be slightly negative).

    Notes
    -----
    Biased linear CKA uses the feature-space form (memory ``O(d^2)``); the RBF kernel and the
    debiased estimator need ``n x n`` Gram matrices: for large ``n`` use :class:`MinibatchCKA`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5))
    >>> round(cka(X, 3.0 * X @ np.linalg.qr(rng.normal(size=(5, 5)))[0] + 1.0), 6)
    1.0
    """
    Xt, Yt = _prep(X, device), _prep(Y, device)
    if len(Xt) != len(Yt):
        raise InputError(f"X and Y must have the same number of rows, got {len(Xt)} and {len(Yt)}")
    if len(Xt) < 2:
        raise InputError("CKA needs at least 2 examples")
    const_x, const_y = _is_constant(Xt), _is_constant(Yt)
    if const_x or const_y:
        return _ratio(0.0, 0.0, 0.0, const_x, const_y)
    if kernel == "linear" and not debiased:
        # feature-space form, O(n d^2) memory-light: |Yc^T Xc|_F^2 / (|Xc^T Xc|_F |Yc^T Yc|_F)
        Xc, Yc = Xt - Xt.mean(0), Yt - Yt.mean(0)
        kl = float((Yc.T @ Xc).pow(2).sum())
        kk, ll = float((Xc.T @ Xc).pow(2).sum()), float((Yc.T @ Yc).pow(2).sum())
        return _ratio(kl, kk, ll, False, False)
    K, L = _grams(Xt, Yt, kernel, sigma_frac)
    kl, kk, ll = (float(hsic(a, b, debiased=debiased)) for a, b in ((K, L), (K, K), (L, L)))
    return _ratio(kl, kk, ll, False, False)


def linear_cka(X: np.ndarray | torch.Tensor, Y: np.ndarray | torch.Tensor, *,
               debiased: bool = False, device: str | None = None) -> float:
    """Linear CKA (see :func:`cka`).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> linear_cka(X, X)
    1.0
    """
    return cka(X, Y, kernel="linear", debiased=debiased, device=device)


def rbf_cka(X: np.ndarray | torch.Tensor, Y: np.ndarray | torch.Tensor, *, sigma_frac: float = 0.8,
            debiased: bool = False, device: str | None = None) -> float:
    """RBF-kernel CKA (see :func:`cka`).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> round(rbf_cka(X, 2 * X), 6)
    1.0
    """
    return cka(X, Y, kernel="rbf", sigma_frac=sigma_frac, debiased=debiased, device=device)


class MinibatchCKA:
    """Minibatch CKA (Nguyen et al. 2021): unbiased HSIC_1 averaged over batches, then normalised.

    Accumulate with :meth:`update` (torchmetrics style) over batches of paired activations of
    ``len(xs)`` x ``len(ys)`` layers at once; :meth:`compute` returns the CKA matrix. Memory is
    O(batch^2) whatever the dataset size.

    Parameters
    ----------
    n_x, n_y : int
        Number of layers on each side.
    kernel : {"linear", "rbf"}
    sigma_frac : float
        RBF bandwidth (per batch median heuristic).
    device : str, optional

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 8))
    >>> m = MinibatchCKA(1, 1)
    >>> for s in range(0, 400, 100):
    ...     m.update([X[s:s + 100]], [2 * X[s:s + 100]])
    >>> round(float(m.compute()[0, 0]), 6)
    1.0
    """

    def __init__(self, n_x: int = 1, n_y: int = 1, *, kernel: str = "linear", sigma_frac: float = 0.8,
                 device: str | None = None) -> None:
        self.n_x, self.n_y, self.kernel, self.sigma_frac = n_x, n_y, kernel, sigma_frac
        self.device = default_device(device)
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self.xy_ = torch.zeros(self.n_x, self.n_y, dtype=torch.float64)
        self.xx_ = torch.zeros(self.n_x, dtype=torch.float64)
        self.yy_ = torch.zeros(self.n_y, dtype=torch.float64)
        self.const_x_ = [True] * self.n_x
        self.const_y_ = [True] * self.n_y
        self.n_batches_ = 0

    def _gram(self, x: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, bool]:
        t = _prep(x, self.device)
        if _is_constant(t):  # contributes exactly 0 to every HSIC
            return torch.zeros(len(t), len(t), dtype=t.dtype, device=t.device), True
        return (gram_linear(t) if self.kernel == "linear" else gram_rbf(t, self.sigma_frac)), False

    def update(self, xs: Sequence[np.ndarray | torch.Tensor], ys: Sequence[np.ndarray | torch.Tensor]) -> None:
        """Add one batch: ``xs[i]`` and ``ys[j]`` are activations of the same ``b >= 4`` examples."""
        if len(xs) != self.n_x or len(ys) != self.n_y:
            raise InputError(f"expected {self.n_x} x-layers and {self.n_y} y-layers, "
                             f"got {len(xs)} and {len(ys)}")
        if self.kernel not in ("linear", "rbf"):
            raise InputError(f"unknown kernel {self.kernel!r}; choose 'linear' or 'rbf'")
        gx, cx = zip(*(self._gram(x) for x in xs))
        gy, cy = zip(*(self._gram(y) for y in ys))
        sizes = {g.shape[0] for g in gx + gy}
        if len(sizes) != 1:
            raise InputError(f"all activations of a batch need the same number of rows, got {sorted(sizes)}")
        for i, K in enumerate(gx):
            self.xx_[i] += float(hsic(K, K, debiased=True))
            self.const_x_[i] &= cx[i]
            for j, L in enumerate(gy):
                self.xy_[i, j] += float(hsic(K, L, debiased=True))
        for j, L in enumerate(gy):
            self.yy_[j] += float(hsic(L, L, debiased=True))
            self.const_y_[j] &= cy[j]
        self.n_batches_ += 1

    def compute(self) -> np.ndarray:
        """The ``(n_x, n_y)`` CKA matrix of everything seen so far."""
        if self.n_batches_ == 0:
            raise InputError("MinibatchCKA.compute() called before any update()")
        out = np.empty((self.n_x, self.n_y))
        for i in range(self.n_x):
            for j in range(self.n_y):
                out[i, j] = _ratio(float(self.xy_[i, j]), float(self.xx_[i]), float(self.yy_[j]),
                                   self.const_x_[i], self.const_y_[j])
        return out


def layerwise_cka(model_a: nn.Module, model_b: nn.Module,
                  inputs_a: torch.Tensor, inputs_b: torch.Tensor | None = None,
                  layers_a: Sequence[str] | None = None, layers_b: Sequence[str] | None = None, *,
                  kernel: str = "linear", batch_size: int = 128, minibatch: bool = True,
                  device: str | None = None) -> np.ndarray:
    """CKA between every named layer of ``model_a`` and every named layer of ``model_b``.

    ``inputs_b`` are the same examples as ``inputs_a`` in ``model_b``'s input format (e.g. their
    persistence images); default the same tensor. With ``minibatch`` the debiased minibatch estimator
    is accumulated over batches of ``batch_size`` (>= 4) so memory stays O(batch^2); otherwise the
    biased full-data CKA is computed. A progress bar per batch shows on an interactive stderr
    (``SHAPEKIT_PROGRESS=0`` hides it).

    Returns
    -------
    ndarray, shape (len(layers_a), len(layers_b))

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> M = layerwise_cka(net, net, torch.randn(64, 4), layers_a=["0", "2"], layers_b=["0", "2"],
    ...                   batch_size=32)
    >>> np.round(np.diag(M), 6).tolist()
    [1.0, 1.0]
    """
    inputs_a = as_tensor(inputs_a, "inputs_a") if isinstance(inputs_a, np.ndarray) else inputs_a
    inputs_b = inputs_a if inputs_b is None else inputs_b
    inputs_b = as_tensor(inputs_b, "inputs_b") if isinstance(inputs_b, np.ndarray) else inputs_b
    if len(inputs_a) != len(inputs_b):
        raise InputError(f"inputs_a and inputs_b must pair up, got {len(inputs_a)} and {len(inputs_b)}")
    if not minibatch:
        acts_a = collect_activations(model_a, inputs_a, layers_a, batch_size=batch_size, device=device)
        acts_b = collect_activations(model_b, inputs_b, layers_b, batch_size=batch_size, device=device)
        return np.array([[cka(a, b, kernel=kernel, device=device) for b in acts_b.values()]
                         for a in acts_a.values()])
    if batch_size < 4:
        raise InputError(f"minibatch CKA needs batch_size >= 4, got {batch_size}")
    metric: MinibatchCKA | None = None
    n = len(inputs_a)
    for s in progress(range(0, n, batch_size), desc="CKA", unit="batch"):
        if n - s < 4:
            break  # a trailing batch of < 4 examples carries no unbiased HSIC
        acts_a = collect_activations(model_a, inputs_a[s:s + batch_size], layers_a,
                                     batch_size=batch_size, device=device)
        acts_b = collect_activations(model_b, inputs_b[s:s + batch_size], layers_b,
                                     batch_size=batch_size, device=device)
        if metric is None:
            metric = MinibatchCKA(len(acts_a), len(acts_b), kernel=kernel, device=device)
        metric.update(list(acts_a.values()), list(acts_b.values()))
    if metric is None:
        raise InputError(f"need at least 4 examples, got {n}")
    return metric.compute()
