"""``shapekit calibrate-imaging``: fit a generator's imaging stage on its training images.

The stage (:class:`shapekit.generate.imaging.ImagingStage`) blurs the network's output by a
Gaussian probe and adds shot noise at a level drawn from the training images' own. Per class,
:func:`fit_imaging_stage` stores the quantiles of the real images' noise
(:func:`shapekit.realism.imaging.imaging_descriptors`) and chooses the probe from a grid by
passing generated images through the whole stage and measuring the gap of every descriptor that
enters the imaging distance (:func:`shapekit.realism.imaging.imaging_gap`): the probe that brings
the generated images' grey levels, contrast, noise and sharpness together closest to the real
ones'. For a model trained without a common pixel size, :func:`fit_zoom` first compares the
spread of feature sizes (:func:`shapekit.realism.structure.image_spacing`) of its raw images and
of the training images per class; where the network's spread is less than half the real one it
stores a magnification draw, and the blur and noise are then fitted on magnified images. With
``orient``, a class whose generated images share a direction more than 45 degrees from its
training images' is turned a quarter (:func:`shapekit.generate.imaging.fit_turn`).
:func:`calibrate_generator` does this for an export with its training split (never its
held-out images) and writes the block into ``generator.json``. It lives here, above both
``generate`` and ``realism``, because it needs both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import click
import numpy as np

from shapekit.cli._common import SEED_RANGE, emit_json, info, json_option, root_option
from shapekit.cli.calibrate_checks import check_run, check_training_data
from shapekit.errors import InputError

__all__ = ["fit_imaging_stage", "fit_zoom", "calibrate_generator", "BLUR_GRID",
           "MIN_SPREAD_RATIO"]

#: probe sigmas (px) the fit chooses from
BLUR_GRID = tuple(round(0.1 * i, 1) for i in range(21))
#: a class draws magnifications when its generated spread of log feature spacing is below this
#: fraction of its training images' (robust standard deviations)
MIN_SPREAD_RATIO = 0.5


def _robust_sd(v: np.ndarray) -> float:
    q1, q3 = np.quantile(v, [0.25, 0.75])
    return float((q3 - q1) / 1.349)


def fit_zoom(generated: np.ndarray, real: np.ndarray, *, quantiles: int = 21,
             min_spread_ratio: float = MIN_SPREAD_RATIO) -> dict[str, Any] | None:
    """Quantiles of a per-image magnification that spread generated feature sizes as real ones.

    On log feature spacing: the zoom moves the generated median onto the real median and adds
    the real quantiles' deviations from it, shrunk by ``sqrt(1 - sd_gen^2 / sd_real^2)`` so that
    the network's own spread and the drawn zoom together spread as the real images do (robust
    standard deviations, IQR / 1.349). ``None`` when the generated spread is at least
    ``min_spread_ratio`` of the real one (the network already varies its scale).

    Parameters
    ----------
    generated, real : ndarray
        Feature spacing (px, > 0) of raw generated and of real images of one class.

    Returns
    -------
    dict or None
        ``{"zoom": quantiles (clipped to the stage's range), "fit": {...}}``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = np.exp(np.log(20) + 0.3 * rng.standard_normal(4000))
    >>> gen = np.exp(np.log(15) + 0.1 * rng.standard_normal(4000))
    >>> z = fit_zoom(gen, real)["zoom"]
    >>> round(z[10], 1)  # the medians' ratio, 20 / 15
    1.3
    >>> round(float(np.log(z[15] / z[5])) / (1.349 * 0.3 * (1 - 1 / 9) ** 0.5), 1)  # log IQR
    1.0
    >>> fit_zoom(real, real) is None
    True
    """
    from shapekit.generate.imaging import ZOOM_RANGE

    lg, lr = np.log(np.asarray(generated, float)), np.log(np.asarray(real, float))
    sg, sr = _robust_sd(lg), _robust_sd(lr)
    fit = {"spread_log_generated": round(sg, 4), "spread_log_real": round(sr, 4),
           "median_generated_px": round(float(np.exp(np.median(lg))), 3),
           "median_real_px": round(float(np.exp(np.median(lr))), 3)}
    if not sr > 0 or sg >= min_spread_ratio * sr:
        return None
    shrink = np.sqrt(1.0 - (sg / sr) ** 2)
    mr = float(np.median(lr))
    q = mr - float(np.median(lg)) + (np.quantile(lr, np.linspace(0, 1, quantiles)) - mr) * shrink
    z = np.clip(np.exp(q), *ZOOM_RANGE)
    return {"zoom": np.maximum.accumulate(z).tolist(), "fit": {**fit, "shrink": round(shrink, 4)}}


def register(app: click.Group) -> None:
    """Add this module's commands to the application."""
    app.add_command(calibrate_imaging_cmd)
    app.add_command(calibrate_conditions_cmd)


def fit_imaging_stage(generated: Mapping[str, Sequence[np.ndarray]],
                      real: Mapping[str, Sequence[np.ndarray]], *,
                      blurs: Sequence[float] = BLUR_GRID, quantiles: int = 21,
                      seed: int = 0) -> dict[str, Any]:
    """The ``"imaging"`` block of ``generator.json`` from raw generated and real images per class.

    Parameters
    ----------
    generated, real : mapping class name -> list of 2-D arrays in [0, 1]
        The network's raw output (``sample(..., raw=True)``; one shape per class) and the real
        training images of each class (at least 2 of each; a class missing from either gets
        no stage).
    blurs : sequence of float
        Probe sigmas tried (px).
    quantiles : int
        Number of stored quantiles of the real images' noise sd.
    seed : int
        Seed of the noise drawn while fitting.

    Returns
    -------
    dict
        ``{"version", "labels": {name: {"blur_px", "noise", "residual_noise", "fit"}}}``;
        ``fit`` records the descriptor gap without the stage (``gap_raw``) and with it.

    Examples
    --------
    >>> import cv2
    >>> rng = np.random.default_rng(0)
    >>> def field(s, noise):
    ...     x = cv2.GaussianBlur((rng.random((96, 96)) > 0.7).astype(np.float32), (0, 0), s)
    ...     return np.clip(0.2 + 0.6 * x + rng.normal(0, noise, x.shape), 0, 1).astype(np.float32)
    >>> real = {"a": [field(1.5, rng.uniform(0.02, 0.06)) for _ in range(12)]}
    >>> sharp = {"a": [field(0.3, 0.0) for _ in range(12)]}
    >>> p = fit_imaging_stage(sharp, real)["labels"]["a"]
    >>> 0.5 <= p["blur_px"] <= 2.0, p["fit"]["gap"] < p["fit"]["gap_raw"]
    (True, True)
    """
    import cv2
    import torch

    from shapekit.generate.imaging import ImagingStage
    from shapekit.realism.imaging import (IMAGING_NAMES, imaging_descriptors, imaging_gap,
                                          noise_sigma)

    out: dict[str, Any] = {}
    for name in sorted(set(generated) & set(real)):
        gen = [np.asarray(g, dtype=np.float32) for g in generated[name]]
        ref = [np.asarray(r, dtype=np.float32) for r in real[name]]
        if len({g.shape for g in gen}) > 1:
            raise ValueError(f"the generated images of class {name!r} differ in shape")
        if len(gen) < 2 or len(ref) < 2:
            continue
        R, _ = imaging_descriptors(ref)
        noise = np.quantile(R[:, IMAGING_NAMES.index("noise")], np.linspace(0, 1, quantiles))
        noise = np.maximum.accumulate(np.maximum(noise, 0.0))
        best = None
        for b in blurs:
            blurred = [cv2.GaussianBlur(g, (0, 0), b) if b > 0 else g for g in gen]
            p = {"blur_px": float(b), "noise": noise.tolist(),
                 "residual_noise": float(np.median([noise_sigma(g) for g in blurred]))}
            x = ImagingStage({name: p}).apply(torch.from_numpy(np.stack(gen)), [name] * len(gen),
                                              torch.Generator().manual_seed(seed))
            gap = imaging_gap(imaging_descriptors(list(x.numpy()))[0], R)
            if best is None or gap < best[0] - 1e-12:
                best = (gap, p)
        gap, p = best
        out[name] = {**p, "fit": {"gap_raw": round(imaging_gap(imaging_descriptors(gen)[0], R), 4),
                                  "gap": round(gap, 4), "n_generated": len(gen),
                                  "n_real": len(ref)}}
    return {"version": ImagingStage(out).to_dict()["version"], "labels": out}


def calibrate_generator(model_dir: str | Path, manifest: str | Path, *,
                        root: str | Path | None = None, size: int = 256, seed: int = 0,
                        max_per_class: int = 400, magnify: bool = False,
                        orient: bool = False, write: bool = True) -> dict[str, Any]:
    """Fit the imaging stage of the export in ``model_dir`` on its training images.

    The training split is the export's own (its ``holdout`` fraction and ``seed``, at its
    ``downscale``), at most ``max_per_class`` images of each class (drawn with ``seed``); for
    every one, one image of its class (and, for conditioned models, its conditions) is
    generated raw at ``size`` px. With ``magnify``, a model without a physical pixel size
    (``um_per_px`` null) draws each image's magnification in every class where the network's
    spread of feature sizes is less than :data:`MIN_SPREAD_RATIO` of its training images'
    (:func:`fit_zoom`), and that class's blur and noise are fitted on magnified images. With
    ``orient``, each class is turned a quarter where that brings the shared direction of its
    generated images closer to its training images' (:func:`~shapekit.generate.imaging.fit_turn`,
    both directions significant at p < 0.01). With ``write`` the block replaces
    ``generator.json``'s ``"imaging"`` (atomically).

    Raises
    ------
    InputError
        The manifest's labels or conditions are not the model's, or no class has 2 training
        images (nothing is written).
    """
    from shapekit import _atomic
    from shapekit._progress import progress
    from shapekit.generate.formats import CONFIG
    from shapekit.generate.imaging import ImagingStage, fit_turn
    from shapekit.generate.trainsplit import training_split

    gen, cfg, scaled, labels, values, codec, train = training_split(model_dir, manifest, root)
    rng = np.random.default_rng(seed)   # at most max_per_class training images of each class
    keep = [rng.permutation(train[labels[train] == k])[:max_per_class]
            for k in range(len(codec.label_names))]
    train = train[np.isin(train, np.concatenate(keep))]        # in the split's own order
    counts = [int((labels[train] == k).sum()) for k in range(len(codec.label_names))]
    if max(counts, default=0) < 2:   # an empty stage would replace the export's own
        raise InputError(f"no class could be fitted on {manifest} (training images: "
                         + ", ".join(f"{n} {c}" for n, c in zip(codec.label_names, counts))
                         + "): a class needs 2 (is it the model's training manifest?); nothing "
                         "was written")
    generated: dict[str, list[np.ndarray]] = {}
    real: dict[str, list[np.ndarray]] = {}
    for j, i in enumerate(progress(train, desc="generating")):
        name = codec.label_names[int(labels[i])]
        conds = {k: float(v) for k, v in zip(codec.names, values[i])}
        img = gen.sample(1, label=name, conditions=conds or None, seed=seed + j, size=size,
                         raw=True)[0]
        generated.setdefault(name, []).append(img)
        real.setdefault(name, []).append(scaled[i])
    zooms: dict[str, dict[str, Any]] = {}
    if magnify and cfg.get("um_per_px") is None:  # no common pixel size: magnification may vary
        from shapekit.realism import structure

        for name in generated:
            z = fit_zoom(structure.image_spacing(generated[name]),
                         structure.image_spacing(real[name]))
            if z is not None:
                zooms[name] = z
    if zooms:   # the blur and noise of those classes are fitted on magnified images
        gen.imaging = ImagingStage({k: {"blur_px": 0.0, "noise": [0.0, 0.0], "residual_noise": 0.0,
                                        "zoom": z["zoom"]} for k, z in zooms.items()})
        count = dict.fromkeys(zooms, 0)
        for j, i in enumerate(progress(train, desc="magnifying")):
            name = codec.label_names[int(labels[i])]
            if name in zooms:
                conds = {k: float(v) for k, v in zip(codec.names, values[i])}
                generated[name][count[name]] = gen.sample(1, label=name, conditions=conds or None,
                                                          seed=seed + j, size=size)[0]
                count[name] += 1
    block = fit_imaging_stage(generated, real, seed=seed)
    for name, z in zooms.items():
        block["labels"][name]["zoom"] = z["zoom"]
        block["labels"][name]["fit"]["magnification"] = z["fit"]
    if orient:
        for name, p in block["labels"].items():
            t = fit_turn(generated[name], real[name])
            p["fit"]["orientation"] = t["fit"]
            if t["turn"]:
                p["turn"] = 1
    # the stage says which version its blocks need (2 once a class magnifies, 3 once one turns)
    block["version"] = ImagingStage(block["labels"]).to_dict()["version"]
    block["fitted_on"] = (f"{len(train)} training images of {Path(manifest).name} (holdout "
                          f"{cfg.get('holdout') or 0.0:g}, seed {cfg.get('seed') or 0}), one raw "
                          f"generated {size}^2 image each (seed {seed})"
                          + (f"; magnified: {', '.join(sorted(zooms))}" if zooms else "")
                          + ("; orientation fitted" if orient else ""))
    if write:
        _atomic.write_json(Path(model_dir) / CONFIG, {**cfg, "imaging": block})
    return block


@click.command(name="calibrate-imaging")
@click.argument("run", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--size", type=click.IntRange(32, 2048), default=256, show_default=True,
              help="Side of the generated images the stage is fitted on.")
@click.option("--max-per-class", type=click.IntRange(2, 100000), default=400, show_default=True,
              help="Training images per class used at most (drawn with --seed).")
@click.option("--magnify", is_flag=True,
              help="For a model without a physical pixel size: draw each image's magnification "
                   "where the network's feature sizes spread less than half as much as its "
                   "training images' (RESULTS.md: more coverage, not more realism, on uhcs3).")
@click.option("--orient", is_flag=True,
              help="Turn a class's images a quarter where its generated images share a direction "
                   "more than 45 deg from its training images' (for a model trained with "
                   "90-degree turns; RESULTS.md section 6).")
@root_option
@click.option("--seed", type=SEED_RANGE, default=0, show_default=True,
              help="Seed of the generated images and of the noise drawn while fitting.")
@json_option
def calibrate_imaging_cmd(run: Path, manifest: Path, size: int, max_per_class: int,
                          magnify: bool, orient: bool, root: Path | None, seed: int,
                          as_json: bool) -> None:
    """Fit the imaging stage of the generator exported in RUN_DIR on MANIFEST's training images.

    The stage blurs the network's output by a Gaussian probe and adds shot noise at a level drawn
    from the training images' own, per class; the probe is the one that brings the generated
    images' grey levels, contrast, noise and sharpness closest to the training images'. Only the
    run's training split is used (its holdout fraction and seed). The result is written into
    RUN_DIR/generator.json ("imaging"); `shapekit generate` applies it (`--raw` skips it).
    """
    from shapekit.generate.formats import CONFIG

    check_run(run, manifest)
    check_training_data(run, manifest, root)
    block = calibrate_generator(run, manifest, root=root, size=size, seed=seed,
                                max_per_class=max_per_class, magnify=magnify, orient=orient)
    for name, p in block["labels"].items():
        q = p["noise"]
        info(f"{name}: probe blur {p['blur_px']:g} px, noise sd {q[0]:.3f}-{q[-1]:.3f} (median "
             f"{q[len(q) // 2]:.3f}); descriptor gap {p['fit']['gap_raw']:.2f} -> "
             f"{p['fit']['gap']:.2f}")
        if "zoom" in p:
            z, m = p["zoom"], p["fit"]["magnification"]
            info(f"{name}: feature sizes spread {m['spread_log_generated']:.2f} (log sd) against "
                 f"the training images' {m['spread_log_real']:.2f}: magnification drawn per image, "
                 f"{z[1]:.2f}-{z[-2]:.2f}x (median {z[len(z) // 2]:.2f}x)")
        if "orientation" in p["fit"]:
            o = p["fit"]["orientation"]
            info(f"{name}: generated set leans at {o['direction_generated_deg']:g} deg (R "
                 f"{o['r_generated']:g}), training images at {o['direction_real_deg']:g} deg (R "
                 f"{o['r_real']:g}): " + ("turned a quarter" if p.get("turn") else "not turned")
                 + f", {o['angle_after_deg']:g} deg apart")
    from shapekit.generate.formats import read_generator_config

    for name in read_generator_config(run)["conditions"]["label_names"]:
        if str(name) not in block["labels"]:
            info(f"{name}: not fitted (fewer than 2 training images of it): its images stay as "
                 "the network makes them")
    info(f"wrote the imaging stage into {run / CONFIG}")
    if as_json:
        emit_json(block)


@click.command(name="calibrate-conditions")
@click.argument("run", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--size", type=click.IntRange(32, 2048), default=256, show_default=True,
              help="Side of the generated images measured at each grid point.")
@click.option("--n-images", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Generated images per grid point.")
@click.option("--steps", type=click.IntRange(3, 64), default=13, show_default=True,
              help="Grid points along each condition.")
@click.option("--max-zoom", type=click.FloatRange(1.0, 4.0), default=None,
              help="Also magnify the images, up to this factor, where the training images' "
                   "particles are larger than the network draws at any input (for structures "
                   "that coarsen self-similarly; default: no magnification).")
@click.option("--pull", type=click.FloatRange(0.0, 10.0), default=0.1, show_default=True,
              help="Weight of staying at the requested input against matching the structure "
                   "(larger: smaller shifts).")
@click.option("--min-slope", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
              help="Each input rises with its own condition at least this fraction of the "
                   "request's rate (0: only never falls), so a sweep keeps moving where the "
                   "structure barely changes.")
@click.option("--label", "classes", multiple=True, metavar="NAME",
              help="Fit only this class (repeatable); the others get no map. Default: all.")
@root_option
@click.option("--seed", type=SEED_RANGE, default=0, show_default=True,
              help="Seed of the generated images (grid point i uses seed + i).")
@json_option
def calibrate_conditions_cmd(run: Path, manifest: Path, size: int, n_images: int, steps: int,
                             max_zoom: float | None, pull: float, min_slope: float,
                             classes: tuple[str, ...], root: Path | None, seed: int,
                             as_json: bool) -> None:
    """Fit the condition map of the generator in RUN_DIR on MANIFEST's training images.

    For a parameters- or properties-mode model of particle micrographs: per class, the inputs at
    which the network (with its imaging stage) draws the particle area fraction and size that
    the training images show at each requested condition (Gaussian processes over a grid of the
    conditions; only the run's training split). Written into RUN_DIR/generator.json
    ("condition_map"); `shapekit generate` applies it, `--raw` skips it.
    """
    from shapekit.generate.formats import CONFIG, read_generator_config

    check_run(run, manifest)   # and what generator.json and the manifest tell: before the imports
    if not read_generator_config(run)["conditions"].get("names"):
        raise InputError(f"{run} is a class-mode generator: it has no conditions to map")
    check_training_data(run, manifest, root, classes)
    from shapekit.generate.conditioncal import calibrate_conditions
    from shapekit.generate.conditionmap import MIN_ZOOM

    block = calibrate_conditions(run, manifest, root=root, size=size, n_images=n_images,
                                 steps=steps, seed=seed, max_zoom=max_zoom, pull=pull,
                                 min_slope=min_slope, classes=list(classes) or None)
    for name, f in block["fitted"]["labels"].items():
        if "skipped" in f:
            info(f"{name}: not fitted ({f['skipped']}): its requests go to the network unchanged")
            continue
        zoom = f.get("zoom_range")
        info(f"{name}: {f['grid_points_fitted']} grid points fitted on {f['n_training']} training "
             f"images; largest input shift {f['largest_shift']:g} (training sd units)"
             + ("" if zoom is None else "; no magnification" if zoom[1] < MIN_ZOOM
                else f"; magnification {zoom[0]:.2f}-{zoom[1]:.2f}x"))
    if any(f.get("largest_shift", 0.0) > 1.0 for f in block["fitted"]["labels"].values()):
        info("note: shifts beyond one training sd mean the network draws its conditions far from "
             "its training images there; check a sweep (`generate --sweep`) before relying on "
             "the map, and consider training longer")
    info(f"wrote the condition map into {run / CONFIG}")
    if as_json:
        emit_json(block)
