"""Intrinsic dimension of point clouds and of layer activations: TwoNN, Levina-Bickel MLE, local PCA.

Kvinge, Brown & Godfrey (2023) track the intrinsic dimension (ID) of a generative model's internal
representations per layer and per prompt; this module gives the estimators (on ndarrays or tensors,
CUDA when available; defined in :mod:`shapekit.analysis.id_estimators`), :func:`intrinsic_dimension`,
which combines them, and :func:`layer_intrinsic_dimension`, which applies them to the activations
of named layers of any ``torch.nn.Module``.

Duplicate points make nearest-neighbour distances zero and the estimators undefined; they are
*removed* (exact duplicates after casting to float64), never jittered.

``n`` distinct points span at most ``n - 1`` dimensions: a TwoNN or MLE estimate above that is an
artefact of too few points and :func:`intrinsic_dimension` reports it as NaN, with a note giving
the value. An estimate above the ambient dimension ``D`` (but within ``n - 1``) is kept with a
note: the points fill their space, and the value is estimator noise around ``D``.

References
----------
.. [1] E. Facco, M. d'Errico, A. Rodriguez, A. Laio, "Estimating the intrinsic dimension of datasets
   by a minimal neighborhood information", Sci. Rep. 7:12140 (2017).
.. [2] E. Levina, P. Bickel, "Maximum likelihood estimation of intrinsic dimension", NeurIPS (2005);
   D. MacKay, Z. Ghahramani, comment on it (2005) for the averaging of inverses.
.. [3] K. Fukunaga, D. Olsen, "An algorithm for finding intrinsic dimensionality of data",
   IEEE Trans. Computers C-20 (1971).
.. [4] H. Kvinge, D. Brown, C. Godfrey, "Exploring the representation manifolds of stable diffusion
   through the lens of intrinsic dimension", arXiv:2302.09301 (2023).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from shapekit._progress import progress
from shapekit.analysis._hooks import as_tensor, collect_activations
from shapekit.analysis.id_estimators import (dedup_points, knn_distances, knn_neighbours,
                                             local_pca_dims, lpca_id, mle_from_knn, mle_id, twonn,
                                             twonn_from_knn)
from shapekit.errors import InputError

__all__ = ["dedup_points", "knn_distances", "twonn", "mle_id", "lpca_id", "intrinsic_dimension",
           "layer_intrinsic_dimension", "ID_METHODS"]

ID_METHODS = ("twonn", "mle", "lpca")


def intrinsic_dimension(X: np.ndarray | torch.Tensor, methods: Sequence[str] = ID_METHODS, *,
                        k: int = 20, k_lpca: int = 100, device: str | None = None,
                        notes: list[str] | None = None) -> dict[str, float]:
    """All requested estimates of one point cloud, plus the number of distinct points used.

    Parameters
    ----------
    X : array or Tensor, shape (n, ...)
    methods : sequence of {"twonn", "mle", "lpca"}
    k : int
        Neighbours of the MLE; at most ``n_points - 1`` are used (reported as ``"k"``).
    k_lpca : int
        Neighbours of each point's local PCA (see :func:`lpca_id`); at most ``n_points - 1`` are
        used (reported as ``"k_lpca"``).
    device : str, optional
    notes : list of str, optional
        Receives the notes on estimates out of bounds (see the module docstring); without it, an
        estimate set to NaN is a :class:`UserWarning`.

    Returns
    -------
    dict of str to float
        ``n_points``, one value per method (NaN above ``n_points - 1``) and, with ``mle``, the
        ``k`` used; with ``lpca``, the ``k_lpca`` used.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = intrinsic_dimension(rng.normal(size=(800, 2)) @ rng.normal(size=(2, 10)))
    >>> sorted(r), r["lpca"], r["k"], r["k_lpca"]
    (['k', 'k_lpca', 'lpca', 'mle', 'n_points', 'twonn'], 2.0, 20.0, 100.0)
    """
    unknown = [m for m in methods if m not in ID_METHODS]
    if unknown:
        raise InputError(f"unknown ID method(s) {unknown}; choose from {list(ID_METHODS)}")
    if "mle" in methods and k < 2:
        raise InputError(f"k must be >= 2, got {k}")
    if "lpca" in methods and k_lpca < 2:
        raise InputError(f"k_lpca must be >= 2, got {k_lpca}")
    pts = dedup_points(X)
    out: dict[str, float] = {"n_points": float(len(pts))}
    if len(pts) < 3:
        raise InputError(f"intrinsic dimension needs at least 3 distinct points, got {len(pts)}")
    kk, kl = min(k, len(pts) - 1), min(k_lpca, len(pts) - 1)
    need = max(max(kk, 2) if {"twonn", "mle"} & set(methods) else 2, kl if "lpca" in methods else 2)
    dist, idx = knn_neighbours(pts, need, device)  # one neighbour search for all the estimators
    for m in methods:
        if m == "twonn":
            out[m] = twonn_from_knn(dist[:, :2])
        elif m == "mle":
            out[m] = float(mle_from_knn(dist, kk))
            out["k"] = float(kk)
        else:
            out[m] = float(local_pca_dims(pts, idx[:, :kl], device=device).mean())
            out["k_lpca"] = float(kl)
    found = _out_of_bounds(out, pts.shape[1])
    if notes is None:
        for note in found:
            if note.endswith("set to NaN"):
                warnings.warn(note, stacklevel=2)
    else:
        notes.extend(found)
    return out


def _out_of_bounds(est: dict[str, float], ambient: int) -> list[str]:
    """Set TwoNN/MLE estimates above ``n_points - 1`` to NaN; notes on those, on any above the
    ambient dimension and on a local PCA from fewer than 2.5 neighbours per dimension it reads.
    """
    n = int(est["n_points"])
    notes = []
    for m in ("twonn", "mle"):
        v = est.get(m)
        if v is None or not np.isfinite(v):
            continue
        if v > n - 1:
            est[m] = float("nan")
            notes.append(f"{m} {v:.1f} > {n - 1} = n_points - 1: too few points for this "
                         f"dimension, set to NaN")
        elif v > ambient:
            notes.append(f"{m} {v:.2f} > {ambient} = ambient dimension: the points fill their "
                         f"space (about {ambient})")
    if "lpca" in est and est["k_lpca"] < 2.5 * est["lpca"]:
        notes.append(f"lpca {est['lpca']:.1f} from {int(est['k_lpca'])} neighbours: under about 2.5 "
                     f"per dimension local PCA reads low (more points or a larger k_lpca)")
    return notes


def layer_intrinsic_dimension(model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor],
                              layers: Sequence[str] | None = None, *,
                              groups: Sequence[object] | np.ndarray | None = None,
                              methods: Sequence[str] = ID_METHODS, k: int = 20, k_lpca: int = 100,
                              batch_size: int = 64, device: str | None = None,
                              include_input: bool = True) -> list[dict[str, object]]:
    """Intrinsic dimension of each named layer's activations, optionally per group (condition/class).

    A progress bar per layer shows on an interactive stderr (``SHAPEKIT_PROGRESS=0`` hides it).

    Parameters
    ----------
    model : nn.Module
    inputs : Tensor (N, ...) or iterable of batches
    layers : sequence of str, optional
        Names from ``model.named_modules()`` (default: every leaf module).
    groups : sequence of length N, optional
        A label per input (class, temper, GAN condition); ID is estimated per group and for ``"all"``.
    methods, k, k_lpca : see :func:`intrinsic_dimension`
    batch_size, device : passed to :func:`~shapekit.analysis._hooks.collect_activations`
    include_input : bool
        Also report the ID of the inputs themselves (layer name ``"input"``).

    Returns
    -------
    list of dict
        One row per (layer, group): ``layer``, ``group``, ``n_points``, one key per method, the
        ``k`` used by the MLE and the ``k_lpca`` of local PCA (each at most ``n_points - 1``)
        and, where an estimate is out of bounds,
        a ``note`` (see :func:`intrinsic_dimension`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 32))
    >>> rows = layer_intrinsic_dimension(net, torch.randn(400, 3), ["1", "2"], methods=["lpca"])
    >>> [(r["layer"], r["lpca"]) for r in rows]
    [('input', 3.0), ('1', 3.0), ('2', 3.0)]
    """
    if isinstance(inputs, np.ndarray):
        inputs = as_tensor(inputs, "inputs")
    if include_input and not isinstance(inputs, torch.Tensor):
        # a generator (or a shuffling DataLoader) gives no (or other) batches a second time
        inputs = [b[0] if isinstance(b, (tuple, list)) else b for b in inputs]
    acts = collect_activations(model, inputs, layers, batch_size=batch_size, device=device)
    if include_input:
        x = inputs if isinstance(inputs, torch.Tensor) else torch.cat(inputs)
        acts = {"input": x.flatten(1).float().cpu(), **acts}
    n = len(next(iter(acts.values())))
    labels = np.array(["all"] * n, dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if len(labels) != n:
        raise InputError(f"groups has {len(labels)} labels for {n} inputs")
    group_names = ["all"] if groups is None else ["all", *sorted({str(g) for g in labels})]
    rows: list[dict[str, object]] = []
    for name, a in progress(acts.items(), desc="intrinsic dimension", total=len(acts), unit="layer"):
        for g in group_names:
            sel = np.ones(n, bool) if g == "all" else np.array([str(v) == g for v in labels])
            notes: list[str] = []
            try:
                est = intrinsic_dimension(a[torch.as_tensor(sel)], methods, k=k, k_lpca=k_lpca,
                                          device=device, notes=notes)
            except InputError as e:
                raise InputError(f"layer {name!r}, group {g!r}: {e}") from None
            rows.append({"layer": name, "group": g, **est, **({"note": "; ".join(notes)}
                                                               if notes else {})})
    return rows
