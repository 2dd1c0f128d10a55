"""The one adapter between the server and shapekit's models (temper, generate, realism, registry).

Routes, the page and the tests depend only on the shapes returned here; every call into the model
packages lives in this module, so a change there is absorbed in one place.

* :func:`load`, :func:`classifier_card`, :func:`generator_card`, :func:`prepare_real_set`: what
  :class:`~shapekit.server.store.ModelStore` (models by name, loaded once, shared) needs;
  :func:`shipped` / :func:`resolve_shipped` are the only registry calls (issue 14's interface).
* :func:`classify_file`: one uploaded scan -> temper, probabilities, info bar, pixel size, per-tile
  verdict map, explanation pairs, preview.
* :func:`generate_image`: conditions -> PNG/TIFF bytes (conditions in the metadata) or a sweep grid.
* :func:`score_sets`: a real set (named or uploaded) against a generated set (a generator or
  uploads) -> the realism report with its figures and its one-sentence verdict
  (:func:`~shapekit.server.verdict.verdict`).
"""

from __future__ import annotations

import importlib
import inspect
import threading
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import InputError
from shapekit.generate.formats import trained_iterations
from shapekit.server.encode import jsonable, png_bytes, preview_data_url, tiff_bytes
from shapekit.server.uploads import read_images
from shapekit.server.errors import ApiError
from shapekit.server.verdict import unmatched_set, verdict

KINDS = {"classifier": "classifiers", "generator": "generators"}
# GeneratorSampler.sample seeds torch's global RNG (fork_rng + manual_seed): one sample at a time
_SAMPLE_LOCK = threading.Lock()
# the realism report draws with matplotlib.pyplot, whose figure registry is not thread-safe
_REPORT_LOCK = threading.Lock()
MAX_EXPLAIN_PAIRS = 300


# ---------------------------------------------------------------------------- registry (issue 14)
def _registry() -> Any:
    """``shapekit.registry`` when it exists (shipped models), else None."""
    try:
        return importlib.import_module("shapekit.registry")
    except ModuleNotFoundError:
        return None


def shipped(kind: str) -> list[dict[str, Any]]:
    """Cards of the shipped models of ``kind`` (``"classifier"`` or ``"generator"``)."""
    reg = _registry()
    return [] if reg is None else list(reg.available(kind))


def resolve_shipped(name: str, kind: str) -> Path:
    """The directory of a shipped model; InputError (listing the available ones) when unknown."""
    reg = _registry()
    if reg is None:
        raise InputError(f"unknown {kind} {name!r}")
    return Path(reg.resolve(name, kind))


def load(kind: str, path: Path) -> Any:
    """Load a classifier (model directory) or a generator (run directory) on the CPU."""
    if kind == "classifier":
        from shapekit.temper.modeldir import load_model

        model = load_model(path)
        model.n_jobs = 1      # one worker thread per request; parallelism comes from the pool
        return model
    from shapekit.generate import load_generator

    return load_generator(path, device="cpu")


def classifier_card(m: Any) -> dict[str, Any]:
    """What a client needs to know of a classifier (``GET /api/models``)."""
    cv = (m.config.get("cv") or {}).get("table") or []
    best = max((r.get("accuracy", 0.0) for r in cv), default=None)
    return {"kind": m.kind, "labels": m.label_names, "tile_size": m.tile_size,
            "um_per_px": m.target_um_per_px, "cv_accuracy": best,
            "explain": m.kind == "toptemp" and m.importance is not None}


def generator_card(g: Any) -> dict[str, Any]:
    """Labels, mode, sizes and condition ranges (log-scaled or not) of a generator, and whether
    it was trained on ``shapekit synth`` data (``simulator_labelled``: no label asked -> the
    temper the simulator makes at the conditions)."""
    from shapekit.generate.simlabels import simulator_labelled

    log = dict(zip(g.codec.names, np.asarray(g.codec.log, dtype=bool).tolist()))
    default = g.default_conditions()
    return {"labels": g.label_names, "mode": g.mode, "image_size": image_size(g),
            "any_size": "size" in inspect.signature(g.sample).parameters,
            "um_per_px": g.um_per_px, "iterations": trained_iterations(g.config),
            "simulator_labelled": simulator_labelled(g.codec.to_dict()),
            "conditions": [{"name": n, "min": lo, "max": hi, "default": default[n], "log": log[n]}
                           for n, (lo, hi) in g.ranges.items()]}


