"""The temper classifier's features: the shipped presets as scikit-learn pipelines of topology steps.

TopTemp features of a tile [1]_: z-score it (brightness and contrast out), then at each scale
``s`` (area-averaged by ``s`` x ``s`` pixels, optionally Gaussian-smoothed and re-z-scored) take
the sublevel and superlevel cubical persistence diagrams (H0 and H1) and summarise each by
persistence statistics (and optionally Betti curves) on fixed grids in z units, with ``log1p``
of counts, totals and Betti numbers.  Because every tile is z-scored, nothing is fitted: a fresh
pipeline's ``fit_transform`` gives the features of any tiles, and a preset is only a
configuration of :mod:`shapekit.topology` steps::

    Standardize -> Pyramid(scales, smooth, restandardize) -> CubicalDiagrams(min_persistence)
                -> PersistenceStatistics(thresholds, quantiles, log1p)  [| BettiCurves]

Presets (uhcs3 figures: RESULTS.md section 1): ``"robust"`` (default) smooths every scale by
1 px, re-z-scores it, drops pairs of persistence <= 0.25 and trains on 2 degraded copies of every
scan, so that accuracy drops <= 5 points under blur, noise, JPEG and contrast changes;
``"accurate"`` is plain multi-scale PH (the best clean accuracy, fragile under blur and noise).

References
----------
.. [1] L. Kassab, S. Howland, H. Kvinge, K. Kappagantula, T. Emerson, "TopTemp: Parsing
   Precipitate Structure from Temper Topology", arXiv:2204.00629, 2022.
"""

from __future__ import annotations

from typing import Any

from shapekit.errors import InputError
from shapekit.topology.vectorize import QUANTILES, THRESHOLDS

__all__ = ["FEATURE_DEFAULTS", "PRESETS", "DEFAULT_PRESET", "feature_params", "toptemp_features",
           "fitted_features"]

#: the feature parameters of :func:`toptemp_features` and their defaults (JSON in model dirs)
FEATURE_DEFAULTS: dict[str, Any] = {
    "scales": [1, 2, 4], "smooth": 0.0, "thresholds": list(THRESHOLDS),
    "quantiles": list(QUANTILES), "betti_points": 0, "min_persistence": 0.0,
    "restandardize": False,
}
#: feature parameters and training augmentation of the shipped presets
PRESETS: dict[str, dict[str, Any]] = {
    "robust": {"feature_params": {**FEATURE_DEFAULTS, "smooth": 1.0, "min_persistence": 0.25,
                                  "restandardize": True},
               "augment": 2, "augment_options": {"max_blur": 3.0, "max_noise": 0.1, "jpeg_prob": 0.3}},
    "accurate": {"feature_params": dict(FEATURE_DEFAULTS), "augment": 0, "augment_options": {}},
}
DEFAULT_PRESET = "robust"
#: Betti curves sample this range of z-scored grey levels
Z_RANGE = (-3.0, 3.0)


def feature_params(preset: str = DEFAULT_PRESET, **overrides: Any) -> dict[str, Any]:
    """The JSON feature parameters of ``preset`` with ``overrides`` (unknown keys refused).

    Examples
    --------
    >>> feature_params("accurate", scales=[2])["scales"], feature_params()["smooth"]
    ([2], 1.0)
    >>> feature_params(scale=[2])
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: unknown feature parameter(s): ['scale']
    """
    if preset not in PRESETS:
        raise InputError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    return _complete({**PRESETS[preset]["feature_params"], **overrides})


