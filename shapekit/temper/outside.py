"""Is a scan outside the training data? The check a TopTemp model fits at training time.

:class:`OutsideCheck` holds two parts, both fitted on the training scans and stored in the model
directory (``config.json`` + ``outside.safetensors``, no pickle):

* an :class:`~shapekit.temper.ood.OODScorer` (class-conditional Mahalanobis distance, threshold
  calibrated by cross-fitting at ``level``) over one row per scan: the mean of its TopTemp tile
  features, then the descriptors TopTemp discards (grey levels and the spectrum's mid bands,
  :func:`~shapekit.temper.descriptors.scan_descriptors`); the two blocks are scored separately,
  so that a departure in the 9 descriptors is not drowned by the 324 TopTemp dimensions;
* :class:`~shapekit.temper.conformal.ConformalSets` calibrated on out-of-fold probabilities (the
  classifier's calibration folds), for prediction sets with a stated coverage.

:meth:`OutsideCheck.assess` turns a scan's probabilities, tile features and image into the
verdict fields ``temper`` (``"unknown"`` outside), ``ood_score`` (``<= 1`` inside),
``in_distribution``, ``prediction_set``, the parts behind the score (``ood``) and notes a
metallurgist can act on. When the model knows its training scans' pixel sizes and the scan's own
is known, a third part, ``scale``, compares them: the scan's pixel size over the range of the
training scans', divided by :data:`SCALE_MARGIN` (above 1: more than twice as coarse as the
coarsest training scan, or twice as fine as the finest, so a magnification the model never
saw). A fourth part, ``noise``, asks whether a scan is mostly pixel noise: its
:func:`structure_share` (the share of its grey-level variance above the 2-px scale) against the
least structured training scan's (:func:`noise_part`; above 1: under half of it). White noise has
a share of 0.06, whatever its histogram, and TopTemp features of smoothed noise look like
spheroidite. What the check catches and what it misses on uhcs3 (foreign materials, blank,
saturated and noise scans, other magnifications) is measured in RESULTS.md, section 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.temper.descriptors import structure_share

__all__ = ["OutsideCheck", "reachable_level", "rounded_score", "scale_part", "structure_share",
           "noise_part", "MIN_SIDE", "SCALE_MARGIN", "NOISE_SIGMA", "NOISE_MARGIN"]

STATE_VERSION = 1
#: the descriptor set this version scores (stored, so that a model is never scored with others)
DESCRIPTORS = "grey_levels+mid_octaves"
#: smallest scan side the descriptors are defined for (6 octave bands)
MIN_SIDE = 64
#: how far (as a factor) a scan's pixel size may lie beyond the training scans' range
SCALE_MARGIN = 2.0
#: the pixel scale below which a scan's grey-level variance counts as noise (Gaussian sigma, px)
NOISE_SIGMA = 2.0
#: how far (as a factor) a scan's structure share may fall below the least structured training scan's
NOISE_MARGIN = 2.0
PART_NAMES = {"topology": "topology (TopTemp features)",
              "image": "grey levels and spectrum (contrast, clipping, texture scale)",
              "scale": "magnification", "noise": "pixel noise (structure share)"}


def scale_part(um_per_px: float, training_um_per_px: Sequence[float]) -> float:
    """How far ``um_per_px`` lies outside the training range ``[lo, hi]``, in :data:`SCALE_MARGIN` units.

    0.5 inside the range (at most a factor 1 beyond it); above 1 beyond ``SCALE_MARGIN`` times.

    Examples
    --------
    >>> scale_part(0.05, (0.02, 0.1)), scale_part(0.4, (0.02, 0.1)), scale_part(0.005, (0.02, 0.1))
    (0.5, 2.0, 2.0)
    """
    lo, hi = (float(v) for v in training_um_per_px)
    u = float(um_per_px)
    if not (u > 0 and 0 < lo <= hi):
        raise InputError(f"pixel sizes must be positive with lo <= hi, got {u} and {(lo, hi)}")
    return max(1.0, u / hi, lo / u) / SCALE_MARGIN


def noise_part(share: float, share_min: float) -> float:
    """How far a scan's :func:`structure_share` falls below the least structured training scan's,
    in :data:`NOISE_MARGIN` units: 0.5 at or above ``share_min``; above 1 under half of it.

    Examples
    --------
    >>> noise_part(0.6, 0.165), noise_part(0.06, 0.165) > 1, noise_part(float("nan"), 0.165)
    (0.5, True, 0.5)
    """
    s, lo = float(share), float(share_min)
    if not s == s:  # NaN: a constant scan, which ingestion refuses before it gets here
        return 0.5
    return max(1.0, lo / max(s, 1e-12)) / NOISE_MARGIN


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


def over_limit(v: float) -> str:
    """A score above the limit 1, written so that it never reads as 1 (or below).

    Examples
    --------
    >>> over_limit(1.236582), over_limit(1.000434), over_limit(3.0)
    ('1.24', '1.0004', '3')
    """
    for digits in range(3, 8):
        text = f"{v:.{digits}g}"
        if float(text) > 1 or v <= 1:
            return text
    return f"{v:.8g}"


def rounded_score(v: float) -> float:
    """A score as verdicts give it: 4 decimals, or as many more as keep a score above the limit 1
    above it (``inf`` stays ``inf``).

    Examples
    --------
    >>> rounded_score(0.3417938067128555), rounded_score(1.00004), rounded_score(0.99996)
    (0.3418, 1.00004, 1.0)
    """
    if not math.isfinite(v):
        return v
    r = round(float(v), 4)
    return r if (r > 1) == (v > 1) else float(over_limit(v))


class OutsideCheck:
    """The "outside the training data" check of a TopTemp model (see the module docstring).

    Parameters
    ----------
    level : float
        Share of in-distribution scans meant to pass (lowered to what the number of training
        scans supports, :func:`reachable_level`).
    coverage : float
        Coverage of the prediction sets.
    score : {"aps", "lac"}
        Non-conformity score of the prediction sets.
    seed : int
        Seeds the scorer's calibration folds.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> rng = np.random.default_rng(0)
    >>> imgs = [np.clip(0.5 + 0.6 * gaussian_filter(rng.normal(size=(96, 96)), 2), 0, 1)
    ...         for _ in range(40)]
    >>> feats = [rng.normal(size=(4, 3)) for _ in imgs]
    >>> y = np.arange(40) % 2
    >>> chk = OutsideCheck().fit(feats, imgs, y, oof_proba=np.eye(2)[y] * 0.8 + 0.1)
    >>> r = chk.assess([0.8, 0.2], ["a", "b"], feats[0], imgs[0], None)
    >>> r["temper"], r["in_distribution"], r["prediction_set"]
    ('a', True, ['a'])
    >>> flat = np.full((96, 96), 0.5) + 0.001 * rng.normal(size=(96, 96))
    >>> chk.assess([0.8, 0.2], ["a", "b"], feats[0], flat, None)["temper"]
    'unknown'
    """

    def __init__(self, level: float = 0.99, coverage: float = 0.95, score: str = "aps",
                 seed: int = 0) -> None:
        self.level = level
        self.coverage = coverage
        self.score = score
        self.seed = seed

    @staticmethod
    def row(tile_features: np.ndarray, image: np.ndarray) -> np.ndarray:
        """One scan's scorer row: mean tile features, then the 9 scan descriptors."""
        from shapekit.temper.descriptors import scan_descriptors

        t = np.asarray(tile_features, dtype=np.float64)
        return np.r_[t.mean(axis=0), scan_descriptors(image)]

    # ------------------------------------------------------------------ fit
    def fit(self, tile_features: Sequence[np.ndarray], images: Sequence[np.ndarray], y: Any,
            groups: Any = None, oof_proba: np.ndarray | None = None,
            n_jobs: int | None = 1) -> OutsideCheck:
        """Fit on the training scans: their tile features, images (as classified), labels,
        optional physical groups and out-of-fold probabilities (columns: sorted labels).
        ``n_jobs`` scans are described at once (threads).

        Raises
        ------
        InputError
            Fewer than 10 scans, a scan smaller than :data:`MIN_SIDE`, mismatched lengths.
        """
        from joblib import Parallel, delayed

        from shapekit._progress import progress
        from shapekit.temper.conformal import ConformalSets
        from shapekit.temper.descriptors import DESCRIPTOR_NAMES
        from shapekit.temper.ood import METHODS, OODScorer

        # the parameters first, before the scans are described
        OODScorer(METHODS[0], self.level, seed=self.seed)._check_params()
        ConformalSets(self.coverage, self.score)._check_params()
        n = len(images)
        if len(tile_features) != n or len(y) != n:
            raise InputError(f"{len(tile_features)} feature sets, {n} images and {len(y)} labels")
        if n < 10:
            raise InputError(f"an outside-the-training-data check needs at least 10 training scans, "
                             f"got {n}")
        small = [i for i, im in enumerate(images) if min(np.shape(im)) < MIN_SIDE]
        if small:
            raise InputError(f"an outside-the-training-data check needs scans of at least {MIN_SIDE} px "
                             f"a side; scan {small[0]} is {np.shape(images[small[0]])}")
        _, yi = np.unique(np.asarray(y), return_inverse=True)
        jobs = Parallel(n_jobs=n_jobs or -1, prefer="threads", return_as="generator")(
            delayed(self.row)(t, im) for t, im in zip(tile_features, images))
        R = np.stack(list(progress(jobs, desc="outside check", total=n)))
        self.level_ = reachable_level(n, float(self.level))
        if self.level_ < float(self.level):
            import warnings

            from shapekit.errors import ShapekitWarning

            need = next(k for k in range(n, 10**6) if reachable_level(k, float(self.level)) >= self.level)
            warnings.warn(f"the outside check has {n} training scans, too few for a "
                          f"{100 * float(self.level):g} % limit ({need} needed): its limit is the most "
                          f"unusual training scan, so it flags only scans further out than that; "
                          f"train on more scans for a tighter check", ShapekitWarning, stacklevel=2)
        d_topo = int(np.shape(tile_features[0])[1])
        self.scorer_ = OODScorer(level=self.level_, seed=int(self.seed),
                                 blocks=[d_topo, len(DESCRIPTOR_NAMES)]).fit(R, yi, groups=groups)
        self.structure_share_min_ = float(np.nanmin([structure_share(im, NOISE_SIGMA) for im in images]))
        self.conformal_ = None
        if oof_proba is not None:
            self.conformal_ = ConformalSets(float(self.coverage), self.score).fit(np.asarray(oof_proba), yi)
        return self

    # ------------------------------------------------------------------ assess
    def assess(self, proba: Any, labels: Sequence[str], tile_features: np.ndarray, image: np.ndarray,
               um_per_px: float | None, model_um_per_px: float | None = None, *,
               source_um_per_px: float | None = None,
               training_um_per_px: Sequence[float] | None = None,
               dtype: str | None = None) -> dict[str, Any]:
        """The verdict fields of one scan (see the module docstring).

        ``um_per_px`` is the pixel size of ``image`` as classified (None: unknown) and
        ``model_um_per_px`` the model's (None: its training scans' pixel size is unknown).
        ``source_um_per_px`` is the scan's pixel size before it was resampled to the model's and
        ``training_um_per_px`` the ``[lo, hi]`` range of the training scans' (both known: the
        ``scale`` part, :func:`scale_part`). ``dtype`` is the scan file's sample type (None: an
        array), which words the hint for a scan whose grey levels fill little of the range.
        """
        from shapekit.io.scan import narrow_range_note
        from shapekit.temper.ood import verdict
        from shapekit.temper.scans import unknown_scale_note

        notes = []
        if min(np.shape(image)) < MIN_SIDE:
            parts = {"topology": math.inf, "image": math.inf}
            notes.append(f"outside the training data: the scan ({np.shape(image)[0]}x{np.shape(image)[1]} "
                         f"px) is too small to compare with the training scans (at least {MIN_SIDE} px "
                         f"a side)")
        else:
            raw = self.scorer_.block_scores(self.row(tile_features, image)[None])[0]
            parts = {"topology": float(raw[0]), "image": float(raw[1])}
        share = None
        if getattr(self, "structure_share_min_", None) is not None and min(np.shape(image)) >= MIN_SIDE:
            share = structure_share(image, NOISE_SIGMA)
            parts["noise"] = noise_part(share, self.structure_share_min_)
        scale_checked = source_um_per_px is not None and training_um_per_px is not None
        if scale_checked:
            parts["scale"] = scale_part(source_um_per_px, training_um_per_px)
        res = verdict(proba, labels, max(parts.values()), self.conformal_)
        if not res["in_distribution"] and not notes:
            for k, v in parts.items():
                if v > 1 and k == "scale":
                    lo, hi = training_um_per_px
                    notes.append(f"outside the training data: magnification: the scan's pixel size "
                                 f"({source_um_per_px:.3g} um) is {v * SCALE_MARGIN:.2g}x "
                                 + ("coarser than the coarsest" if source_um_per_px > hi else "finer than the finest")
                                 + f" of the training range ({hi if source_um_per_px > hi else lo:.3g} um)")
                elif v > 1 and k == "noise":
                    notes.append(f"outside the training data: mostly noise: {100 * share:.0f} % of the "
                                 f"scan's grey-level variance lies above the {NOISE_SIGMA:g}-px scale, "
                                 f"against at least {100 * self.structure_share_min_:.0f} % in every "
                                 f"training scan")
                elif v > 1:
                    notes.append(f"outside the training data: {PART_NAMES[k]} unlike the training "
                                 f"scans' (score {over_limit(v)}; 1 is the {100 * self.level_:.3g} % limit)")
                    if k == "image":
                        notes.extend(narrow_range_note(image, dtype))
        if model_um_per_px is not None and um_per_px is None:
            notes.append(unknown_scale_note(model_um_per_px))
        elif scale_checked:
            pass
        elif training_um_per_px is not None:
            notes.append("magnification not checked: the scan's pixel size is unknown (no metadata, "
                         "no readable scale bar); give --um-per-px to have it checked")
        elif model_um_per_px is None:
            notes.append("scale not checked: the model's training scans have no pixel size, so a "
                         "scan at a very different magnification may pass unnoticed")
        else:
            notes.append("magnification not checked: the model was saved without the pixel-size range "
                         "of its training scans (retrain it to have it checked)")
        # the score is its largest part, rounded as the parts are (never across the limit 1)
        res["ood_score"] = rounded_score(res["ood_score"])
        res["ood"] = {k: rounded_score(v) for k, v in parts.items()}
        res["notes"] = notes
        return res

    # ------------------------------------------------------------------ state
    def to_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``(config, arrays)`` for the model directory (JSON and float arrays, no pickle)."""
        cfg, arrays = self.scorer_.to_state()
        state = {"kind": "outside_check", "version": STATE_VERSION, "descriptors": DESCRIPTORS,
                 "level": float(self.level), "coverage": float(self.coverage), "score": self.score,
                 "seed": int(self.seed), "fitted_level": float(self.level_), "scorer": cfg,
                 "conformal": None if self.conformal_ is None else self.conformal_.to_state()}
        if getattr(self, "structure_share_min_", None) is not None:
            state["structure_share_min"] = float(self.structure_share_min_)
        return state, arrays

    @classmethod
    def from_state(cls, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> OutsideCheck:
        """Rebuild a fitted check from :meth:`to_state` output."""
        from shapekit.temper.conformal import ConformalSets
        from shapekit.temper.descriptors import DESCRIPTOR_NAMES
        from shapekit.temper.ood import OODScorer

        if state.get("kind") != "outside_check" or int(state.get("version", -1)) != STATE_VERSION:
            raise InputError(f"not an outside-check state of version {STATE_VERSION}")
        if state.get("descriptors") != DESCRIPTORS:
            raise InputError(f"descriptors {state.get('descriptors')!r} are not this version's "
                             f"{DESCRIPTORS!r}: retrain the model")
        self = cls(state["level"], state["coverage"], state["score"], state["seed"])
        self.level_ = float(state["fitted_level"])
        self.scorer_ = OODScorer.from_state(state["scorer"], arrays)
        blocks = self.scorer_.blocks
        if blocks is None or len(blocks) != 2 or int(blocks[1]) != len(DESCRIPTOR_NAMES):
            raise InputError(f"scorer blocks {blocks} are not [TopTemp features, "
                             f"{len(DESCRIPTOR_NAMES)} descriptors]")
        self.conformal_ = None if state["conformal"] is None else ConformalSets.from_state(state["conformal"])
        share_min = state.get("structure_share_min")  # absent in models saved before the noise part
        self.structure_share_min_ = None if share_min is None else float(share_min)
        if self.structure_share_min_ is not None and not 0 < self.structure_share_min_ <= 1:
            raise InputError(f"structure_share_min must lie in (0, 1], got {share_min}")
        return self

    @property
    def n_topology_features(self) -> int:
        """TopTemp columns the scorer expects."""
        return int(self.scorer_.blocks[0])
