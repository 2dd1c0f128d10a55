"""Intertwiner groups of activation functions, weight-space symmetries and symmetry-aware similarity.

For an elementwise activation ``s`` the intertwiner group is ``G_s = {A in GL_n : s(A x) = B s(x)}``.
For ReLU and LeakyReLU it is the positive scaled permutations ``A = P D`` (``D > 0``, ``B = A``); for
tanh the signed permutations (``B = A``); for generic smooth activations (GELU, sigmoid, SiLU) the
permutations. Changing the weights around a hidden layer by ``(W_in, b_in, W_out) -> (A W_in, A b_in,
W_out A^-1)`` leaves the network function unchanged while the hidden units become ``A h``: the basis
of a hidden layer is determined only up to ``G_s``. Comparing two networks' hidden units therefore
calls for metrics that quotient out ``G_s`` (:func:`align_units`, :func:`intertwiner_similarity`);
plain CKA is invariant to permutations and isotropic scaling but *not* to per-unit scales.

References
----------
.. [1] C. Godfrey, D. Brown, T. Emerson, H. Kvinge, "On the symmetries of deep learning models and
   their internal representations", NeurIPS (2022), arXiv:2205.14258.
.. [2] H. W. Kuhn, "The Hungarian method for the assignment problem", Naval Res. Logist. Q. (1955).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from shapekit.analysis.kernel_alignment import linear_cka
from shapekit.errors import InputError

__all__ = ["GroupElement", "group_for_activation", "random_group_element", "apply_group_element",
           "align_units", "intertwiner_similarity", "GROUPS"]

GROUPS = ("scaled_permutation", "signed_permutation", "permutation")
_ACTIVATION_GROUPS = {"relu": "scaled_permutation", "leaky_relu": "scaled_permutation",
                      "leakyrelu": "scaled_permutation", "tanh": "signed_permutation",
                      "gelu": "permutation", "sigmoid": "permutation", "silu": "permutation",
                      "elu": "permutation", "softplus": "permutation"}


@dataclass(frozen=True)
class GroupElement:
    """``A = P diag(scale)`` acting on hidden units: ``(A h)[i] = scale[i] * h[perm[i]]``.

    Attributes
    ----------
    perm : ndarray of int, shape (n,)
    scale : ndarray of float, shape (n,)

    Examples
    --------
    >>> g = GroupElement(np.array([1, 0]), np.array([2.0, 3.0]))
    >>> g.matrix().tolist()
    [[0.0, 2.0], [3.0, 0.0]]
    """

    perm: np.ndarray
    scale: np.ndarray

    def matrix(self) -> np.ndarray:
        """The ``(n, n)`` matrix ``A``."""
        n = len(self.perm)
        A = np.zeros((n, n))
        A[np.arange(n), self.perm] = self.scale
        return A

    def act(self, h: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Apply ``A`` to the units along ``dim`` of ``h``."""
        idx = torch.as_tensor(self.perm, device=h.device)
        shape = [1] * h.ndim
        shape[dim] = -1
        s = torch.as_tensor(self.scale, dtype=h.dtype, device=h.device).reshape(shape)
        return h.index_select(dim, idx) * s


def group_for_activation(activation: str | nn.Module) -> str:
    """Name of the intertwiner group of an activation (module or name).

    Examples
    --------
    >>> group_for_activation(nn.ReLU()), group_for_activation("tanh")
    ('scaled_permutation', 'signed_permutation')
    """
    name = activation if isinstance(activation, str) else type(activation).__name__
    key = name.lower().replace("_", "")
    for k, v in _ACTIVATION_GROUPS.items():
        if k.replace("_", "") == key:
            return v
    raise InputError(f"no known intertwiner group for activation {name!r}; "
                     f"known: {sorted(_ACTIVATION_GROUPS)}")


