"""``TopologicalRealism``: the realism score as a torchmetrics ``Metric`` (for GAN training logs).

``update(real=..., fake=...)`` computes per-image topological summaries and diagrams on the CPU
(the images are detached; persistent homology is not differentiable here) and stores them as
registered states, so they accumulate over batches and are gathered across processes
(``dist_reduce_fx="cat"``). ``compute()`` pools them exactly as :func:`shapekit.realism.score`
does and returns the ``topological_distance``, its components and the coverage measures (and a
permutation p-value when ``n_perm > 0``).

References
----------
.. [1] Detlefsen, N. S. et al. "TorchMetrics - measuring reproducibility in PyTorch", JOSS 7 (2022).
.. [2] Howland, S. et al. "Parameters, properties, and process: conditional neural generation of
   realistic SEM imagery towards ML-assisted advanced manufacturing", arXiv:2302.08495 (2023).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from shapekit.errors import InputError
from shapekit.realism.summaries import FeatureSet, image_features
from shapekit.topology.diagrams import DIMS, FILTRATIONS, Block, Diagrams
from shapekit.topology.diagrams import blocks as blocks_of

__all__ = ["TopologicalRealism"]


def _count(x: Any) -> int:
    """Images in a batch (0 for None or anything without a length)."""
    try:
        return 0 if x is None else len(x)
    except TypeError:
        return 0


class TopologicalRealism(Metric):
    """Topological distance between accumulated real and synthetic images (lower is better).

    Parameters
    ----------
    value_range : (float, float)
        Range of the incoming pixel values, mapped to [0, 1] (``(-1, 1)`` for tanh generators,
        ``(0, 255)`` for 8-bit images). Values beyond it by more than 5 % of its width are
        refused (:class:`~shapekit.errors.InputError`); smaller overshoots are clamped.
    max_points : int
        Diagram pairs stored per image and diagram kind (the most persistent ones).
    top_k, max_diagram_images : int
        As in :func:`shapekit.realism.score`.
    n_perm : int
        Permutation rounds for a p-value in ``compute()`` (0: none).
    k_nn : int
        Neighbourhood size of coverage / diversity.
    seed : int
        Seed of the diagram subsample and the permutations.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> m = TopologicalRealism()
    >>> m.update(real=torch.rand(6, 1, 24, 24, generator=g), fake=torch.rand(6, 1, 24, 24, generator=g))
    >>> out = m.compute()
    >>> sorted(out)[:3], bool(out["topological_distance"] >= 0)
    (['coverage', 'd_energy', 'd_mmd'], True)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, *, value_range: tuple[float, float] = (0.0, 1.0), max_points: int = 64,
                 top_k: int = 16, max_diagram_images: int = 24, n_perm: int = 0, k_nn: int = 5,
                 min_persistence: float = 1.5 / 255, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        lo, hi = float(value_range[0]), float(value_range[1])
        if not hi > lo:
            raise InputError(f"value_range={value_range!r} must be (low, high) with high > low")
        if max_points < 1 or top_k < 1 or max_diagram_images < 2 or n_perm < 0 or k_nn < 1:
            raise InputError("max_points, top_k, k_nn must be >= 1, max_diagram_images >= 2, n_perm >= 0")
        self.value_range = (lo, hi)
        self.max_points, self.top_k, self.max_diagram_images = int(max_points), int(top_k), int(max_diagram_images)
        self.n_perm, self.k_nn, self.min_persistence, self.seed = int(n_perm), int(k_nn), float(min_persistence), int(seed)
        self._names: list[str] | None = None
        self._blocks: list[Block] | None = None
        for side in ("real", "fake"):
            self.add_state(f"{side}_summaries", default=[], dist_reduce_fx="cat")
            self.add_state(f"{side}_diagrams", default=[], dist_reduce_fx="cat")

    def _images(self, x: Any, side: str) -> list[np.ndarray]:
        try:
            t = torch.as_tensor(x if torch.is_tensor(x) else np.asarray(x)).detach().float().cpu()
        except (TypeError, ValueError, RuntimeError):
            raise InputError(f"{side} images must be one tensor or array (N, H, W) or (N, C, H, W) "
                             f"of same-size images") from None
        if t.ndim == 4 and t.shape[1] in (1, 3):
            t = t.mean(dim=1)
        if t.ndim != 3:
            raise InputError(f"{side} images must be (N, H, W) or (N, C, H, W) with C in (1, 3), "
                             f"got shape {tuple(t.shape)}")
        lo, hi = self.value_range
        if t.numel():
            # clamped silently, 8-bit or tanh images would become nearly binary or lose half
            # their range: a slip of more than 5 % of the range is refused instead
            vmin, vmax, slack = float(t.min()), float(t.max()), 0.05 * (hi - lo)
            if vmin < lo - slack or vmax > hi + slack:
                raise InputError(f"{side} images hold values in [{vmin:.4g}, {vmax:.4g}], outside "
                                 f"value_range=({lo:g}, {hi:g}): pass the range of the images "
                                 f"(e.g. value_range=(-1, 1) for tanh outputs, (0, 255) for 8-bit)")
        t = ((t - lo) / (hi - lo)).clamp(0.0, 1.0)
        return [a for a in t.numpy()]

    def update(self, real: Any = None, fake: Any = None) -> None:  # type: ignore[override]
        """Add a batch of real and/or synthetic images."""
        if real is None and fake is None:
            raise InputError("update() needs real=... and/or fake=... images")
        for side, x in (("real", real), ("fake", fake)):
            if x is None or len(x) == 0:
                continue
            fs = image_features(self._images(x, side), min_persistence=self.min_persistence,
                                max_points=self.max_points, betti=False)
            self._names, self._blocks = fs.names, fs.blocks
            pad = np.full((len(fs), len(fs.blocks), self.max_points, 2), np.nan)
            for i, d in enumerate(fs.diagrams):
                for j, b in enumerate(fs.blocks):
                    pad[i, j, : len(d[b])] = d[b]
            getattr(self, f"{side}_summaries").append(torch.as_tensor(fs.summaries, dtype=torch.float64))
            getattr(self, f"{side}_diagrams").append(torch.as_tensor(pad, dtype=torch.float64))

    def forward(self, real: Any = None, fake: Any = None) -> dict[str, torch.Tensor] | None:  # type: ignore[override]
        """Add the batch (as :meth:`update`) and return the metric of this batch alone, or None
        when the batch holds fewer than 2 real or 2 synthetic images (it is added all the same).

        torchmetrics' ``forward`` computes the batch's value on a metric emptied for the batch
        and merges the accumulated images back afterwards; a one-sided batch made that
        computation fail after the accumulated images had been set aside, so they were lost.
        """
        if min(_count(real), _count(fake)) < 2:
            self.update(real=real, fake=fake)
            self._forward_cache = None
            return None
        return super().forward(real=real, fake=fake)

    def _sync_dist(self, dist_sync_fn: Any = None, process_group: Any = None) -> None:
        """Gather the states of every process, a side that this one saw no image of included.

        torchmetrics stands in an empty float32 vector for an empty list state, which cannot be
        gathered with the other processes' float64 ``(n, ...)`` states (gloo aborted the
        process: "Received data size doesn't match expected size"); it gets a float64 state of
        no rows and the right shape instead.
        """
        if self._names is None or self._blocks is None:       # no image here yet: the shapes
            fs = image_features([np.random.default_rng(0).random((16, 16))], betti=False,
                                min_persistence=self.min_persistence, max_points=self.max_points)
            self._names, self._blocks = fs.names, fs.blocks
        shapes = {"summaries": (len(self._names),),
                  "diagrams": (len(self._blocks), self.max_points, 2)}
        for side in ("real", "fake"):
            for kind, shape in shapes.items():
                state = getattr(self, f"{side}_{kind}")
                if isinstance(state, list) and not state:
                    state.append(torch.zeros((0, *shape), dtype=torch.float64, device=self.device))
        kwargs = {} if dist_sync_fn is None else {"dist_sync_fn": dist_sync_fn}
        super()._sync_dist(process_group=process_group, **kwargs)

    def _featureset(self, side: str) -> FeatureSet:
        s = getattr(self, f"{side}_summaries")
        if (isinstance(s, list) and not s) or (torch.is_tensor(s) and s.numel() == 0):
            raise InputError(f"TopologicalRealism.compute(): no {side} images were added")
        S = dim_zero_cat(s).cpu().numpy()
        P = dim_zero_cat(getattr(self, f"{side}_diagrams")).cpu().numpy()
        blocks = self._blocks or list(blocks_of((1,), FILTRATIONS, DIMS))[:P.shape[1]]
        diags = [Diagrams({b: P[i, j][np.isfinite(P[i, j]).all(axis=1)] for j, b in enumerate(blocks)})
                 for i in range(len(P))]
        names = self._names or [f"s{j}" for j in range(S.shape[1])]
        return FeatureSet(S, list(names), diags, np.zeros((len(S), len(blocks), 1)), np.zeros(1),
                          list(blocks))

    def compute(self) -> dict[str, torch.Tensor]:
        """``topological_distance``, ``d_summaries``, ``d_mmd``, ``d_energy``, ``coverage``,
        ``diversity_ratio``, ``duplicate_fraction`` (and ``p_value`` when ``n_perm > 0``) as scalar
        tensors. Coverage and diversity are measured on the principal components of the summaries
        of both sets (:mod:`shapekit.realism.coverage`); this metric sees the raw images only, so
        an imaging shift lowers coverage here, unlike in :func:`shapekit.realism.score`."""
        from scipy.spatial.distance import cdist

        from shapekit.realism.coverage import coverage_embedding, coverage_from_distances, near_duplicates
        from shapekit.realism.resampling import permutation_test
        from shapekit.realism.setstats import pooled_features, standardised
        from shapekit.realism.setstats import COMPONENTS, set_statistics

        fr, ff = self._featureset("real"), self._featureset("fake")
        if len(fr) < 2 or len(ff) < 2:
            raise InputError(f"TopologicalRealism needs at least 2 real and 2 synthetic images, "
                             f"got {len(fr)} and {len(ff)}")
        rng = np.random.default_rng(self.seed)
        pf = pooled_features(fr, ff, rng=rng, max_diagram_images=self.max_diagram_images, top_k=self.top_k)
        ia, ib = np.arange(pf.n_real), np.arange(pf.n_real, len(pf.X))
        st = set_statistics(pf, ia, ib, per_summary=False)
        E = coverage_embedding(standardised(pf))
        D = cdist(E, E)
        cov = coverage_from_distances(D, ia, ib, self.k_nn)
        out = {k: st[k] for k in ("topological_distance",) + COMPONENTS}
        out.update(coverage=cov["coverage"], diversity_ratio=cov["diversity_ratio"],
                   duplicate_fraction=near_duplicates(D, ia, ib)["duplicate_fraction"])
        if self.n_perm > 0:
            out["p_value"] = permutation_test(pf, st["topological_distance"], self.n_perm, rng)[0]
        return {k: torch.tensor(float(v), dtype=torch.float32) for k, v in out.items()}
