"""Is a scan outside the training data? The check a TopTemp model fits at training time.

:class:`OutsideCheck` holds three parts, all fitted on the training scans and stored in the model
directory (``config.json`` + ``outside.safetensors``, no pickle):

* an :class:`~shapekit.temper.ood.OODScorer` (class-conditional Mahalanobis distance, threshold
  calibrated by cross-fitting at ``level``) over one row per scan: the mean of its TopTemp tile
  features followed by descriptor families that TopTemp discards
  (:mod:`shapekit.temper.descriptors`: grey levels, texture), scored block by block;
* the training range of the characteristic feature size (:func:`~shapekit.temper.descriptors.feature_size`)
  in pixels of the classified image (and in micrometres when the model's pixel size is known): a
  scan whose feature size lies more than ``size_factor`` times outside that range is outside the
  training data, whatever its other features say;
* :class:`~shapekit.temper.conformal.ConformalSets` calibrated on out-of-fold probabilities (the
  classifier's calibration folds), for prediction sets with a stated coverage.

:meth:`OutsideCheck.assess` turns a scan's probabilities, tile features and image into the
verdict fields ``temper`` (``"unknown"`` outside), ``ood_score`` (``<= 1`` inside), ``in_distribution``,
``prediction_set``, the parts behind them (``ood``), the feature size with the training range, and
notes a metallurgist can act on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["OutsideCheck", "DEFAULT_FAMILIES", "reachable_level"]

DEFAULT_FAMILIES = ("grey",)
STATE_VERSION = 1
#: human names of the scorer's blocks, for the notes
BLOCK_NAMES = {"topology": "topology (TopTemp features)", "grey": "grey levels",
               "texture": "texture"}


def reachable_level(n: int, level: float) -> float:
    """``level``, or the highest conformal level ``n`` calibration scores support (``n/(n+1)``).

    Examples
    --------
    >>> reachable_level(450, 0.99), reachable_level(15, 0.99)
    (0.99, 0.9375)
    """
    if math.ceil((n + 1) * level) <= n:
        return float(level)
    return n / (n + 1.0)


class OutsideCheck:
    """The "outside the training data" check of a TopTemp model (see the module docstring).

    Parameters
    ----------
    families : sequence of str
        Descriptor families scored beside the TopTemp features
        (:data:`shapekit.temper.descriptors.FAMILIES`).
    level : float
        Share of in-distribution scans meant to pass the feature check (lowered to what the
        number of training scans supports, :func:`reachable_level`).
    coverage : float
        Coverage of the prediction sets.
    score : {"aps", "lac"}
        Non-conformity score of the prediction sets.
    size_factor : float
        How far outside the training range of feature sizes a scan may lie (a ratio) before it
        is outside the training data.
    seed : int
        Seeds the scorer's calibration folds.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> from scipy.ndimage import gaussian_filter
    >>> imgs = [np.clip(0.5 + 0.15 * gaussian_filter(rng.normal(size=(64, 64)), 2) * 4, 0, 1)
    ...         for _ in range(40)]
    >>> feats = [rng.normal(size=(4, 3)) for _ in imgs]
    >>> y = np.arange(40) % 2
    >>> chk = OutsideCheck().fit(feats, imgs, y, oof_proba=np.eye(2)[y] * 0.8 + 0.1)
    >>> r = chk.assess([0.8, 0.2], ["a", "b"], feats[0], imgs[0], None)
    >>> r["temper"], r["in_distribution"], r["prediction_set"]
    ('a', True, ['a'])
    >>> flat = np.full((64, 64), 0.5) + 0.001 * rng.normal(size=(64, 64))
    >>> chk.assess([0.8, 0.2], ["a", "b"], feats[0], flat, None)["temper"]
    'unknown'
    """

    def __init__(self, families: Sequence[str] = DEFAULT_FAMILIES, level: float = 0.99,
                 coverage: float = 0.95, score: str = "aps", size_factor: float = 2.0,
                 seed: int = 0) -> None:
        self.families = tuple(families)
        self.level = level
        self.coverage = coverage
        self.score = score
        self.size_factor = size_factor
        self.seed = seed

    # ------------------------------------------------------------------ rows
    def row(self, tile_features: np.ndarray, image: np.ndarray) -> np.ndarray:
        """One scan's scorer row: mean tile features, then the descriptor families."""
        from shapekit.temper.descriptors import scan_descriptors

        t = np.asarray(tile_features, dtype=np.float64)
        return np.r_[t.mean(axis=0), scan_descriptors(image, self.families)]

    def _blocks(self, d_topo: int) -> list[int]:
        from shapekit.temper.descriptors import FAMILIES

        return [int(d_topo)] + [len(FAMILIES[f][1]) for f in self.families]

    # ------------------------------------------------------------------ fit
    def fit(self, tile_features: Sequence[np.ndarray], images: Sequence[np.ndarray], y: Any,
            groups: Any = None, oof_proba: np.ndarray | None = None,
            um_per_px: float | None = None, n_jobs: int | None = 1) -> OutsideCheck:
        """Fit on the training scans: their tile features, images (as classified), labels,
        optional physical groups, out-of-fold probabilities (columns: sorted labels) and the
        model's pixel size (None: unknown). ``n_jobs`` scans are described at once (threads).

        Raises
        ------
        InputError
            Fewer than 10 scans, or mismatched lengths.
        """
        from shapekit.temper.conformal import ConformalSets
        from shapekit.temper.descriptors import descriptor_names, feature_size
        from shapekit.temper.ood import OODScorer

        descriptor_names(self.families)
        n = len(images)
        if len(tile_features) != n or len(y) != n:
            raise InputError(f"{len(tile_features)} feature sets, {n} images and {len(y)} labels")
        if n < 10:
            raise InputError(f"an outside-the-training-data check needs at least 10 training scans, got {n}")
        from joblib import Parallel, delayed

        from shapekit._progress import progress

        _, yi = np.unique(np.asarray(y), return_inverse=True)

        def one(t: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, float]:
            return self.row(t, im), feature_size(im)

        jobs = Parallel(n_jobs=n_jobs or -1, prefer="threads", return_as="generator")(
            delayed(one)(t, im) for t, im in zip(tile_features, images))
        done = list(progress(jobs, desc="outside check", total=n))
        R = np.stack([r for r, _ in done])
        sizes = np.array([s for _, s in done])
        self.level_ = reachable_level(n, float(self.level))
        self.scorer_ = OODScorer(level=self.level_, seed=int(self.seed),
                                 blocks=self._blocks(np.shape(tile_features[0])[1])).fit(R, yi, groups=groups)
        lo, hi = np.quantile(np.log(sizes), [0.005, 0.995]) if n >= 200 else np.log([sizes.min(), sizes.max()])
        self.size_range_px_ = (float(np.exp(lo)), float(np.exp(hi)))
        self.um_per_px_ = None if um_per_px is None else float(um_per_px)
        self.conformal_ = None
        if oof_proba is not None:
            self.conformal_ = ConformalSets(float(self.coverage), self.score).fit(np.asarray(oof_proba), yi)
        return self

    # ------------------------------------------------------------------ assess
    def assess(self, proba: Any, labels: Sequence[str], tile_features: np.ndarray, image: np.ndarray,
               um_per_px: float | None) -> dict[str, Any]:
        """The verdict fields of one scan (see the module docstring).

        ``um_per_px`` is the pixel size of ``image`` as classified (None: unknown).
        """
        from shapekit.temper.descriptors import feature_size
        from shapekit.temper.ood import verdict

        parts_raw = self.scorer_.block_scores(self.row(tile_features, image)[None])[0]
        names = ["topology", *self.families]
        parts = {k: float(v) for k, v in zip(names, parts_raw)}
        size = feature_size(image)
        lo, hi = self.size_range_px_
        ratio = max(lo / size, size / hi)
        parts["feature_size"] = float(ratio / float(self.size_factor))
        score = max(parts.values())
        res = verdict(proba, labels, score, self.conformal_)
        notes = []
        if not res["in_distribution"]:
            outside = [k for k, v in parts.items() if v > 1]
            for k in outside:
                if k == "feature_size":
                    side = "below" if size < lo else "above"
                    notes.append(f"outside the training data: feature size {size:.3g} px is {ratio:.2g}x "
                                 f"{side} the training range {lo:.3g}-{hi:.3g} px (another "
                                 f"magnification or material?)")
                else:
                    notes.append(f"outside the training data: {BLOCK_NAMES.get(k, k)} unlike the "
                                 f"training scans' (score {parts[k]:.3g}, 1 = the "
                                 f"{100 * self.level_:.3g} % limit)")
        fs: dict[str, Any] = {"px": round(size, 4), "training_px": [round(lo, 4), round(hi, 4)],
                              "um": None, "training_um": None}
        if self.um_per_px_ is not None:
            fs["training_um"] = [round(lo * self.um_per_px_, 6), round(hi * self.um_per_px_, 6)]
            if um_per_px is not None:
                fs["um"] = round(size * float(um_per_px), 6)
            else:
                notes.append("pixel size unknown: the scan was not brought to the model's scale, so "
                             "its feature size cannot be compared in micrometres")
        else:
            notes.append("the training scans' pixel size is unknown: feature size compared in "
                         "pixels only" + ("" if um_per_px is None else
                                          f" (this scan: {size * float(um_per_px):.3g} um)"))
            if um_per_px is not None:
                fs["um"] = round(size * float(um_per_px), 6)
        res["ood"] = {k: round(v, 4) for k, v in parts.items()}
        res["feature_size"] = fs
        res["notes"] = notes
        return res

    # ------------------------------------------------------------------ state
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(config, arrays)`` for the model directory (JSON and float arrays, no pickle)."""
        cfg, arrays = self.scorer_.to_state()
        state = {"kind": "outside_check", "version": STATE_VERSION, "families": list(self.families),
                 "level": float(self.level), "coverage": float(self.coverage), "score": self.score,
                 "size_factor": float(self.size_factor), "seed": int(self.seed),
                 "fitted_level": float(self.level_), "size_range_px": list(self.size_range_px_),
                 "um_per_px": self.um_per_px_, "scorer": cfg,
                 "conformal": None if self.conformal_ is None else self.conformal_.to_state()}
        return state, arrays

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> OutsideCheck:
        """Rebuild a fitted check from :meth:`to_state` output."""
        from shapekit.temper.conformal import ConformalSets
        from shapekit.temper.descriptors import descriptor_names
        from shapekit.temper.ood import OODScorer

        if state.get("kind") != "outside_check" or int(state.get("version", -1)) != STATE_VERSION:
            raise InputError(f"not an outside-check state of version {STATE_VERSION}")
        self = cls(state["families"], state["level"], state["coverage"], state["score"],
                   state["size_factor"], state["seed"])
        descriptor_names(self.families)
        self.level_ = float(state["fitted_level"])
        self.scorer_ = OODScorer.from_state(state["scorer"], arrays)
        lo, hi = (float(v) for v in state["size_range_px"])
        if not 0 < lo <= hi:
            raise InputError(f"bad feature-size range {state['size_range_px']}")
        self.size_range_px_ = (lo, hi)
        self.um_per_px_ = None if state["um_per_px"] is None else float(state["um_per_px"])
        self.conformal_ = None if state["conformal"] is None else ConformalSets.from_state(state["conformal"])
        if self.scorer_.n_features_in_ - sum(self._blocks(0)) <= 0:
            raise InputError("the outside check's scorer has no TopTemp columns")
        return self