def random_group_element(n: int, group: str = "scaled_permutation", *, seed: int = 0,
                         scale_range: tuple[float, float] = (0.25, 4.0)) -> GroupElement:
    """A random element of ``group`` acting on ``n`` units.

    Positive scales are log-uniform in ``scale_range``; signed permutations draw each sign with
    probability 1/2.

    Examples
    --------
    >>> g = random_group_element(4, "signed_permutation", seed=1)
    >>> sorted(g.perm.tolist()), set(np.abs(g.scale).tolist())
    ([0, 1, 2, 3], {1.0})
    """
    if group not in GROUPS:
        raise InputError(f"unknown group {group!r}; choose from {list(GROUPS)}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    if group == "scaled_permutation":
        lo, hi = scale_range
        if not 0 < lo <= hi:
            raise InputError(f"scale_range must be positive, got {scale_range}")
        scale = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    elif group == "signed_permutation":
        scale = rng.choice([-1.0, 1.0], n)
    else:
        scale = np.ones(n)
    return GroupElement(perm, scale)


@torch.no_grad()
def apply_group_element(layer_in: nn.Module, layer_out: nn.Module | list[nn.Module],
                        g: GroupElement) -> None:
    """Re-parametrise weights in place so the hidden units between two layers become ``A h``.

    ``layer_in`` (``nn.Linear`` or ``nn.Conv2d``, its outputs are the hidden units) gets
    ``W <- A W``, ``b <- A b``; each ``layer_out`` (``Linear``/``Conv2d`` consuming those units,
    e.g. two of them in a branch) gets ``W <- W A^-1`` on its input dimension. The network function is
    unchanged when only an activation whose intertwiner group contains ``A`` (and, for positive
    scaled permutations, max/average pooling) sits between them. A ``Linear`` after ``Flatten`` of a
    conv map is handled: the input features are grouped by channel.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> x = torch.randn(5, 3)
    >>> y0 = net(x)
    >>> apply_group_element(net[0], net[2], random_group_element(8, seed=0))
    >>> bool(torch.allclose(net(x), y0, atol=1e-5))
    True
    """
    outs = layer_out if isinstance(layer_out, list) else [layer_out]
    n = len(g.perm)
    w = layer_in.weight
    if w.shape[0] != n:
        raise InputError(f"group element acts on {n} units but {type(layer_in).__name__} has "
                         f"{w.shape[0]} outputs")
    idx = torch.as_tensor(g.perm, device=w.device)
    s = torch.as_tensor(g.scale, dtype=w.dtype, device=w.device)
    layer_in.weight.copy_(w.index_select(0, idx) * s.reshape(-1, *[1] * (w.ndim - 1)))
    if getattr(layer_in, "bias", None) is not None:
        layer_in.bias.copy_(layer_in.bias.index_select(0, idx) * s)
    # A^-1 = D^-1 P^T: column i of W_out A^-1 is W_out[:, perm[i]] / scale[i]
    for lo in outs:
        wo = lo.weight
        cin = wo.shape[1]
        if cin % n:
            raise InputError(f"{type(lo).__name__} has {cin} inputs, not a multiple of {n} units")
        per = cin // n  # >1 for a Linear after Flatten of a (n, h, w) map
        shaped = wo.reshape(wo.shape[0], n, per, *wo.shape[2:])
        sc = torch.as_tensor(g.scale, dtype=wo.dtype, device=wo.device)
        new = shaped.index_select(1, idx.to(wo.device)) / sc.reshape(1, n, *[1] * (shaped.ndim - 2))
        lo.weight.copy_(new.reshape(wo.shape))


def align_units(H1: np.ndarray | torch.Tensor, H2: np.ndarray | torch.Tensor, *,
                group: str = "scaled_permutation") -> GroupElement:
    """Find ``A`` in ``group`` with ``H2 ~ H1 A^T`` (units in columns), i.e. ``h2 = A h1``.

    Units are matched by the Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`) on
    the cosine similarity of unit-normalised activation columns (absolute value for signed
    permutations); positive scales (or signs) are then fitted by least squares per matched pair.

    Parameters
    ----------
    H1, H2 : array or Tensor, shape (n_samples, n_units)
        Hidden activations of two models on the same inputs (conv maps: flatten space into samples).
    group : {"scaled_permutation", "signed_permutation", "permutation"}

    Returns
    -------
    GroupElement
        ``perm``, ``scale`` with ``H2[:, i] ~ scale[i] * H1[:, perm[i]]``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> H1 = np.maximum(rng.normal(size=(200, 6)), 0)
    >>> g = random_group_element(6, seed=3)
    >>> H2 = g.act(torch.as_tensor(H1)).numpy()
    >>> bool((align_units(H1, H2).perm == g.perm).all())
    True
    """
    A = _as_2d(H1)
    B = _as_2d(H2)
    if A.shape != B.shape:
        raise InputError(f"H1 and H2 must have the same shape, got {A.shape} and {B.shape}")
    if group not in GROUPS:
        raise InputError(f"unknown group {group!r}; choose from {list(GROUPS)}")
    na, nb = _unit_normalise(A), _unit_normalise(B)
    sim = nb.T @ na  # sim[i, j]: unit i of H2 vs unit j of H1
    cost = -np.abs(sim) if group == "signed_permutation" else -sim
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(A.shape[1], dtype=int)
    perm[rows] = cols
    matched = A[:, perm]
    denom = np.maximum((matched ** 2).sum(0), 1e-300)
    fit = (matched * B).sum(0) / denom
    if group == "scaled_permutation":
        scale = np.where(fit > 0, fit, 1.0)
    elif group == "signed_permutation":
        scale = np.where(fit < 0, -1.0, 1.0)
    else:
        scale = np.ones(A.shape[1])
    return GroupElement(perm, scale)


def intertwiner_similarity(H1: np.ndarray | torch.Tensor, H2: np.ndarray | torch.Tensor, *,
                           group: str = "scaled_permutation") -> dict[str, float]:
    """Symmetry-aware similarity of two layers' units, next to plain linear CKA.

    After :func:`align_units`, reports ``similarity``: the mean cosine between matched unit columns
    (up to sign for signed permutations; 1 exactly when ``H2 = H1 A^T`` for ``A`` in ``group``; two
    matched units that are both zero on every sample, such as dead ReLUs, agree: cosine 1),
    ``aligned_cka``: linear CKA of ``H1 A^T`` against ``H2``, and ``cka``: plain linear CKA of the
    unaligned layers (not invariant to per-unit scaling, so it can be well below 1 for the same
    function).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> H1 = np.maximum(rng.normal(size=(300, 16)), 0)
    >>> H2 = random_group_element(16, seed=1, scale_range=(0.1, 10)).act(torch.as_tensor(H1)).numpy()
    >>> r = intertwiner_similarity(H1, H2)
    >>> round(r["similarity"], 6), r["cka"] < 0.99
    (1.0, True)
    """
    A, B = _as_2d(H1), _as_2d(H2)
    g = align_units(A, B, group=group)
    na, nb = _unit_normalise(A), _unit_normalise(B)
    cos = (na[:, g.perm] * nb).sum(0)
    if group == "signed_permutation":
        cos = np.abs(cos)
    cos = np.where(~A[:, g.perm].any(0) & ~B.any(0), 1.0, cos)  # dead unit matched to a dead unit
    mapped = A[:, g.perm] * g.scale
    return {"similarity": float(cos.mean()), "aligned_cka": linear_cka(mapped, B, device="cpu"),
            "cka": linear_cka(A, B, device="cpu")}


def _as_2d(H: np.ndarray | torch.Tensor) -> np.ndarray:
    arr = H.detach().cpu().double().numpy() if isinstance(H, torch.Tensor) else np.asarray(H, float)
    if arr.ndim != 2:
        raise InputError(f"expected (n_samples, n_units) activations, got shape {arr.shape}")
    return arr


def _unit_normalise(H: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(H, axis=0)
    return H / np.where(norms > 0, norms, 1.0)
