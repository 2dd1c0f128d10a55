"""Synthesize a labelled set of simulated micrographs, optionally written as a shapekit dataset.

On disk (``out_dir``)::

    images/synth_00000.png ...   16-bit grey PNG (value = round(65535 * intensity))
    labels.csv                   one row per image (columns below)
    manifest.yaml                a shapekit manifest (``shapekit.io.load_manifest`` reads it)

``labels.csv`` columns: ``file`` (relative to ``images/``), ``temper``, ``aging_temperature_C``,
``aging_time_h``, ``hardness_HV``, ``area_fraction``, ``mean_radius_nm``,
``number_density_per_um2`` (the values **realised** in the field of view: the image's ground
truth), ``um_per_px``, ``sample_id``; then ``model_area_fraction``, ``model_mean_radius_nm``,
``model_number_density_per_um2`` (the process model's requested values), ``pfz_width_nm``,
``n_particles``, ``info_bar_rows`` and ``seed`` (the per-image seed of
:func:`shapekit.synth.render.render_micrograph`, which regenerates the image exactly).

Every file is written atomically (temporary file + rename); the table and the manifest are written
last, so a manifest never points at images that are not there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shapekit.errors import InputError
from shapekit.synth import physics
from shapekit.synth.render import MIN_SIZE, check_particles_fit, render_micrograph

COLUMNS = ["file", "temper", "aging_temperature_C", "aging_time_h", "hardness_HV", "area_fraction",
           "mean_radius_nm", "number_density_per_um2", "um_per_px", "sample_id",
           "model_area_fraction", "model_mean_radius_nm", "model_number_density_per_um2",
           "pfz_width_nm", "n_particles", "info_bar_rows", "seed"]

MANIFEST = {
    "name": "synth", "root": ".", "table": "labels.csv", "images_dir": "images", "image": "file",
    "label": "temper", "group": "sample_id", "parameters": ["aging_temperature_C", "aging_time_h"],
    "properties": ["hardness_HV"], "um_per_px": "um_per_px", "license": "BSD-3-Clause",
    "citation": "shapekit micrograph simulator (shapekit.synth)",
    "description": "Simulated SE micrographs of an aged 7xxx-like alloy with known ground truth.",
}


@dataclass
class SynthSet:
    """A synthesized set: images (float32 in [0, 1]) and their table (columns: ``COLUMNS``).

    ``out_dir`` is where it was written (None when kept in memory only); ``images`` is empty when
    :func:`synthesize` was called with ``keep_images=False``.
    """

    images: list[np.ndarray]
    table: pd.DataFrame
    out_dir: Path | None = None
    manifest: Path | None = field(default=None)

    def __len__(self) -> int:
        return len(self.table)


def image_seed(seed: int, index: int) -> int:
    """The per-image seed used by :func:`synthesize` (independent streams per image).

    Examples
    --------
    >>> image_seed(0, 1) != image_seed(0, 2) != image_seed(1, 1)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint32)[0])


def _write_png16(path: Path, img: np.ndarray) -> None:
    import cv2

    from shapekit._atomic import write_bytes

    ok, buf = cv2.imencode(".png", np.round(np.clip(img, 0, 1) * 65535).astype(np.uint16))
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    write_bytes(path, buf.tobytes())


def synthesize(n: int, *, out_dir: str | os.PathLike[str] | None = None, seed: int = 0,
               size: int = 256, info_bar: bool = False,
               um_per_px: float = physics.UM_PER_PX_DEFAULT, balanced: bool = True,
               fields_per_sample: int = 1, keep_images: bool = True) -> SynthSet:
    """Draw aging conditions, render one micrograph per field and (optionally) write the set.

    Parameters
    ----------
    n : int
        Number of images (> 0).
    out_dir : path-like, optional
        Write ``images/``, ``labels.csv`` and ``manifest.yaml`` there (see the module docstring).
    seed : int
        Seeds the conditions and every image: same arguments, same bytes.
    size : int
        Image side in pixels (>= 32; 256 recommended: over-aged particles reach 12 px radius).
    info_bar : bool
        Append a black SEM info band to each image (its height is in ``info_bar_rows``).
    um_per_px : float
        Pixel size (default 0.002 um).
    balanced : bool
        Balance the three tempers (:func:`shapekit.synth.physics.sample_process`).
    fields_per_sample : int
        Images per physical sample (same conditions, different fields of view); ``sample_id``
        groups them for grouped cross-validation.
    keep_images : bool
        Keep the images in memory (set False for large sets written to disk).

    Returns
    -------
    SynthSet

    Examples
    --------
    >>> s = synthesize(6, size=64, seed=1)
    >>> len(s.images), sorted(s.table["temper"].value_counts().tolist())
    (6, [2, 2, 2])
    """
    from shapekit._progress import progress

    n, fps = int(n), int(fields_per_sample)
    if n <= 0:
        raise InputError(f"--n must be a positive number of images, got {n}")
    if int(size) < MIN_SIZE:
        raise InputError(f"--size must be at least {MIN_SIZE} px, got {size}")
    if fps <= 0:
        raise InputError(f"fields_per_sample must be >= 1, got {fps}")
    if not (np.isfinite(um_per_px) and um_per_px > 0):
        raise InputError(f"um_per_px must be a positive number, got {um_per_px!r}")
    n_samples = -(-n // fps)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    cond = physics.sample_process(n_samples, rng, balanced=balanced)
    # every condition before the first image is written: never half a data set
    check_particles_fit(cond["aging_temperature_C"].to_numpy(), cond["aging_time_h"].to_numpy(),
                        int(size), um_per_px)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"output path exists and is not a directory: {out}")
    images: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    for i in progress(range(n), desc="synth", total=n):
        c = cond.iloc[i // fps]
        s_i = image_seed(seed, i)
        img, tr = render_micrograph(float(c["aging_temperature_C"]), float(c["aging_time_h"]),
                                    size=size, um_per_px=um_per_px, seed=s_i, info_bar=info_bar)
        name = f"synth_{i:05d}.png"
        if out is not None:
            _write_png16(out / "images" / name, img)
        if keep_images:
            images.append(img)
        rows.append({
            "file": name, "temper": tr["temper"], "aging_temperature_C": tr["aging_temperature_C"],
            "aging_time_h": tr["aging_time_h"], "hardness_HV": tr["hardness_HV"],
            "area_fraction": tr["realised_area_fraction"],
            "mean_radius_nm": tr["realised_mean_radius_nm"],
            "number_density_per_um2": tr["realised_number_density_per_um2"],
            "um_per_px": tr["um_per_px"], "sample_id": f"S{i // fps:05d}",
            "model_area_fraction": tr["area_fraction"],
            "model_mean_radius_nm": tr["mean_radius_nm"],
            "model_number_density_per_um2": tr["number_density_per_um2"],
            "pfz_width_nm": tr["pfz_width_nm"], "n_particles": tr["n_particles"],
            "info_bar_rows": tr["info_bar_rows"], "seed": s_i,
        })
    table = pd.DataFrame(rows, columns=COLUMNS)
    manifest = None
    if out is not None:
        from shapekit._atomic import write_text
        from shapekit.io import write_manifest

        write_text(out / "labels.csv", table.to_csv(index=False, float_format="%.6g"))
        manifest = out / "manifest.yaml"
        write_manifest(manifest, MANIFEST)
    return SynthSet(images=images, table=table, out_dir=out, manifest=manifest)
