"""Fitting an export's condition map on its own training split, by its particles.

:func:`calibrate_conditions` is what ``shapekit calibrate-conditions`` runs: it reads the export's
training split (:func:`shapekit.generate.trainsplit.training_split`: its ``holdout`` fraction and
``seed``, at its ``downscale``), measures each training image with :func:`particle_measure`
(particle area fraction and log mean radius, errors worth correcting :data:`PARTICLE_SCALES`),
fits :func:`shapekit.generate.conditionmap.fit_condition_map` and writes the block into the
export's ``generator.json``. The map itself, and how it is fitted and applied, live in
:mod:`shapekit.generate.conditionmap`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from shapekit.errors import InputError
from shapekit.generate.conditionmap import fit_condition_map

__all__ = ["calibrate_conditions", "particle_measure", "PARTICLE_SCALES"]

#: errors worth correcting in :func:`particle_measure`'s numbers: area fraction, log radius
PARTICLE_SCALES = (0.0015, 0.05)
#: training images (with particles) a class needs for its map
MIN_TRAINING_IMAGES = 10


def particle_measure(image: np.ndarray) -> np.ndarray:
    """Area fraction and log mean particle radius (px) of one image, as
    :func:`shapekit.synth.measure_structure` finds the particles (NaN radius without any).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((90, 90), 0.25, np.float32)        # nine discs of radius 4 px
    >>> yy, xx = np.mgrid[:90, :90]
    >>> for cy in (15, 45, 75):
    ...     for cx in (15, 45, 75):
    ...         img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = 0.75
    >>> f, log_r = particle_measure(img)
    >>> round(float(f), 3), round(float(np.exp(log_r)), 1)
    (0.05, 3.8)
    """
    from shapekit.synth import measure_structure

    m = measure_structure(np.asarray(image, dtype=np.float32))
    r = float(m.get("mean_radius_px") or np.nan)
    return np.array([float(m["area_fraction"]), np.log(r) if r > 0 else np.nan])


def calibrate_conditions(model_dir: str | Path, manifest: str | Path, *,
                         root: str | Path | None = None, size: int = 256, n_images: int = 8,
                         steps: int = 13, seed: int = 0, max_zoom: float | None = None,
                         pull: float = 0.1, min_slope: float = 0.0,
                         classes: Sequence[str] | None = None,
                         write: bool = True) -> dict[str, Any]:
    """Fit the condition map of the export in ``model_dir`` on its training images.

    The training split is the export's own (its ``holdout`` fraction and ``seed``, at its
    ``downscale``); each image is measured with :func:`particle_measure` (particles: area
    fraction and size), and :func:`fit_condition_map` finds the inputs at which the generator,
    imaging stage included, draws what the training images show. With ``max_zoom``, a grid
    point may also magnify its images up to that factor where the particle size is beyond the
    network's reach (particles coarsening at a constant fraction are self-similar). ``pull``,
    ``min_slope`` and ``classes`` are :func:`fit_condition_map`'s. With ``write`` the block
    replaces ``generator.json``'s ``"condition_map"`` (atomically).

    Raises
    ------
    InputError
        A class-mode model, a manifest whose labels or conditions are not the model's, or no
        class fitted (too few training images of each: nothing is written).
    """
    from shapekit import _atomic
    from shapekit.generate.trainsplit import training_split
    from shapekit.generate.formats import CONFIG, read_generator_config

    if not read_generator_config(model_dir)["conditions"].get("names"):
        raise InputError(f"{model_dir} is a class-mode generator: it has no conditions to map")
    gen, cfg, scaled, labels, values, codec, train = training_split(model_dir, manifest, root)
    from shapekit._progress import progress

    measured = np.stack([particle_measure(scaled[i]) for i in progress(train, desc="measuring")])
    names = [codec.label_names[int(labels[i])] for i in train]
    cmap = fit_condition_map(gen, values[train], names, measured, particle_measure,
                             PARTICLE_SCALES, steps=steps, n_images=n_images, size=size,
                             seed=seed, zoom_range=None if max_zoom is None else (1.0, max_zoom),
                             log_size=1, pull=pull, min_slope=min_slope, classes=classes,
                             min_images=MIN_TRAINING_IMAGES)
    block = cmap.to_dict()
    if not block["labels"]:   # an empty map would replace the export's own
        why: dict[str, list[str]] = {}   # reason -> "class n_training", ...
        for name, f in block["fitted"]["labels"].items():
            if f.get("skipped") != "not asked for":
                why.setdefault(f["skipped"], []).append(f"{name} {f['n_training']}")
        raise InputError(f"no class could be fitted on {manifest} ("
                         + "; ".join(f"{r}: {', '.join(v)}" for r, v in why.items())
                         + f"): a class needs {MIN_TRAINING_IMAGES} training images with particles "
                         "(is it the model's training manifest?); nothing was written")
    block["fitted"]["fitted_on"] = (f"{len(train)} training images of {Path(manifest).name} "
                                    f"(holdout {cfg.get('holdout') or 0.0:g}, seed "
                                    f"{cfg.get('seed') or 0}); particle area fraction and log "
                                    f"radius; {n_images} generated {size}^2 images per grid point")
    if write:
        _atomic.write_json(Path(model_dir) / CONFIG, {**cfg, "condition_map": block})
    return block