def _complete(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` over :data:`FEATURE_DEFAULTS`, as plain JSON types; unknown keys refused."""
    unknown = sorted(set(params) - set(FEATURE_DEFAULTS))
    if unknown:
        raise InputError(f"unknown feature parameter(s): {unknown}")
    p = {**FEATURE_DEFAULTS, **params}
    try:
        out = {"scales": [int(s) for s in p["scales"]], "smooth": float(p["smooth"]),
               "thresholds": [float(t) for t in p["thresholds"]],
               "quantiles": [float(q) for q in p["quantiles"]], "betti_points": int(p["betti_points"]),
               "min_persistence": float(p["min_persistence"]),
               "restandardize": bool(p["restandardize"])}
    except (TypeError, ValueError):
        raise InputError(f"invalid feature parameters {params!r}") from None
    if not out["scales"] or out["scales"] != list(p["scales"]) or min(out["scales"]) < 1:
        raise InputError(f"scales must be positive integers, got {list(p['scales'])}")
    if out["betti_points"] != p["betti_points"] or out["betti_points"] < 0:
        raise InputError(f"betti_points must be a non-negative integer, got {p['betti_points']}")
    if out["min_persistence"] < 0:
        raise InputError(f"min_persistence must be >= 0, got {p['min_persistence']}")
    return out


def toptemp_features(params: dict[str, Any] | None = None, n_jobs: int | None = 1,
                     device: str | None = None) -> Any:
    """The feature pipeline of ``params`` (default: the robust preset).

    ``params`` holds keys of :data:`FEATURE_DEFAULTS`; missing ones take those defaults (plain
    multi-scale PH), so use :func:`feature_params` to start from a preset.  Persistence runs on
    the ``"auto"`` backend: the torch backend on CUDA (``device=None`` and CUDA present, or
    ``device="cuda"``), else GUDHI (``device="cpu"``).  The diagrams are the same; the features
    agree to rounding (sums over the pairs in another order: relative differences ~1e-15), so
    the device is not part of a model's parameters.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``standardize``, ``pyramid``, ``diagrams``, ``features`` (a ``FeatureUnion`` of
        ``statistics`` and, with ``betti_points``, ``betti``).  Input: a list of 2-D tiles or an
        ``(n, h, w)`` array; output: ``(n, d)`` float64.

    Examples
    --------
    >>> import numpy as np
    >>> pipe = toptemp_features(feature_params("accurate", scales=[1, 2]))
    >>> X = pipe.fit_transform(np.random.default_rng(0).random((2, 32, 32)))
    >>> X.shape, pipe.get_feature_names_out()[0]
    ((2, 216), 's1_sublevel_h0_n_pairs')
    """
    from sklearn.pipeline import FeatureUnion, Pipeline

    from shapekit.topology.transformers import CubicalDiagrams, Pyramid, Standardize
    from shapekit.topology.vectorizers import BettiCurves, PersistenceStatistics

    p = _complete(PRESETS[DEFAULT_PRESET]["feature_params"] if params is None else params)
    parts = [("statistics", PersistenceStatistics(p["thresholds"], p["quantiles"], log1p=True))]
    if p["betti_points"]:
        parts.append(("betti", BettiCurves(p["betti_points"], Z_RANGE, log1p=True)))
    return Pipeline([
        ("standardize", Standardize()),
        ("pyramid", Pyramid(p["scales"], p["smooth"], p["restandardize"])),
        ("diagrams", CubicalDiagrams(min_persistence=p["min_persistence"], backend="auto",
                                     n_jobs=n_jobs, device=device)),
        ("features", FeatureUnion(parts, verbose_feature_names_out=False)),
    ])


def fitted_features(params: dict[str, Any] | None = None, device: str | None = None) -> Any:
    """:func:`toptemp_features` fitted on a blank tile: it learns nothing but its column layout
    (``get_feature_names_out``, :func:`~shapekit.topology.vectorizers.feature_blocks`), and its
    ``transform`` equals a fresh pipeline's ``fit_transform``.  ``device`` as in
    :func:`toptemp_features`.

    Examples
    --------
    >>> fitted_features(feature_params("accurate", scales=[2])).get_feature_names_out()[-1]
    's2_superlevel_h1_death_q90'
    """
    import numpy as np

    pipe = toptemp_features(params, device=device)
    side = 2 * max(pipe.named_steps["pyramid"].scales)
    return pipe.fit([np.zeros((side, side), np.float32)])