def image_size(g: Any) -> int:
    """The side of a generator's default image (square generators; the larger side otherwise)."""
    hw = getattr(g, "default_size", None)
    return int(max(hw)) if hw else int(g.image_size)


def set_card(path: Path) -> dict[str, Any]:
    """The number of images of a real set (manifest or folder), or its error."""
    from shapekit.io import open_image_set

    try:
        return {"n_images": len(open_image_set(Path(path)))}
    except InputError as e:
        return {"error": " ".join(str(e).split())}


# ---------------------------------------------------------------------------- uploads
def check_image_type(path: Path, filename: str) -> None:
    """415 unless the file's first bytes are a TIFF, PNG, JPEG or BMP signature (422 when empty)."""
    from shapekit.io import sniff_format

    if Path(path).stat().st_size == 0:
        raise ApiError(422, f"{filename}: empty file (0 bytes)")
    if sniff_format(Path(path)) is None:
        raise ApiError(415, f"{filename}: not a TIFF, PNG, JPEG or BMP image (by its content)")


# ---------------------------------------------------------------------------- classify
def classify_file(model: Any, path: Path, filename: str, *, explain: bool = False,
                  preview: bool = False, um_per_px: float | None = None,
                  max_pixels: int | None = None) -> dict[str, Any]:
    """Classify one uploaded scan.

    Returns
    -------
    dict
        ``image``, ``temper``, ``probabilities``, ``tiles``, ``in_distribution``, ``ood_score``,
        ``prediction_set``, ``ood`` (as ``shapekit classify``; the outside fields None for
        models without an outside-the-training-data check),
        ``scan`` (source shape, info-bar rows, pixel size and its source, the shape and pixel
        size classified), ``tile_map`` (per-tile verdicts with coordinates in the classified
        image), ``explain`` (the persistence pairs that drive the verdict, or None), ``preview``
        (a PNG data URL of the classified image, or None) and ``notes``.
    """
    from shapekit.io import load_scan
    from shapekit.temper.scans import scan_for_model

    try:
        scan = load_scan(path, um_per_px=um_per_px, max_pixels=max_pixels)
        # as `shapekit classify` prepares it: resampled to the model's pixel size, the reader's
        # notes (pixel size unknown or in conflict, scale bar not read) and the scan's own pixel
        # size, which the magnification check compares with the training range
        img, info = scan_for_model(scan, model.target_um_per_px, source=filename)
        classified_um = info["um_per_px"]
        if explain and model.kind == "toptemp" and model.importance is not None:
            from shapekit.temper.explain import check_pair_budget   # before the verdict

            # the process's budget (as `shapekit explain`), not the per-upload one of max_pixels
            check_pair_budget(img.shape, filename)
        res = model.assess(img, filename, info)
    except InputError as e:
        raise InputError(str(e).replace(str(path), filename)) from None
    res = {**res, "image": filename}
    res["scan"] = {**{k: v for k, v in scan.to_dict().items() if k not in ("source", "shape")},
                   "shape": [int(img.shape[0]), int(img.shape[1])],
                   "classified_um_per_px": classified_um}
    res["explain"] = _explain(model, img, classified_um) if explain else None
    res["preview"], res["preview_scale"] = preview_data_url(img) if preview else (None, None)
    return jsonable(res)


