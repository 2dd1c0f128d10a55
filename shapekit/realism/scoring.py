"""``score(real, fake)``: how realistic a micrograph set is, as two calibrated questions.

* **structure** (:mod:`shapekit.realism.structure`): is the material the same? Topology and
  two-point statistics of images z-scored, smoothed to a common effective resolution and with
  their grey levels matched to the reference's by a smooth increasing curve, so brightness,
  contrast, tone curves (gamma), noise and blur are taken out;
* **imaging** (:mod:`shapekit.realism.imaging`): was it imaged the same way? Grey levels,
  contrast, noise and sharpness;
* the **combined headline** ``topological_distance`` (kept from the first version): topology of
  the raw images, which sees both at once (blur, noise, JPEG and structure alike).

Each is a distance with its own real-vs-real baseline (random halves of the reference),
bootstrap CI and permutation p-value (:func:`shapekit.realism.resampling.compare_pooled`), and
:mod:`shapekit.realism.verdict` turns them into sentences.

Pipeline (each stage timed in ``result["timings_s"]``):

1. ``load``: read both sets and bring them to a common physical scale
   (:func:`shapekit.realism.summaries.common_scale`);
2. ``resolution``: the common effective resolution of the structure part
   (:func:`shapekit.realism.structure.structure_sigmas`), estimated on up to 24 images per set
   (:func:`shapekit.realism.prepared.probe_indices`), and the reference's grey-level quantiles at
   that resolution (:func:`shapekit.realism.structure.reference_quantiles`, same images);
3. ``per_image``: raw-image topology (headline), imaging descriptors and structure features, in
   one pass over the images;
4. ``pairwise``: sliced-Wasserstein kernels and Hera distances over a subsample (once per pair);
5. ``calibration``: baselines, permutations, bootstrap, coverage: index resampling only;
6. ``kid`` (only with a local extractor) and ``report`` (only with ``report_dir``).

See :mod:`shapekit.realism.setstats` for the formula of each distance.

References
----------
.. [1] Howland, S. et al. "Parameters, properties, and process: conditional neural generation of
   realistic SEM imagery towards ML-assisted advanced manufacturing", arXiv:2302.08495 (2023).
.. [2] Naeem, M. F. et al. "Reliable fidelity and diversity metrics for generative models", ICML (2020).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np

from shapekit.errors import InputError, ShapekitWarning
from shapekit.realism.blocks import headline_block, size_note, structure_block
from shapekit.realism.perimage import per_image
from shapekit.realism.prepared import (PreparedSet, load_image_set, prepare_set, probe_indices, scale_to,
                                       set_groups, set_names, shared_images)
from shapekit.realism.resampling import compare_pooled
from shapekit.realism.setstats import pooled_features, standardised
from shapekit.realism.structure import FLOOR_PX
from shapekit.realism.summaries import common_scale

__all__ = ["score", "load_image_set", "pooled_features", "standardised", "prepare_set", "PreparedSet", "MODES"]

MODES = ("both", "structure", "imaging")


def _load(src: Any, root: Any, what: str, um_override: Any) -> tuple[list[np.ndarray], Any, PreparedSet | None]:
    if isinstance(src, PreparedSet):
        if um_override is not None and not (src.um_per_px is not None
                                            and np.allclose(np.asarray(um_override, float), src.um_per_px)):
            raise InputError(f"the {what} is a prepared set at {src.um_per_px} um/px: give its pixel size to "
                             "prepare_set(um_per_px=...), not to score()")
        return src.images, None, src
    ims, um, _ = load_image_set(src, root, what=what)
    return ims, (um if um_override is None else um_override), None


def _side(ims: list[np.ndarray], ps: PreparedSet | None, topology: bool, key: tuple | None,
          betti: bool, min_persistence: float, r_max: int, n_jobs: Any, device: str | None = None) -> tuple:
    """Per-image features of one side: reused from a prepared set where valid, the rest in one pass."""
    fs = X = sf = mat = None
    if ps is not None:
        X = ps.imaging
        if topology and ps.features is not None and ps.settings.get("min_persistence") == min_persistence \
                and (not betti or ps.features.betti.shape[-1] > 1):
            fs = ps.features
        if key is not None and key in ps.structure and ps.settings.get("r_max") == r_max:
            sf, mat = ps.structure[key]
            if betti and sf.betti.shape[-1] <= 1:
                sf = mat = None
    need_topo, need_struct = topology and fs is None, key is not None and sf is None
    cpu: dict = {}
    if need_topo or need_struct or X is None:
        r = per_image(ims, topology=need_topo, imaging=X is None, structure=key if need_struct else None,
                      min_persistence=min_persistence, r_max=r_max, betti=betti, n_jobs=n_jobs, device=device)
        fs = r.topology if need_topo else fs
        X = r.imaging if X is None else X
        if need_struct:
            sf, mat = r.structure, r.materials
            if ps is not None and ps.settings.get("r_max") == r_max:
                ps.structure[key] = (sf, mat)
        cpu = r.cpu_s
    return fs, X, sf, mat, cpu


def score(real: Any, fake: Any, *, mode: str = "both", n_boot: int = 200, n_perm: int = 200, seed: int = 0,
          root: str | os.PathLike[str] | None = None, real_um_per_px: Any = None, fake_um_per_px: Any = None,
          names: tuple[str, str] | None = None, diagram_metric: str = "wasserstein", max_diagram_images: int = 24,
          top_k: int = 16, k_nn: int = 5, min_persistence: float = 1.5 / 255, r_max: int = 64,
          structure_floor_px: float = FLOOR_PX, kid_extractor: Any = None,
          report_dir: str | os.PathLike[str] | None = None, n_jobs: int | None = 1,
          device: str | None = None, real_groups: Any = "auto", fake_groups: Any = "auto") -> dict[str, Any]:
    """Score a micrograph set against a reference: structure, imaging and the combined headline.

    Parameters
    ----------
    real, fake : path, list of ndarray, ndarray (n, h, w) or PreparedSet
        The reference and the compared set: manifest ``.yaml``, folder of images, images in
        [0, 1], or a set prepared once with :func:`prepare_set` (its per-image features are
        reused). At least 2 images each (4 reference images for the real-vs-real baseline).
    mode : {"both", "structure", "imaging"}
        ``"both"`` answers both questions and computes the combined headline; ``"structure"``
        and ``"imaging"`` answer one (the headline keys are then absent).
    n_boot, n_perm : int
        Bootstrap and permutation rounds (``n_boot`` also sets the real-vs-real rounds).
    seed : int
        Everything is deterministic per seed.
    root : path, optional
        Data root overriding a manifest's ``root``.
    real_um_per_px, fake_um_per_px : float or array, optional
        Pixel sizes (override the manifest/file metadata).
    names : (str, str), optional
        What the verdict and report call the two sets (default: the manifest ``name`` or the
        folder name; "reference" and "candidate" for arrays).
    diagram_metric : {"wasserstein", "bottleneck"}
        Diagram distance of the energy terms (GUDHI Hera W1 or GUDHI bottleneck).
    max_diagram_images, top_k : int
        The energy terms use at most ``max_diagram_images`` images per set and the ``top_k`` most
        persistent pairs per diagram.
    k_nn : int
        Neighbourhood size of the coverage measures.
    min_persistence : float
        Pairs at or below this persistence are dropped from the raw-image topology.
    r_max : int
        Largest two-point lag in pixels.
    structure_floor_px : float
        Least smoothing of the structure images (:data:`shapekit.realism.structure.FLOOR_PX`).
    kid_extractor : nn.Module or path, optional
        Local KID/FID feature extractor; KID is skipped (``"kid": None``) without one.
    report_dir : path, optional
        Write ``report.html`` with the verdict, thumbnails and plots there.
    n_jobs : int or None
        Processes for the per-image work, threads for Hera distances.
    device : str or None
        Where the persistent homology runs: None, the torch backend on CUDA when present, else
        GUDHI on the CPU; ``"cuda"`` (``"cuda:N"``) the torch backend, ``"cpu"`` GUDHI. The
        backends give the same diagrams, so the numbers agree to rounding (~1e-14 relative).
    real_groups, fake_groups : "auto", None or sequence
        Group ids of each set's images (physical sample, spot, session;
        :func:`~shapekit.realism.prepared.set_groups`). "auto" reads a manifest's ``group``
        column. With groups, baselines, permutations and bootstrap draw whole groups, so images
        of one sample do not count as independent evidence (fewer than 4 reference groups: no
        baseline).

    Returns
    -------
    dict
        JSON-ready. Always: ``mode``, ``names`` (``real``, ``synthetic``), ``verdict``
        (:func:`shapekit.realism.verdict.verdict`), ``n_real``, ``n_fake``, ``um_per_px``,
        ``scale_known``, ``settings`` (``persistence_backend``: "gudhi" or "torch"), ``warnings``,
        ``timings_s``, ``per_image_cpu_s``, ``kid``, ``groups`` (groups per set, None when
        images were resampled one by one).
        ``imaging`` (modes both/imaging): a :func:`~shapekit.realism.resampling.compare_pooled`
        block plus ``attributes`` (brightness, contrast, noise, sharpness, grey-level shape).
        ``structure`` (modes both/structure): a block plus ``resolution`` (the smoothing of each
        set), ``descriptors`` (feature size, phase fraction), ``coverage``
        (:func:`shapekit.realism.coverage.diversity_block`); the top-level ``coverage``,
        ``two_point`` and ``materials`` are those of the structure images. Mode both adds the
        headline of the first version on raw images: ``topological_distance``, ``components``,
        ``ci``, ``real_vs_real``, ``permutation_null``, ``p_value``, ``relative_to_baseline``,
        ``summaries``, ``top_summaries``.

    Raises
    ------
    InputError
        Empty sets, fewer than 2 images in a set, unreadable files, bad options.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> real = [rng.random((24, 24)) for _ in range(8)]
    >>> res = score(real, [rng.random((24, 24)) for _ in range(8)], n_boot=10, n_perm=10)
    >>> res["names"], res["verdict"]["structure"][:10]
    ({'real': 'reference', 'synthetic': 'candidate'}, 'Structure:')
    """
    if mode not in MODES:
        raise InputError(f"mode={mode!r} is not one of {MODES}")
    if n_boot < 1 or n_perm < 1:
        raise InputError(f"n_boot and n_perm must be >= 1, got {n_boot} and {n_perm}")
    if diagram_metric not in ("wasserstein", "bottleneck"):
        raise InputError(f"diagram_metric={diagram_metric!r} is not one of ('wasserstein', 'bottleneck')")
    if not structure_floor_px >= 0:
        raise InputError(f"structure_floor_px must be >= 0, got {structure_floor_px!r}")
    from shapekit.topology.persistence import resolve_backend

    resolve_backend("auto", device)          # a bad device name fails before any work
    t = {"load": time.perf_counter()}
    notes: list[str] = []
    r_ims, r_um, pr = _load(real, root, "real set", real_um_per_px)
    f_ims, f_um, pf_ = _load(fake, root, "synthetic set", fake_um_per_px)
    nm = set_names(real, fake, names)
    grp = [set_groups(src, g, len(ims), root=root, what=w) for src, g, ims, w in
           ((real, real_groups, r_ims, "real set"), (fake, fake_groups, f_ims, "synthetic set"))]
    n_groups = [None if g is None else len(np.unique(g)) for g in grp]
    groups = None if grp[0] is None and grp[1] is None else np.concatenate(
        [g if g is not None else np.array([f"image {i}" for i in range(len(ims))])
         for g, ims in zip(grp, (r_ims, f_ims))])
    from shapekit.io.infobar import detect_info_bar

    for side, ims in (("real", r_ims), ("synthetic", f_ims)):  # raw microscope files: not cropped here
        n_bar = sum(detect_info_bar(a) > 0 for a in ims)
        if n_bar:
            notes.append(f"{n_bar} of {len(ims)} images of {nm[side]} end in an instrument info bar (text, "
                         "scale bar), scored as if it were microstructure: crop it first (shapekit ingest)")
            warnings.warn(notes[-1], ShapekitWarning, stacklevel=2)
    n_shared = shared_images(r_ims, f_ims)     # the same folder twice, or real images in the other set
    if n_shared:
        notes.append(f"{nm['synthetic']} holds the same {n_shared} images as {nm['real']}: a set compared with "
                     "itself reads as indistinguishable whatever it holds"
                     if n_shared == len(f_ims) == len(r_ims) == shared_images(f_ims, r_ims) else
                     f"{n_shared} of {len(f_ims)} images of {nm['synthetic']} are also in {nm['real']} (the same "
                     "pixels): they make the two sets look more alike than independent images would")
        warnings.warn(notes[-1], ShapekitWarning, stacklevel=2)
    for side, ims in (("real", r_ims), ("synthetic", f_ims)):
        if len(ims) < 2:
            raise InputError(f"{side} set {nm['real' if side == 'real' else 'synthetic']!r} has {len(ims)} "
                             "image; at least 2 are needed (4 real images for the real-vs-real baseline)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if pr is None and pf_ is None:
            r_ims, f_ims, um = common_scale(r_ims, f_ims, r_um, f_um)
        elif pr is not None and pf_ is not None:
            um = scale_to([], None, pr.um_per_px, pf_.um_per_px)[1]
        elif pr is not None:
            f_ims, um = scale_to(f_ims, f_um, pr.um_per_px)
        else:
            r_ims, um = scale_to(r_ims, r_um, pf_.um_per_px)
    scale_known = um is not None and not caught
    for w in caught:
        notes.append(str(w.message))
        warnings.warn(w.message, w.category, stacklevel=2)
    for side, ims in (("real", r_ims), ("synthetic", f_ims)):
        n_const = sum(float(np.ptp(a)) <= 1e-12 for a in ims)
        if n_const:
            msg = f"{n_const} constant image(s) in the {side} set: no topology (zero summaries, empty diagrams)"
            notes.append(msg)
            warnings.warn(msg, ShapekitWarning, stacklevel=2)
    if len(r_ims) < 4:
        notes.append("fewer than 4 real images: no real-vs-real baseline")
    elif n_groups[0] is not None and n_groups[0] < 4:
        notes.append(f"the reference has {n_groups[0]} groups of images (fewer than 4): "
                     "no real-vs-real baseline")
    notes.extend(size_note(n_groups[0] or len(r_ims), n_groups[1] or len(f_ims),
                           "groups" if n_groups[0] else "images"))
    kids = np.random.SeedSequence(seed).spawn(13)   # 0-3 headline (as before), 4-8 structure, 9-12 imaging
    rngs = [np.random.default_rng(s) for s in kids]
    betti = report_dir is not None
    r_max = int(min([r_max] + [min(a.shape) - 1 for a in r_ims + f_ims]))

    t["resolution"] = time.perf_counter()
    from shapekit.realism.imaging import IMAGING_NAMES, attribute_shifts, imaging_descriptors, imaging_pooled

    def _probe(ims: list[np.ndarray], ps: PreparedSet | None) -> np.ndarray:
        idx = probe_indices(len(ims))
        return ps.imaging[idx] if ps is not None else imaging_descriptors([ims[i] for i in idx])[0]

    inames = list(IMAGING_NAMES)
    res: dict[str, Any] = {"mode": mode, "names": nm}
    keys: dict[str, tuple | None] = {"real": None, "fake": None}
    if mode != "imaging":
        from shapekit.realism.structure import reference_quantiles, structure_sigmas

        jb, jn = inames.index("blur_px"), inames.index("relative_noise")
        Pr, Pf = _probe(r_ims, pr), _probe(f_ims, pf_)
        res_info = structure_sigmas(r_ims, f_ims, Pr[:, jb], Pf[:, jb], Pr[:, jn], Pf[:, jn], structure_floor_px)
        target = reference_quantiles([r_ims[i] for i in probe_indices(len(r_ims))], res_info["sigma_real"],
                                     res_info["step"])
        keys = {k: (res_info[f"sigma_{k}"], res_info["step"], target) for k in keys}

    t["per_image"] = time.perf_counter()
    cpu: dict[str, float] = {"topology": 0.0, "imaging": 0.0, "structure": 0.0}
    sides = [_side(ims, ps, mode == "both", keys[k], betti, min_persistence, r_max, n_jobs, device)
             for ims, ps, k in ((r_ims, pr, "real"), (f_ims, pf_, "fake"))]
    (fr, Xr, sr, mr, c1), (ff, Xf, sf, mf, c2) = sides
    for c in (c1, c2):
        for k, v in c.items():
            cpu[k] += v
    if mode != "imaging":
        # feature sizes at the common floor, without the blur matching (its extra smoothing merges
        # fine features of the sharper set: sizes would look alike when magnifications differ)
        spacing = []
        for ims, ps, fs, k in ((r_ims, pr, sr, "real"), (f_ims, pf_, sf, "fake")):
            if res_info[f"extra_{k}"] > 0:
                fs = _side(ims, ps, False, (res_info["floor_px"], res_info["step"], target), False, min_persistence,
                           r_max, n_jobs, device)[2]
            spacing.append(fs.summaries[:, fs.names.index("feature_spacing_px")])

    t["pairwise"] = time.perf_counter()
    pools = {}
    if mode == "both":
        pools["headline"] = pooled_features(fr, ff, rng=rngs[0], diagram_metric=diagram_metric,
                                            max_diagram_images=max_diagram_images, top_k=top_k, n_jobs=n_jobs)
    if mode != "imaging":
        pools["structure"] = pooled_features(sr, sf, rng=rngs[4], diagram_metric=diagram_metric,
                                             max_diagram_images=max_diagram_images, top_k=top_k, n_jobs=n_jobs)
    if mode != "structure":
        pools["imaging"] = imaging_pooled(Xr, Xf, inames, max_energy_images=2 * max_diagram_images, rng=rngs[12])

    t["calibration"] = time.perf_counter()
    if mode == "both":
        block, _ = compare_pooled(pools["headline"], n_boot, n_perm, rngs[1:4], groups=groups)
        res.update(headline_block(block, n_boot, n_perm))
    if mode != "imaging":
        res["structure"] = structure_block(pools["structure"], spacing, res_info, n_boot, n_perm, rngs[5:9], k_nn,
                                           groups)
        from shapekit.realism.materials import compare_materials

        mat = compare_materials(mr, mf)
        res["coverage"] = res["structure"]["coverage"]
        st = int(mr.get("step", 1))
        res["two_point"] = dict(mat["two_point"], um_per_px=um, images="structure",
                                r_px=[st * r for r in mat["two_point"]["r_px"]])
        res["materials"] = {k: v for k, v in mat.items() if k != "two_point"}
    if mode != "structure":
        block, _ = compare_pooled(pools["imaging"], n_boot, n_perm, rngs[9:12], groups=groups)
        block["attributes"] = attribute_shifts(Xr, Xf, inames)
        block["per_image_means"] = {n: {"real": float(Xr[:, j].mean()), "fake": float(Xf[:, j].mean())}
                                    for j, n in enumerate(inames)}
        res["imaging"] = block

    t["kid"] = time.perf_counter()
    kid = None
    if kid_extractor is not None:
        from shapekit.realism.kid import offline_kid

        kid = offline_kid(r_ims, f_ims, kid_extractor, seed=seed)
    res.update({"kid": kid, "n_real": len(r_ims), "n_fake": len(f_ims),
                "groups": dict(zip(("real", "synthetic"), n_groups)), "um_per_px": um, "scale_known": scale_known,
                "settings": {"mode": mode, "diagram_metric": diagram_metric, "max_diagram_images": max_diagram_images,
                             "top_k": top_k, "k_nn": k_nn, "min_persistence": min_persistence, "r_max": r_max,
                             "structure_floor_px": structure_floor_px, "seed": seed,
                             "persistence_backend": resolve_backend("auto", device)},
                "warnings": notes})
    from shapekit.realism.verdict import verdict

    res["verdict"] = verdict(res)
    t["report"] = time.perf_counter()
    if report_dir is not None:
        from shapekit.realism.report import write_report

        write_report(report_dir, res, r_ims, f_ims, raw=(fr, ff) if mode == "both" else None,
                     structure=(sr, sf, mr, mf) if mode != "imaging" else None,
                     imaging=(Xr, Xf, inames) if mode != "structure" else None)
    t["end"] = time.perf_counter()
    stages = list(t)
    res["timings_s"] = {s: round(t[n] - t[s], 4) for s, n in zip(stages[:-1], stages[1:])}
    res["timings_s"]["total"] = round(t["end"] - t["load"], 4)
    res["per_image_cpu_s"] = {k: round(v, 4) for k, v in cpu.items()}
    return res
