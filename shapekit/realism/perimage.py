"""Per-image features of an image set in one pass: topology, imaging descriptors, structure.

:func:`per_image` computes, for each image of a list, the raw-image topology (the combined
headline, :func:`shapekit.realism.summaries.image_features`), the imaging descriptors
(:func:`shapekit.realism.imaging.imaging_descriptors`) and the structure features with their
materials statistics (:func:`shapekit.realism.structure.structure_features`), each only when
asked, on joblib processes over chunks of images (every feature is per image, so the chunking
changes no result), and returns them as a :class:`PerImage` with the CPU seconds of each part.
:func:`shapekit.realism.prepared.prepare_set` and :func:`shapekit.realism.score` use it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapekit.realism.summaries import FeatureSet, concat_features, image_features

__all__ = ["per_image", "PerImage"]


def _chunks(ims: list[np.ndarray], n_jobs: int | None) -> tuple[int, list[list[np.ndarray]]]:
    """Workers and chunks of images: two chunks per worker, or chunks of 16 images in one
    process (so that a progress bar moves; every feature is per image, so chunking changes no
    result)."""
    from joblib import effective_n_jobs

    nj = effective_n_jobs(n_jobs) if n_jobs not in (None, 1) else 1
    if len(ims) < 8:
        return 1, [ims]
    n_chunks = 2 * nj if nj > 1 else -(-len(ims) // 16)
    bounds = np.linspace(0, len(ims), n_chunks + 1).astype(int)
    return nj, [ims[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _map(fn: Any, ims: list[np.ndarray], n_jobs: int | None, *args: Any) -> list:
    from shapekit._progress import progress

    nj, chunks = _chunks(ims, n_jobs)
    desc = f"features of {len(ims)} images"
    if nj == 1:
        return [fn(c, *args) for c in progress(chunks, desc=desc, unit="chunk")]
    from joblib import Parallel, delayed

    run = Parallel(n_jobs=nj, return_as="generator")(delayed(fn)(c, *args) for c in chunks)
    return list(progress(run, desc=desc, total=len(chunks), unit="chunk"))


@dataclass
class PerImage:
    """What :func:`per_image` computed for one set (None where not asked for).

    Attributes
    ----------
    topology : FeatureSet or None
        Raw-image topology (:func:`shapekit.realism.summaries.image_features`).
    imaging : ndarray (n, 8) or None
        :func:`shapekit.realism.imaging.imaging_descriptors`.
    structure : FeatureSet or None
        :func:`shapekit.realism.structure.structure_features`.
    materials : dict or None
        Materials statistics of the structure images.
    cpu_s : dict
        CPU seconds per part, summed over workers.
    """

    topology: FeatureSet | None
    imaging: np.ndarray | None
    structure: FeatureSet | None
    materials: dict | None
    cpu_s: dict


def _chunk(ims: list[np.ndarray], topology: bool, imaging: bool, structure: tuple | None,
           min_persistence: float, r_max: int, betti: bool, device: str | None = None) -> PerImage:
    from shapekit.realism.imaging import imaging_descriptors
    from shapekit.realism.structure import structure_features

    cpu = {}
    t0 = time.perf_counter()
    fs = image_features(ims, min_persistence=min_persistence, n_jobs=1, betti=betti,
                        device=device) if topology else None
    t1 = time.perf_counter()
    X = imaging_descriptors(ims)[0] if imaging else None
    t2 = time.perf_counter()
    sf, mat = structure_features(ims, structure[0], step=structure[1], r_max=r_max, betti=betti,
                                 device=device, target=structure[2] if len(structure) > 2 else None) \
        if structure is not None else (None, None)
    cpu = {"topology": t1 - t0, "imaging": t2 - t1, "structure": time.perf_counter() - t2}
    return PerImage(fs, X, sf, mat, cpu)


def per_image(ims: list[np.ndarray], *, topology: bool = True, imaging: bool = True,
              structure: tuple | None = None, min_persistence: float = 1.5 / 255,
              r_max: int = 64, betti: bool = True, n_jobs: int | None = 1,
              device: str | None = None) -> PerImage:
    """Everything per image in one pass over chunks of images (joblib processes).

    Parameters
    ----------
    ims : list of ndarray
    topology : bool
        Raw-image topology (the combined headline).
    imaging : bool
        Imaging descriptors.
    structure : (sigma_px, step) or (sigma_px, step, target), optional
        Structure features at this smoothing and area-averaging step (grey levels matched to
        ``target``, :func:`shapekit.realism.structure.reference_quantiles`, when given).
    min_persistence, r_max, betti, n_jobs, device
        As in :func:`shapekit.realism.score`.

    Examples
    --------
    >>> import numpy as np
    >>> r = per_image([np.random.default_rng(0).random((24, 24))] * 2, topology=False, structure=(1.5, 1), r_max=8)
    >>> r.topology is None, r.imaging.shape, len(r.structure), r.materials["two_point"].shape
    (True, (2, 8), 2, (2, 9))
    """
    parts = _map(_chunk, ims, n_jobs, topology, imaging, structure, min_persistence, int(r_max), betti,
                 device)
    mats = [p.materials for p in parts]
    mat = None if mats[0] is None else {
        k: (np.concatenate([m[k] for m in mats]) if np.ndim(v) and k != "chord_bins" else v) for k, v in mats[0].items()}
    return PerImage(concat_features([p.topology for p in parts]) if topology else None,
                    np.vstack([p.imaging for p in parts]) if imaging else None,
                    concat_features([p.structure for p in parts]) if structure is not None else None, mat,
                    {k: sum(p.cpu_s[k] for p in parts) for k in parts[0].cpu_s})
