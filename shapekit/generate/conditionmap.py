"""The condition map of a generator: what it is asked for -> what its network is given, per class.

A conditional generator is held to its conditions only on average over training: asked for a
process condition, the structure it draws (an area fraction, a particle radius) can sit off the
structure of its training images at that condition by an amount that changes smoothly over the
condition space (RESULTS.md section 6: on the shipped ``sim-parameters``, about two thirds of the
generated-minus-simulated area fraction and nine tenths of the radius error are predictable
from the condition). The map corrects this after training, without touching the weights, the
way the imaging stage (:mod:`shapekit.generate.imaging`) corrects how images are taken:

1. **Target.** Each training image is measured (e.g. area fraction and log particle radius,
   :func:`shapekit.synth.measure_structure`); per class, a Gaussian process over the encoded
   conditions smooths these into the structure expected at any condition.
2. **Forward.** On a regular grid over the encoded conditions (within ``reach`` of the class's
   training conditions), ``n_images`` images are generated and measured; a second Gaussian
   process gives the structure the generator draws for any input.
3. **Inverse.** At every grid point where the class has training data, the input is found whose
   generated structure equals the target there (least squares in ``scales`` units, with a
   ``pull`` towards the requested input, inside the training box). Grid points away from the
   data take the nearest fitted shift. The inputs are then made order-preserving: every input
   nondecreasing along every grid line (alternating isotonic least squares), so asking for more
   of any condition never gives the network less of any input, and a sweep stays a sweep where
   the structure barely changes and the inverse is ill-posed. The shift, input minus request, is
   stored.

:class:`ConditionMap` applies the shifts by linear interpolation (requests outside the grid use
the shift at its edge). Maps are stored in ``generator.json`` under ``"condition_map"``; an
export without the key has none, and ``sample(..., raw=True)`` skips it with the imaging stage.
``shapekit calibrate-conditions`` fits one on an export's own training split
(:mod:`shapekit.generate.conditioncal`).

Examples
--------
>>> import numpy as np
>>> m = ConditionMap([np.array([-1.0, 1.0])], {"a": np.array([[0.0], [0.2]])})
>>> m.apply(np.array([[0.0], [5.0]]), ["a", "a"]).ravel().round(3).tolist()
[0.1, 5.2]
>>> m.apply(np.array([[0.0]]), ["b"]).ravel().tolist()   # a class without a map: unchanged
[0.0]
>>> ConditionMap.from_dict(m.to_dict()).apply(np.array([[0.0]]), ["a"]).ravel().round(3).tolist()
[0.1]
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from shapekit.errors import InputError, ModelFormatError

__all__ = ["ConditionMap", "fit_condition_map", "MAP_VERSION", "MIN_ZOOM"]

#: format version of the ``"condition_map"`` block of ``generator.json``
MAP_VERSION = 1
#: magnifications closer to 1 than this are not applied (the image is the network's own)
MIN_ZOOM = 1.02


class ConditionMap:
    """Per-class shifts of a generator's encoded condition inputs on a regular grid.

    Parameters
    ----------
    axes : sequence of 1-D arrays
        Grid coordinates along each encoded condition (increasing, at least 2 each).
    shifts : mapping
        Class name -> array ``(*[len(a) for a in axes], n_conditions)``: the input minus the
        request, in encoded units, at each grid point.
    fitted : dict, optional
        What the map was fitted on (stored with it; not used to apply it).
    zoom : mapping, optional
        Class name -> array ``tuple(len(a) for a in axes)``: the log magnification of the
        image at each grid point (0: none; see :meth:`zooms`).
    """

    def __init__(self, axes: Sequence[np.ndarray], shifts: Mapping[str, np.ndarray],
                 fitted: dict[str, Any] | None = None,
                 zoom: Mapping[str, np.ndarray] | None = None) -> None:
        self.axes = [np.asarray(a, dtype=np.float64).ravel() for a in axes]
        k = len(self.axes)
        if k == 0 or any(len(a) < 2 or not np.all(np.diff(a) > 0) or not np.all(np.isfinite(a))
                         for a in self.axes):
            raise ModelFormatError("condition map: every axis needs >= 2 increasing finite values")
        shape = tuple(len(a) for a in self.axes) + (k,)
        self.shifts = {}
        for name, s in shifts.items():
            s = np.asarray(s, dtype=np.float64)
            if s.shape != shape or not np.all(np.isfinite(s)):
                raise ModelFormatError(f"condition map of {name!r}: shifts of shape {s.shape}, "
                                       f"expected {shape}, all finite")
            self.shifts[str(name)] = s
        self.zoom = {}
        for name, lz in (zoom or {}).items():
            lz = np.asarray(lz, dtype=np.float64)
            if lz.shape != shape[:-1] or not np.all(np.abs(lz) <= np.log(4.0)):
                raise ModelFormatError(f"condition map zoom of {name!r}: shape {lz.shape}, "
                                       f"expected {shape[:-1]}, log magnifications within +-log 4")
            self.zoom[str(name)] = lz
        self.fitted = dict(fitted or {})

    def _at(self, grids: Mapping[str, np.ndarray], z: np.ndarray, names: Sequence[str],
            fill: np.ndarray) -> np.ndarray:
        from scipy.interpolate import RegularGridInterpolator

        z = np.asarray(z, dtype=np.float64).reshape(len(names), len(self.axes))
        lo = np.array([a[0] for a in self.axes])
        hi = np.array([a[-1] for a in self.axes])
        names = np.asarray([str(n) for n in names], dtype=object)
        for name, grid in grids.items():
            rows = names == name
            if rows.any():
                f = RegularGridInterpolator(self.axes, grid, method="linear")
                fill[rows] = f(np.clip(z[rows], lo, hi))
        return fill

    def zooms(self, z: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """The magnification of each image at encoded requests ``z`` ``(n, k)`` (1 where the
        class has none, and below :data:`MIN_ZOOM`: an image is generated as the network makes
        it unless the map asks for a real magnification)."""
        out = np.exp(self._at(self.zoom, z, names, np.zeros(len(names))))
        return np.where(np.abs(out - 1.0) < MIN_ZOOM - 1.0, 1.0, out)

    def apply(self, z: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Encoded requests ``(n, k)`` of images of classes ``names`` -> the network's inputs."""
        z = np.asarray(z, dtype=np.float64).reshape(len(names), len(self.axes))
        return z + self._at(self.shifts, z, names, np.zeros_like(z))

    def to_dict(self) -> dict[str, Any]:
        out = {"version": MAP_VERSION, "axes": [a.tolist() for a in self.axes],
               "labels": {n: np.round(s, 6).tolist() for n, s in self.shifts.items()},
               "fitted": self.fitted}
        if self.zoom:
            out["zoom"] = {n: np.round(lz, 6).tolist() for n, lz in self.zoom.items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ConditionMap":
        if d.get("version") != MAP_VERSION:
            raise ModelFormatError(f"condition map version {d.get('version')!r}; this shapekit "
                                   f"reads version {MAP_VERSION} (upgrade shapekit)")
        try:
            return cls(d["axes"], {n: np.asarray(s, dtype=np.float64)
                                   for n, s in d["labels"].items()}, d.get("fitted"),
                       {n: np.asarray(lz, dtype=np.float64)
                        for n, lz in (d.get("zoom") or {}).items()})
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFormatError(f"condition map: malformed block ({e})") from None


def _gp(x: np.ndarray, y: np.ndarray):
    """A Gaussian process (RBF per axis + white noise, fitted deterministically) of y on x."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = (ConstantKernel(1.0, (1e-2, 1e2)) * RBF(np.ones(x.shape[1]), (0.2, 20.0))
              + WhiteKernel(0.1, (1e-4, 1.0)))
    ok = np.isfinite(y)
    with warnings.catch_warnings():   # a length scale at its bound is a smooth surface, not an error
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianProcessRegressor(kernel, normalize_y=True, random_state=0).fit(x[ok], y[ok])


def _isotonic_along(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` made nondecreasing (least squares) along ``axis`` on every grid line."""
    from sklearn.isotonic import IsotonicRegression

    lines = np.moveaxis(a, axis, -1)
    flat = lines.reshape(-1, lines.shape[-1]).copy()
    x = np.arange(flat.shape[1])
    for row in flat:
        row[:] = IsotonicRegression().fit_transform(x, row)
    return np.moveaxis(flat.reshape(lines.shape), -1, axis)


def _monotone(mapped: np.ndarray, rounds: int = 50, axes: Sequence[np.ndarray] | None = None,
              min_slope: float = 0.0) -> np.ndarray:
    """Inputs order-preserving in the product order: every component ``mapped[..., j]``
    nondecreasing along every grid axis (alternating isotonic projections, ``rounds`` at most).
    With ``min_slope`` s > 0 (and the grid's ``axes``), component j also rises along its own
    axis j at least s times as fast as the request, so a sweep of one condition always moves
    its own input.

    Examples
    --------
    >>> _monotone(np.array([[0.0], [2.0], [1.0], [3.0]])).ravel().tolist()
    [0.0, 1.5, 1.5, 3.0]
    >>> m = _monotone(np.array([[[0.0, 0.0], [0.0, 1.0]], [[1.0, -1.0], [1.0, 1.0]]]))
    >>> bool(np.all(np.diff(m, axis=0) >= -1e-9) and np.all(np.diff(m, axis=1) >= -1e-9))
    True
    >>> a = np.arange(4.0)
    >>> _monotone(np.array([[0.0], [1.5], [1.5], [3.0]]), axes=[a], min_slope=0.5).ravel().tolist()
    [0.0, 1.25, 1.75, 3.0]
    """
    out = mapped.copy()
    dims = range(out.ndim - 1)
    if min_slope and axes is None:
        raise ValueError("_monotone: min_slope needs the grid's axes")
    ramp = [np.zeros(out.shape[:-1]) for _ in range(out.shape[-1])]
    if min_slope:
        for j in range(out.shape[-1]):
            ramp[j] = min_slope * np.asarray(axes[j]).reshape(
                [-1 if d == j else 1 for d in dims]) + np.zeros(out.shape[:-1])

    def ok(x: np.ndarray) -> bool:
        return all(np.all(np.diff(x[..., j] - (ramp[j] if ax == j else 0), axis=ax) >= -1e-9)
                   for j in range(x.shape[-1]) for ax in dims)

    for _ in range(rounds):
        for j in range(out.shape[-1]):
            for ax in dims:
                r = ramp[j] if ax == j else 0.0
                out[..., j] = _isotonic_along(out[..., j] - r, ax) + r
        if ok(out):
            break
    return out


def fit_condition_map(sampler: Any, values: np.ndarray, labels: Sequence[str],
                      measured: np.ndarray, measure: Callable[[np.ndarray], np.ndarray],
                      scales: Sequence[float], *, steps: int = 13, n_images: int = 8,
                      size: int = 256, seed: int = 0, reach: float = 0.75, pull: float = 0.1,
                      min_images: int = 10, zoom_range: tuple[float, float] | None = None,
                      log_size: int | None = None, min_slope: float = 0.0,
                      classes: Sequence[str] | None = None) -> ConditionMap:
    """Fit a :class:`ConditionMap` for ``sampler`` (a loaded generator) on its training images.

    Parameters
    ----------
    sampler : GeneratorSampler
        The generator (parameters or properties mode); its own map, if any, is not used.
    values : array ``(n, k)``
        The training images' raw conditions.
    labels : sequence of str
        Their class names.
    measured : array ``(n, q)``
        ``measure`` of each training image (NaN where undefined).
    measure : callable
        One image ``(H, W)`` in [0, 1] -> ``q`` numbers (NaN where undefined).
    scales : sequence of q floats
        The size of an error worth correcting in each measured number.
    steps, n_images, size, seed
        Grid points per condition; generated images of ``size``^2 per grid point, the i-th
        point's with seed ``seed + i``.
    reach, pull, min_images
        Grid points within ``reach`` (encoded units) of a class's training conditions are
        generated; the weight of the request in the least squares; classes with fewer
        training images get no map.
    zoom_range, log_size
        With both, each grid point may also magnify its images by a factor within
        ``zoom_range``: measured number ``log_size`` is a log length, which a magnification
        ``m`` raises by ``log m`` and leaves the others alone (a self-similar structure, such as
        particles coarsening at a constant fraction, looks like its own magnification). The
        least squares weighs ``log m`` like a shift of the input (``pull``).
    min_slope : float
        Each input rises along its own condition at least this fraction of the request's rate
        (0: only nondecreasing), so that where the structure barely changes the inverse cannot
        hold an input still along a sweep.
    classes : sequence of str, optional
        Fit only these classes; the others get no map (their requests go to the network as
        asked). Default: every class.

    Raises
    ------
    InputError
        A class-mode model, or inputs of mismatched lengths.
    """
    from scipy.optimize import least_squares
    from scipy.spatial import cKDTree

    from shapekit._progress import progress

    codec = sampler.codec
    if not codec.n_cond:
        raise InputError("a condition map needs a parameters- or properties-mode generator")
    values = np.asarray(values, dtype=np.float64).reshape(-1, codec.n_cond)
    measured = np.asarray(measured, dtype=np.float64).reshape(len(values), -1)
    labels = np.asarray([str(x) for x in labels], dtype=object)
    scales = np.asarray(scales, dtype=np.float64)
    if len(labels) != len(values) or measured.shape[1] != len(scales):
        raise InputError("condition map: values, labels, measured and scales do not match")
    zoomed = zoom_range is not None and log_size is not None
    if zoomed and not (0.25 <= zoom_range[0] <= 1.0 <= zoom_range[1] <= 4.0
                       and 0 <= int(log_size) < len(scales)):
        raise InputError(f"condition map: zoom_range {zoom_range} must hold 1 within [0.25, 4] "
                         f"and log_size {log_size} must index the measured numbers")
    lz_lo, lz_hi = (np.log(zoom_range[0]), np.log(zoom_range[1])) if zoomed else (0.0, 0.0)
    z = codec.encode(values).astype(np.float64)
    axes = [np.linspace(z[:, j].min(), z[:, j].max(), int(steps)) for j in range(codec.n_cond)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, codec.n_cond)
    cell = float(np.sqrt(np.sum([(a[1] - a[0]) ** 2 for a in axes])))
    lo, hi = grid.min(axis=0), grid.max(axis=0)
    shape = tuple(len(a) for a in axes) + (codec.n_cond,)
    own, sampler.condition_map = getattr(sampler, "condition_map", None), None
    shifts, zooms, info = {}, {}, {}
    try:
        if classes is not None and not set(map(str, classes)) <= set(labels):
            raise InputError(f"condition map: no training images of "
                             f"{sorted(set(map(str, classes)) - set(labels))}; the classes are "
                             f"{sorted(set(labels))}")
        for name in sorted(set(labels)):
            mine = labels == name
            if classes is not None and name not in set(map(str, classes)):
                info[name] = {"n_training": int(mine.sum()), "skipped": "not asked for"}
                continue
            if mine.sum() < min_images:
                info[name] = {"n_training": int(mine.sum()), "skipped": "too few training images"}
                continue
            if np.any(np.isfinite(measured[mine]).sum(axis=0) < min_images):
                info[name] = {"n_training": int(mine.sum()),
                              "skipped": "too few training images with a measurement"}
                continue
            dist = cKDTree(z[mine]).query(grid)[0]
            design = np.flatnonzero(dist <= reach)
            inside = np.flatnonzero(dist <= cell / 2)
            target = [_gp(z[mine], measured[mine, q]) for q in range(len(scales))]
            forward = np.full((len(design), len(scales)), np.nan)
            for i, g in enumerate(progress(design, desc=f"condition map: {name}")):
                raw = np.clip(codec.decode(grid[g][None])[0], codec.lo, codec.hi)
                imgs = sampler.sample(n_images, label=name, seed=seed + int(g), size=size,
                                      conditions=dict(zip(codec.names, raw)))
                with warnings.catch_warnings():   # an all-NaN column stays NaN
                    warnings.simplefilter("ignore", RuntimeWarning)
                    forward[i] = np.nanmean([measure(im) for im in imgs], axis=0)
            if np.any(np.isfinite(forward).sum(axis=0) < 3):
                info[name] = {"n_training": int(mine.sum()),
                              "skipped": "too few generated images with a measurement"}
                continue
            gen = [_gp(grid[design], forward[:, q]) for q in range(len(scales))]
            want = np.stack([m.predict(grid[inside]) for m in target], axis=1)
            found = np.empty((len(inside), codec.n_cond + 1))
            k = codec.n_cond
            for j, (g, t) in enumerate(zip(inside, want)):
                def resid(x: np.ndarray, g: int = g, t: np.ndarray = t) -> np.ndarray:
                    f = np.array([m.predict(x[None, :k])[0] for m in gen])
                    if zoomed:
                        f[int(log_size)] += x[k]
                    return np.concatenate([(f - t) / scales, pull * (x - np.append(grid[g], 0))])
                if zoomed:
                    found[j] = least_squares(resid, np.append(grid[g], 0.0), diff_step=1e-3,
                                             bounds=(np.append(lo, lz_lo), np.append(hi, lz_hi))).x
                else:
                    found[j, :k] = least_squares(lambda u, r=resid: r(np.append(u, 0.0)),
                                                 grid[g], bounds=(lo, hi), diff_step=1e-3).x
                    found[j, k] = 0.0
            shift = found[:, :k] - grid[inside]
            near = cKDTree(grid[inside]).query(grid)[1]    # the rest: the nearest fitted shift
            mapped = _monotone(grid.reshape(shape) + shift[near].reshape(shape), axes=axes,
                               min_slope=min_slope)
            if min_slope:   # the ramp may carry an input out of the training box
                mapped = np.clip(mapped, lo, hi)
            shifts[name] = mapped - grid.reshape(shape)
            if zoomed:
                zooms[name] = found[near, k].reshape(shape[:-1])
            info[name] = {"n_training": int(mine.sum()), "grid_points_generated": len(design),
                          "grid_points_fitted": len(inside),
                          "largest_shift": round(float(np.abs(shifts[name]).max()), 4)}
            if zoomed:
                info[name]["zoom_range"] = [round(float(np.exp(found[:, k].min())), 4),
                                            round(float(np.exp(found[:, k].max())), 4)]
    finally:
        sampler.condition_map = own
    return ConditionMap(axes, shifts, {"n_images": int(n_images), "size": int(size),
                                       "seed": int(seed), "steps": int(steps),
                                       "reach": float(reach), "pull": float(pull),
                                       **({"min_slope": float(min_slope)} if min_slope else {}),
                                       "scales": scales.tolist(), "labels": info,
                                       **({"zoom_range": list(zoom_range)} if zoomed else {})},
                        zooms)
