"""``score(real, fake)``: the topological realism of a synthetic micrograph set, calibrated.

Pipeline (each stage timed in ``result["timings_s"]``):

1. ``load``: read both sets (manifest, folder, list of arrays or an ``(n, h, w)`` array) and bring
   them to a common physical scale (:func:`shapekit.realism.summaries.common_scale`);
2. ``topology``: per-image diagrams, summaries and Betti curves (once per image);
3. ``materials``: phase fraction, two-point correlation, chord lengths (once per image);
4. ``pairwise``: the sliced-Wasserstein kernel over all images and Hera/bottleneck distances over a
   subsample (once per pair);
5. ``calibration``: real-vs-real halves, permutation test, bootstrap, coverage -- index resampling
   only, nothing is recomputed per round;
6. ``kid`` (only with a local extractor) and ``report`` (only with ``report_dir``).

See :mod:`shapekit.realism.setstats` for the formula of ``topological_distance``.

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
from shapekit.realism.coverage import coverage_from_distances, expected_coverage
from shapekit.realism.resampling import bootstrap, percentile_ci, permutation_test, real_vs_real
from shapekit.realism.diagdist import pairwise_diagram_distances, pairwise_l1, sliced_wasserstein_embedding
from shapekit.realism.setstats import COMPONENTS, PooledFeatures, set_statistics
from shapekit.realism.prepared import (PreparedSet, per_image_features, scale_to, load_image_set,
                                       prepare_set)
from shapekit.realism.summaries import FeatureSet, common_scale, distance_diagrams

__all__ = ["score", "load_image_set", "pooled_features", "prepare_set", "PreparedSet"]


def pooled_features(real: FeatureSet, fake: FeatureSet, *, rng: np.random.Generator,
                    diagram_metric: str = "wasserstein", max_diagram_images: int = 24,
                    top_k: int = 16, n_directions: int = 10, n_grid: int = 128,
                    n_jobs: int | None = 1) -> PooledFeatures:
    """Pool two feature sets: summary scales, sliced-Wasserstein kernel, diagram distances.

    Examples
    --------
    >>> import numpy as np
    >>> from shapekit.realism.summaries import image_features
    >>> rng = np.random.default_rng(0)
    >>> a = image_features([rng.random((16, 16)) for _ in range(4)])
    >>> pf = pooled_features(a, a, rng=rng)
    >>> pf.K.shape, pf.n_real
    ((8, 8), 4)
    """
    nr, nf = len(real), len(fake)
    X = np.vstack([real.summaries, fake.summaries])
    scale = real.summaries.std(axis=0, ddof=1) if nr > 1 else np.zeros(X.shape[1])
    pooled_sd = X.std(axis=0, ddof=1)
    scale = np.where(scale > 1e-12, scale, np.where(pooled_sd > 1e-12, pooled_sd, 1.0))
    diags = [distance_diagrams(d, real.blocks) for d in real.diagrams + fake.diagrams]
    dsw = np.zeros((nr + nf, nr + nf))
    for j in range(len(real.blocks)):
        dsw += pairwise_l1(sliced_wasserstein_embedding([d[j] for d in diags], n_directions, n_grid))
    rr = dsw[:nr, :nr][~np.eye(nr, dtype=bool)]
    med = float(np.median(rr)) if rr.size else 0.0
    if med <= 0:
        pos = dsw[dsw > 0]
        med = float(np.median(pos)) if pos.size else 1.0
    K = np.exp(-dsw / med)
    sr = np.sort(rng.choice(nr, min(nr, max_diagram_images), replace=False))
    sf = nr + np.sort(rng.choice(nf, min(nf, max_diagram_images), replace=False))
    sub_idx = np.concatenate([sr, sf])
    sub = -np.ones(nr + nf, dtype=np.int64)
    sub[sub_idx] = np.arange(len(sub_idx))
    D = pairwise_diagram_distances([diags[i] for i in sub_idx],
                                   metric=diagram_metric, top_k=top_k, n_jobs=n_jobs)
    m = len(sr)
    drr = D[:m, :m][~np.eye(m, dtype=bool)]
    d_ref = float(drr.mean()) if drr.size else 0.0
    if d_ref <= 0:
        off = D[~np.eye(len(D), dtype=bool)]
        d_ref = float(off.mean()) if off.size else 0.0
    return PooledFeatures(X, list(real.names), scale, K, D, sub, d_ref, nr,
                          extra={"sw_median": med, "sw": dsw})


def standardised(pf: PooledFeatures) -> np.ndarray:
    mu = pf.X[: pf.n_real].mean(axis=0)
    return (pf.X - mu) / pf.scale


def score(real: Any, fake: Any, *, n_boot: int = 200, n_perm: int = 200, seed: int = 0,
          root: str | os.PathLike[str] | None = None, real_um_per_px: Any = None,
          fake_um_per_px: Any = None, diagram_metric: str = "wasserstein",
          max_diagram_images: int = 24, top_k: int = 16, k_nn: int = 5,
          min_persistence: float = 1.5 / 255, threshold: float | None = None, r_max: int = 64,
          kid_extractor: Any = None, report_dir: str | os.PathLike[str] | None = None,
          n_jobs: int | None = 1) -> dict[str, Any]:
    """Score a synthetic micrograph set against a real one, with baseline, p-value and CIs.

    Parameters
    ----------
    real, fake : path, list of ndarray, ndarray (n, h, w) or PreparedSet
        Manifest ``.yaml``, folder of images, images in [0, 1], or a set prepared once with
        :func:`prepare_set` (its per-image features are reused: score many synthetic sets against
        one real set without recomputing it). At least 2 images each (4 real images for the
        real-vs-real baseline).
    n_boot, n_perm : int
        Bootstrap and permutation rounds (``n_boot`` also sets the real-vs-real rounds).
    seed : int
        Everything is deterministic per seed.
    root : path, optional
        Data root overriding a manifest's ``root``.
    real_um_per_px, fake_um_per_px : float or array, optional
        Pixel sizes (override the manifest/file metadata).
    diagram_metric : {"wasserstein", "bottleneck"}
        Diagram distance of the energy term (GUDHI Hera W1 or GUDHI bottleneck).
    max_diagram_images, top_k : int
        The energy term uses at most ``max_diagram_images`` images per set and the ``top_k`` most
        persistent pairs per diagram (its cost is quadratic in the former).
    k_nn : int
        Neighbourhood size of the coverage measures.
    min_persistence : float
        Pairs at or below this persistence are dropped (quantisation noise).
    threshold : float, optional
        Binarisation threshold of the materials statistics (Otsu per image by default).
    r_max : int
        Largest two-point lag in pixels.
    kid_extractor : nn.Module, optional
        Local KID/FID feature extractor (:func:`shapekit.realism.kid.load_extractor`); KID is
        skipped (``"kid": None``) without one. Nothing is ever downloaded.
    report_dir : path, optional
        Write PNGs and ``report.html`` there.
    n_jobs : int or None
        Threads/processes for persistence and Hera distances.

    Returns
    -------
    dict
        JSON-ready: ``topological_distance``; ``components`` (``d_summaries``, ``d_mmd``,
        ``d_energy``); ``ci`` (95 % bootstrap intervals, shifted by the bootstrap bias);
        ``real_vs_real`` (``mean``, ``ci``, per component: random halves of the real set, so a
        conservative baseline); ``permutation_null`` (``mean``, ``ci`` at the actual set sizes);
        ``p_value``; ``relative_to_baseline``; ``summaries`` (per named summary: ``w1``,
        ``w1_std`` in real standard deviations, ``ks``, ``ci``, means); ``top_summaries``;
        ``coverage`` (``coverage``, ``precision``, ``recall``, ``density``, ``diversity_ratio``,
        ``expected_if_same``, ``collapsed``: diversity ratio < 0.5, i.e. the synthetic summary
        vectors spread less than half as much as the real ones); ``two_point``; ``materials``; ``kid`` (None
        without an extractor); ``n_real``; ``n_fake``; ``um_per_px``; ``settings``;
        ``warnings``; ``timings_s`` (wall seconds per stage) and ``per_image_cpu_s``.

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
    >>> sorted(res)[:4]
    ['ci', 'components', 'coverage', 'kid']
    """
    if n_boot < 1 or n_perm < 1:
        raise InputError(f"n_boot and n_perm must be >= 1, got {n_boot} and {n_perm}")
    if diagram_metric not in ("wasserstein", "bottleneck"):
        raise InputError(f"diagram_metric={diagram_metric!r} is not one of ('wasserstein', 'bottleneck')")
    t = {"load": time.perf_counter()}
    notes: list[str] = []
    prep = {k: v for k, v in (("real", real), ("synthetic", fake)) if isinstance(v, PreparedSet)}
    r_ims, r_um, _ = (prep["real"].images, None, None) if "real" in prep else \
        load_image_set(real, root, what="real set")
    f_ims, f_um, _ = (prep["synthetic"].images, None, None) if "synthetic" in prep else \
        load_image_set(fake, root, what="synthetic set")
    for name, ims in (("real", r_ims), ("synthetic", f_ims)):
        if len(ims) < 2:
            raise InputError(f"{name} set has {len(ims)} image; at least 2 are needed "
                             "(4 real images for the real-vs-real baseline)")
    if real_um_per_px is not None:
        r_um = real_um_per_px
    if fake_um_per_px is not None:
        f_um = fake_um_per_px
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not prep:
            r_ims, f_ims, um = common_scale(r_ims, f_ims, r_um, f_um)
        elif len(prep) == 2:
            um = scale_to([], None, prep["real"].um_per_px, prep["synthetic"].um_per_px)[1]
        elif "real" in prep:
            f_ims, um = scale_to(f_ims, f_um, prep["real"].um_per_px)
        else:
            r_ims, um = scale_to(r_ims, r_um, prep["synthetic"].um_per_px)
    for w in caught:
        notes.append(str(w.message))
        warnings.warn(w.message, w.category, stacklevel=2)
    for name, ims in (("real", r_ims), ("synthetic", f_ims)):
        n_const = sum(float(np.ptp(a)) <= 1e-12 for a in ims)
        if n_const:
            msg = f"{n_const} constant image(s) in the {name} set: no topology (zero summaries, empty diagrams)"
            notes.append(msg)
            warnings.warn(msg, ShapekitWarning, stacklevel=2)
    if len(r_ims) < 4:
        notes.append("fewer than 4 real images: no real-vs-real baseline")
    ss = np.random.SeedSequence(seed)
    rng_sub, rng_rvr, rng_perm, rng_boot = (np.random.default_rng(s) for s in ss.spawn(4))

    t["per_image"] = time.perf_counter()
    r_max = int(min([r_max] + [min(a.shape) - 1 for a in r_ims + f_ims]))
    cpu = {"topology": 0.0, "materials": 0.0}
    sides = []
    for name, ims in (("real", r_ims), ("synthetic", f_ims)):
        ps = prep.get(name)
        if ps is not None and ps.settings == {"min_persistence": min_persistence, "threshold": threshold} \
                and (report_dir is None or ps.features.betti.shape[-1] > 1):
            sides.append((ps.features, ps.materials))
            continue
        fs, ms, c = per_image_features(ims, min_persistence, threshold, r_max, n_jobs,
                                        betti=report_dir is not None)
        cpu = {k: round(cpu[k] + c[k], 4) for k in cpu}
        sides.append((fs, ms))
    (fr, mr), (ff, mf) = sides
    from shapekit.realism.materials import compare_materials

    mat = compare_materials(mr, mf)

    t["pairwise"] = time.perf_counter()
    pf = pooled_features(fr, ff, rng=rng_sub, diagram_metric=diagram_metric,
                         max_diagram_images=max_diagram_images, top_k=top_k, n_jobs=n_jobs)

    t["calibration"] = time.perf_counter()
    nr = pf.n_real
    ia, ib = np.arange(nr), np.arange(nr, len(pf.X))
    obs = set_statistics(pf, ia, ib)
    from scipy.spatial.distance import cdist

    Z = standardised(pf)
    DZ = cdist(Z, Z)          # once; resampled coverage only indexes it

    def _cov(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        c = coverage_from_distances(DZ, a, b, k_nn)
        return {"coverage": c["coverage"], "diversity_ratio": c["diversity_ratio"]}

    rvr = real_vs_real(pf, n_boot, rng_rvr)
    p_value, null = permutation_test(pf, obs["topological_distance"], n_perm, rng_perm)
    boot = bootstrap(pf, n_boot, rng_boot, extra=_cov)
    cov = coverage_from_distances(DZ, ia, ib, k_nn)
    exp_cov = expected_coverage(nr, len(ib), k_nn)
    cov.update({"expected_if_same": exp_cov, "k": k_nn,
                "ci": percentile_ci(boot["coverage"]),
                "diversity_ratio_ci": percentile_ci(boot["diversity_ratio"])})
    # collapse = the synthetic set spreads less than half as much as the real one in summary space
    # (a shifted but diverse set, e.g. blurred images, has low coverage but keeps its spread)
    cov["collapsed"] = bool(cov["diversity_ratio"] < 0.5)

    t["kid"] = time.perf_counter()
    kid = None
    if kid_extractor is not None:
        from shapekit.realism.kid import offline_kid

        kid = offline_kid(r_ims, f_ims, kid_extractor, seed=seed)

    rvr_mean = float(np.mean(rvr["topological_distance"])) if rvr["topological_distance"].size else float("nan")
    td = obs["topological_distance"]
    summaries = {}
    for j, name in enumerate(pf.names):
        summaries[name] = {"w1": float(obs["w1"][j]), "w1_std": float(obs["w1_std"][j]),
                           "ks": float(obs["ks"][j]),
                           "ci": percentile_ci(boot["w1_std"][:, j], estimate=float(obs["w1_std"][j])),
                           "real_mean": float(pf.X[ia, j].mean()), "fake_mean": float(pf.X[ib, j].mean())}
    order = np.argsort(-obs["w1_std"], kind="stable")
    result: dict[str, Any] = {
        "topological_distance": td,
        "components": {c: obs[c] for c in COMPONENTS},
        "ci": {k: percentile_ci(boot[k], estimate=obs[k]) for k in ("topological_distance",) + COMPONENTS},
        "real_vs_real": {"mean": rvr_mean, "ci": percentile_ci(rvr["topological_distance"]),
                         "n_rounds": int(rvr["topological_distance"].size),
                         "components": {c: (float(np.nanmean(rvr[c])) if rvr[c].size and np.isfinite(rvr[c]).any()
                                            else float("nan")) for c in COMPONENTS}},
        "relative_to_baseline": float(td / rvr_mean) if rvr_mean and np.isfinite(rvr_mean) else float("nan"),
        "permutation_null": {"mean": float(np.nanmean(null)), "ci": percentile_ci(null)},
        "p_value": p_value, "n_perm": int(n_perm), "n_boot": int(n_boot),
        "summaries": summaries,
        "top_summaries": [pf.names[j] for j in order[:5]],
        "coverage": cov,
        "two_point": dict(mat["two_point"], um_per_px=um),
        "materials": {k: v for k, v in mat.items() if k != "two_point"},
        "kid": kid,
        "n_real": int(nr), "n_fake": int(len(ib)), "um_per_px": um,
        "settings": {"diagram_metric": diagram_metric, "max_diagram_images": max_diagram_images,
                     "top_k": top_k, "k_nn": k_nn, "min_persistence": min_persistence, "seed": seed},
        "warnings": notes,
    }
    t["report"] = time.perf_counter()
    if report_dir is not None:
        from shapekit.realism.report import write_report

        write_report(report_dir, result, fr, ff, mr, mf)
    t["end"] = time.perf_counter()
    stages = list(t)
    result["timings_s"] = {s: round(t[n] - t[s], 4) for s, n in zip(stages[:-1], stages[1:])}
    result["timings_s"]["total"] = round(t["end"] - t["load"], 4)
    result["per_image_cpu_s"] = cpu
    return result