def _explain(model: Any, img: np.ndarray, um_per_px: float | None) -> dict[str, Any] | None:
    if model.kind != "toptemp" or model.importance is None:
        return None
    from shapekit.temper.explain import MEANING, model_pair_table, pair_records

    blocks, table, levels = model_pair_table(model, img, MAX_EXPLAIN_PAIRS)
    pairs = pair_records(table.rows, levels, um_per_px)
    keep = ("row", "col", "score", "filtration", "dim", "scale", "what", "size_px", "size_um")
    return {"blocks": [{"scale": k[0], "filtration": k[1], "dim": k[2], "importance": round(v, 6),
                        "what": MEANING[(k[1], k[2])]}
                       for k, v in sorted(blocks.items(), key=lambda kv: -kv[1])],
            "pairs": [{k: (round(r[k], 3) if isinstance(r[k], float) else r[k]) for k in keep}
                      for r in pairs],
            "n_pairs": table.n_pairs}


# ---------------------------------------------------------------------------- generate
def check_in_range(gen: Any, conditions: dict[str, Any]) -> dict[str, float]:
    """Conditions with defaults filled; unknown names and values outside the training range refused."""
    vals = gen.default_conditions()
    for name, v in (conditions or {}).items():
        if name not in vals:
            known = ", ".join(vals) or "none (a class-conditioned generator)"
            raise InputError(f"unknown condition {name!r}; this generator's conditions: {known}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise InputError(f"condition {name}={v!r} is not a finite number")
        lo, hi = gen.ranges[name]
        tol = 1e-9 * max(1.0, abs(lo), abs(hi))
        if not lo - tol <= v <= hi + tol:
            raise InputError(f"condition {name}={v:g} is outside this generator's training range "
                             f"[{lo:g}, {hi:g}]")
        vals[name] = float(v)
    return vals


def sweep_values(gen: Any, name: str, k: int, lo: float | None = None, hi: float | None = None) -> list[float]:
    """``k`` values of condition ``name`` over ``[lo, hi]`` (default: its training range),
    log-spaced for log-scaled conditions."""
    if name not in gen.ranges:
        known = ", ".join(gen.ranges) or "none (a class-conditioned generator)"
        raise InputError(f"cannot sweep unknown condition {name!r}; this generator's conditions: {known}")
    a, b = gen.ranges[name]
    lo, hi = (a if lo is None else lo), (b if hi is None else hi)
    check_in_range(gen, {name: lo})
    check_in_range(gen, {name: hi})
    log = bool(dict(zip(gen.codec.names, np.asarray(gen.codec.log, dtype=bool)))[name])
    vals = np.geomspace(lo, hi, k) if log and lo > 0 else np.linspace(lo, hi, k)
    return [float(v) for v in vals]


def generate_image(gen: Any, *, label: str | None, conditions: dict[str, Any], seed: int,
                   fmt: str = "png", sweep: dict[str, Any] | None = None,
                   size: int | str | None = None, workdir: Path | None = None,
                   max_pixels: int | None = None,
                   abandoned: threading.Event | None = None) -> tuple[bytes, str, dict[str, Any]]:
    """Generate one image (or a sweep) -> ``(bytes, media type, metadata)``.

    The metadata (generator settings, label, every condition, seed) is embedded in the PNG
    ``tEXt`` chunk ``shapekit`` or each TIFF page's ``ImageDescription``. A sweep's images together
    must fit ``max_pixels`` (the server's budget), checked before the first is made. Tempers as
    ``shapekit generate`` (:mod:`shapekit.generate.simlabels`); its warnings in ``warnings``.
    Once ``abandoned`` is set (the client went away), no further image is made.
    """
    from shapekit.generate.simlabels import simulator_labels
    from shapekit.io.budget import check_pixel_budget

    if label is not None:
        gen.codec.label_index(label)                      # unknown label -> InputError
    base = check_in_range(gen, conditions)
    extra = {}
    if size is not None and "size" in inspect.signature(gen.sample).parameters:
        extra["size"] = size                              # a side or "WIDTHxHEIGHT"
    elif size is not None and size != image_size(gen):
        raise InputError(f"this generator makes {image_size(gen)}-px images; other sizes need "
                         "a generator that supports whole-image sizes")
    rows = [base] if sweep is None else [
        {**base, sweep["name"]: v}
        for v in sweep_values(gen, sweep["name"], int(sweep["k"]), sweep.get("lo"), sweep.get("hi"))]
    from shapekit.generate.formats import parse_size

    h, w = parse_size(size if size is not None else image_size(gen))
    check_pixel_budget((len(rows), h, w), f"{len(rows)} generated images of {w}x{h} px",
                       max_pixels=max_pixels)
    # no label, simulator's data: the temper it makes at each setting
    labels, warnings = simulator_labels(gen.codec.to_dict(), label, rows)
    tempers = labels if label is None and labels[0] is not None else None
    images = []
    with _SAMPLE_LOCK:
        for cond, lab in zip(rows, labels):
            if abandoned is not None and abandoned.is_set():
                raise InputError("the client went away before the image was made")
            images.append(gen.sample(1, lab, cond, seed=seed, **extra)[0])
    if label is None and tempers is None and hasattr(gen, "labels_for"):
        labels = [gen.label_names[int(gen.labels_for(1, None, seed)[0])]] * len(rows)  # the seed's draw
    meta = [{"generator_iterations": trained_iterations(gen.config), "mode": gen.mode, "label": lab,
             "conditions": c, "seed": int(seed), "um_per_px": gen.um_per_px}
            for c, lab in zip(rows, labels)]
    told = {"warnings": warnings} if warnings else {}
    if fmt == "tiff":
        return tiff_bytes(images, meta), "image/tiff", jsonable({"images": meta, **told})
    if sweep is None:
        return (png_bytes(images[0], {"shapekit": _dumps(meta[0])}), "image/png",
                jsonable({**meta[0], **told}))
    from shapekit.generate.grid import save_labelled_grid

    tmp = Path(workdir) / f"sweep-{threading.get_ident()}.png"
    title = "the simulator's temper" if tempers is not None else labels[0] or "random temper"
    try:
        save_labelled_grid(np.asarray(images), tmp, 1, len(images),
                           [f"{v[sweep['name']]:.3g}" + ("" if tempers is None else f"\n{t}")
                            for v, t in zip(rows, labels)], None,
                           f"{title}: {sweep['name']} sweep (seed {seed})")
        return tmp.read_bytes(), "image/png", jsonable({"images": meta, **told})
    finally:
        tmp.unlink(missing_ok=True)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(jsonable(obj))


# ---------------------------------------------------------------------------- score
def prepare_real_set(path: Path, name: str) -> Any:
    """A real set with its per-image features computed once (reused by every score)."""
    from shapekit.realism.prepared import prepare_set

    return prepare_set(path, what=f"real set {name}")


def warm_up(model: Any) -> None:
    """Run a classifier once on noise, so its numba kernels compile now, not in a request."""
    side = max(32, min(model.tile_size or 64, 256))
    model.classify([np.random.default_rng(0).random((side, side)).astype(np.float32)])


def score_sets(store: Any, job: Any, *, real: dict[str, Any], fake: dict[str, Any],
               n_boot: int, n_perm: int, seed: int, mode: str | None = None,
               max_pixels: int | None = None) -> dict[str, Any]:
    """Score a generated set against a real one; figures are written to ``job.out_dir``.

    ``real`` is ``{"set": name}`` or ``{"files": [(path, name), ...]}``; ``fake`` is
    ``{"generator": name, "n": n, "label": label, "conditions": {...}, "seed": s}`` or
    ``{"files": [...]}``.
    """
    from shapekit.realism import score

    job.report(0, 4, "reading the real set")
    kw: dict[str, Any] = {}
    down, sim_warnings = None, []
    if "set" in real:
        job.report(stage=f"preparing real set {real['set']} (once per server start)")
        real_in: Any = store.real_set(real["set"])
        real_desc = {"set": real["set"], "n": len(real_in)}
    else:
        real_in, kw["real_um_per_px"] = read_images(real["files"], max_pixels, "real set")
        real_desc = {"uploaded": len(real_in)}
    job.report(1, stage="generating" if "generator" in fake else "reading the generated set")
    if "generator" in fake:
        gen = store.get("generator", fake["generator"])
        name = store.default("generator", fake["generator"])
        if fake.get("label") is not None:
            gen.codec.label_index(fake["label"])
        cond = check_in_range(gen, fake.get("conditions") or {})
        plan = None
        if "set" in real and fake.get("label") is None and not fake.get("conditions"):
            # like with like: each image at the label and conditions of a row of the real set
            from shapekit.generate.reference import conditions_of_set

            plan = conditions_of_set(store.real_set_path(real["set"]), gen, int(fake["n"]),
                                     int(fake.get("seed", 0)))
        label = fake.get("label")
        if plan is None:  # as /api/generate: no label -> the simulator's temper, if it labelled the model
            from shapekit.generate.simlabels import simulator_labels

            (label,), sim_warnings = simulator_labels(gen.codec.to_dict(), label, [cond])
        seed0 = int(fake.get("seed", 0))
        if plan is not None:  # one image at a time (image i from seed0 + i): its progress shown
            from shapekit.generate.reference import sample_like

            parts = []
            for i, row in enumerate(plan):
                job.report(stage=f"generating image {i + 1} of {len(plan)}")
                with _SAMPLE_LOCK:
                    parts.append(sample_like(gen, [row], seed0 + i))
            fake_in: Any = np.concatenate(parts)
        else:
            job.report(stage=f"generating {int(fake['n'])} images")
            with _SAMPLE_LOCK:
                fake_in = gen.sample(int(fake["n"]), label, cond, seed=seed0)
        if plan is None and "set" in real and fake.get("label") is None and not fake.get("conditions"):
            sim_warnings.append(unmatched_set(real["set"], name, gen.label_names, cond, label))
        if gen.um_per_px is not None:
            kw["fake_um_per_px"] = float(gen.um_per_px)
        elif (gen.config.get("downscale") or 1) != 1:  # trained at 1/d of its images' pixels
            down = float(gen.config["downscale"])
        fake_desc = {"generator": name, "n": int(fake["n"]), "label": label,
                     "conditions": cond if plan is None else f"those of {len(plan)} rows of {real['set']}"}
    else:
        fake_in, kw["fake_um_per_px"] = read_images(fake["files"], max_pixels, "generated set")
        fake_desc = {"uploaded": len(fake_in)}
    job.report(2, stage=f"scoring ({n_boot} bootstrap and {n_perm} permutation rounds)")
    params = inspect.signature(score).parameters
    if mode is not None:
        if "mode" not in params:
            raise InputError("this shapekit's realism score has no modes; leave 'mode' empty")
        kw["mode"] = mode
    if _REPORT_LOCK.locked():
        job.report(stage="waiting for another score to finish its figures")
    with _REPORT_LOCK:
        job.report(stage=f"scoring ({n_boot} bootstrap and {n_perm} permutation rounds)")
        res = score(real_in, fake_in, n_boot=n_boot, n_perm=n_perm, seed=seed,
                    report_dir=job.out_dir, **kw)
    if sim_warnings:
        res.setdefault("warnings", []).extend(sim_warnings)
    if down is not None and res.get("um_per_px") is None:
        res.setdefault("warnings", []).append(
            f"{name} makes images at 1/{down:g} of its training images' pixel scale and neither set has a "
            "pixel size, so the two were compared pixel for pixel (its features read finer by that factor); "
            "to compare at one scale: `shapekit generate` them and `shapekit score REAL GENERATED "
            f"--real-um-per-px 1 --fake-um-per-px {down:g}` (REAL at the training images' scale)")
    job.report(3, stage="figures")
    figures = {p.stem: f"/api/jobs/{job.id}/files/{p.name}" for p in sorted(job.out_dir.glob("*.png"))}
    return jsonable({"real": real_desc, "generated": fake_desc, "verdict": verdict(res),
                     "figures": figures, "report": res})
