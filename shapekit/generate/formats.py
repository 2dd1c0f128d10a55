"""File formats of the GAN: what a run directory holds, as JSON Schemas, readable without torch.

``generator.json`` (:data:`GENERATOR_SCHEMA`: network sizes, the condition codec, pixel size),
``conditions.json`` (:data:`CODEC_SCHEMA`) and the run's ``config.json`` (:data:`RUN_SCHEMA`,
what ``--resume`` reads back). :func:`read_generator_config` checks types, bounds and the
consistency of the codec, so that the CLI can refuse a bad run directory, label or condition
before torch is imported, and so that a hostile config cannot build a gigantic network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from shapekit.errors import InputError, ModelFormatError, brief

#: 1 was the 64-px tile generator (shapekit sessions 1-3); 2 the fully convolutional one
FORMAT_VERSION = 2
WEIGHTS, CONFIG = "generator.safetensors", "generator.json"

_NUMS = {"type": "array", "items": {"type": "number"}, "maxItems": 256}
CODEC_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["label_names", "names", "mean", "std", "min", "max"],
    "properties": {"label_names": {"type": "array", "minItems": 1, "maxItems": 10000,
                                   "items": {"type": ["string", "number", "boolean"]}},
                   "names": {"type": "array", "items": {"type": "string"}, "maxItems": 256},
                   "mean": _NUMS, "std": _NUMS, "min": _NUMS, "max": _NUMS,
                   "mode": {"enum": ["class", "parameters", "properties"]},
                   "log": {"type": ["array", "null"], "items": {"type": "boolean"}}}}
"""JSON Schema of a condition codec (``generator.json["conditions"]``, ``conditions.json``)."""
# bounds keep a hostile config from building a gigantic network before the weights are compared
GENERATOR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["format_version", "net", "conditions"],
    "properties": {
        "format_version": {"type": "integer"},
        "net": {"type": "object", "required": ["n_classes", "z_local", "z_global", "w_dim",
                                               "channels"],
                "additionalProperties": False, "properties": {
            "n_classes": {"type": "integer", "minimum": 1, "maximum": 10000},
            "n_cond": {"type": "integer", "minimum": 0, "maximum": 256},
            "z_local": {"type": "integer", "minimum": 1, "maximum": 4096},
            "z_global": {"type": "integer", "minimum": 1, "maximum": 4096},
            "w_dim": {"type": "integer", "minimum": 1, "maximum": 4096},
            "channels": {"type": "array", "minItems": 1, "maxItems": 12,
                         "items": {"type": "integer", "minimum": 1, "maximum": 4096}},
            "base_convs": {"type": "integer", "minimum": 1, "maximum": 16},
            "margin": {"type": "integer", "minimum": 0, "maximum": 64},
            "detector": {"type": "boolean"}}},
        "conditions": CODEC_SCHEMA,
        "crop_size": {"type": "integer", "minimum": 8, "maximum": 4096},
        "default_size": {"type": "integer", "minimum": 8, "maximum": 16384},
        "um_per_px": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "downscale": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "iterations": {"type": "integer", "minimum": 0},
        "imaging": {"type": "object", "required": ["version", "labels"], "properties": {
            "version": {"type": "integer"},
            "labels": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["blur_px", "noise", "residual_noise"],
                "properties": {
                    "blur_px": {"type": "number", "minimum": 0, "maximum": 8},
                    "residual_noise": {"type": "number", "minimum": 0},
                    "noise": {"type": "array", "minItems": 2, "maxItems": 1001,
                              "items": {"type": "number", "minimum": 0}},
                    "zoom": {"type": "array", "minItems": 2, "maxItems": 1001,
                             "items": {"type": "number", "minimum": 0.25, "maximum": 4}}}}}}},
        "condition_map": {"type": "object", "required": ["version", "axes", "labels"],
                          "properties": {"version": {"type": "integer"},
                                         "axes": {"type": "array", "minItems": 1},
                                         "labels": {"type": "object"}}}}}
"""JSON Schema of ``generator.json``."""

RUN_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["condition", "crop_size", "batch_size", "seed", "manifest"],
    "properties": {"run_format": {"type": "integer"},
                   "condition": {"enum": ["class", "parameters", "properties"]},
                   "crop_size": {"type": "integer", "minimum": 16, "maximum": 4096},
                   "downscale": {"type": "number", "exclusiveMinimum": 0},
                   "holdout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
                   "augment": {"enum": ["dihedral", "flips", "none"]},
                   "target_um_per_px": {"type": ["number", "null"], "exclusiveMinimum": 0},
                   "batch_size": {"type": "integer", "minimum": 1, "maximum": 65536},
                   "seed": {"type": "integer"}, "max_steps": {"type": "integer", "minimum": 1},
                   "manifest": {"type": "string"}, "root": {"type": ["string", "null"]},
                   "model": {"type": "object"}}}
"""JSON Schema of a run directory's ``config.json`` (what ``--resume`` reads back)."""
#: the values of run settings that a ``config.json`` saved before them does not hold
RUN_DEFAULTS: dict[str, Any] = {"holdout": 0.0, "augment": "dihedral"}


def no_generator_message(run_dir: Path, checkpoint_option: bool = False) -> str:
    """Why ``run_dir`` has no generator to load, and what to do: train one, or, where a run
    stopped before its end left checkpoints, continue it (or, with ``checkpoint_option``, sample
    one of them with ``--checkpoint``)."""
    missing = f"{run_dir}: no exported generator ({CONFIG} + {WEIGHTS})"
    ckpts = sorted(p.stem for p in (run_dir / "checkpoints").glob("*.ckpt"))
    if not ckpts:
        try:   # e.g. generate MODEL_DIR of train-classifier
            import json

            if json.loads((run_dir / "config.json").read_text()).get("format") == "shapekit-temper-model":
                return (f"{run_dir} is a temper classifier (shapekit train-classifier), not a "
                        "generator (shapekit train-gan)")
        except (OSError, ValueError, AttributeError):
            pass
        return f"{missing}; train it with `shapekit train-gan` first"
    if not (run_dir / "config.json").is_file():
        return (f"{missing}, and checkpoints without the run's config.json: copy the whole run "
                "directory, or train one with `shapekit train-gan`")
    manifest, steps = "MANIFEST", ""
    try:
        import json

        run = json.loads((run_dir / "config.json").read_text())
        manifest = str(run["manifest"])
        if isinstance(run.get("max_steps"), int):  # --resume alone would go to its default
            steps = f" --max-steps {run['max_steps']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    shown = ", ".join(ckpts[-2:] if len(ckpts) <= 2 else ["...", *ckpts[-2:]])
    also = f", or sample a checkpoint: --checkpoint {shown}" if checkpoint_option else ""
    return (f"{run_dir} holds checkpoints but no exported generator (stopped before its end?): "
            f"finish it with `shapekit train-gan {manifest} --out {run_dir} --resume{steps}`{also}")


def read_generator_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``RUN_DIR/generator.json`` (types, bounds, codec lengths, format version).

    Raises
    ------
    ModelFormatError
        No run directory, no exported generator, or an invalid ``generator.json``.

    Examples
    --------
    >>> import tempfile
    >>> read_generator_config(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.ModelFormatError: ...: no exported generator (generator.json + generator.safetensors); train it with `shapekit train-gan` first
    """
    from shapekit.io.jsonfile import load_json

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ModelFormatError(f"run directory not found: {run_dir}")
    cfg_path, w_path = run_dir / CONFIG, run_dir / WEIGHTS
    if not cfg_path.is_file() or not w_path.is_file():
        raise ModelFormatError(no_generator_message(run_dir, checkpoint_option=True))
    cfg = load_json(cfg_path, {"type": "object", "required": ["format_version"]},
                    what="generator config")
    if cfg["format_version"] == 1:
        raise ModelFormatError(f"{cfg_path}: a 64-px tile generator (format 1) of an earlier "
                               f"shapekit; this version reads format {FORMAT_VERSION} "
                               "(fully convolutional): retrain with `shapekit train-gan`")
    cfg = load_json(cfg_path, GENERATOR_SCHEMA, what="generator config")
    if cfg["format_version"] != FORMAT_VERSION:
        raise ModelFormatError(f"{cfg_path}: format_version {cfg['format_version']} is not "
                               f"{FORMAT_VERSION}")
    codec = cfg["conditions"]
    lengths = {len(codec[k]) for k in ("names", "mean", "std", "min", "max")}
    if codec.get("log") is not None:
        lengths.add(len(codec["log"]))
    if len(lengths) != 1 or cfg["net"].get("n_cond", 0) != len(codec["names"]) or \
            cfg["net"]["n_classes"] != len(codec["label_names"]):
        raise ModelFormatError(f"{cfg_path}: invalid generator config: the condition statistics, "
                               f"names, labels and network sizes do not match")
    return cfg


def trained_iterations(config: dict[str, Any]) -> int:
    """All the training behind an exported generator: its own iterations plus those of the
    generator it was fine-tuned from (``init_from``, which already counts that one's whole chain).

    Examples
    --------
    >>> trained_iterations({"iterations": 3000, "init_from": {"iterations": 8000}})
    11000
    >>> trained_iterations({"iterations": 500})
    500
    """
    return int(config.get("iterations", 0)) + int(config.get("init_from", {}).get("iterations", 0))


def parse_size(size: int | str | tuple[int, int]) -> tuple[int, int]:
    """``512`` -> (512, 512); ``"1024x768"`` (width x height) -> (768, 1024) as (height, width).

    Examples
    --------
    >>> parse_size("1024x768"), parse_size(256)
    ((768, 1024), (256, 256))
    """
    if isinstance(size, tuple):
        h, w = (int(v) for v in size)
    else:
        text = str(size).lower().strip()
        parts = text.split("x")
        try:
            if len(parts) == 1:
                h = w = int(parts[0])
            elif len(parts) == 2:
                w, h = int(parts[0]), int(parts[1])
            else:
                raise ValueError
        except ValueError:
            raise InputError(f"--size expects N or WIDTHxHEIGHT (e.g. 512 or 1024x768), "
                             f"got {brief(size)}") from None
    if h < 8 or w < 8:
        raise InputError(f"--size must be at least 8x8 px, got {w}x{h}")
    from shapekit.io.budget import check_pixel_budget

    check_pixel_budget((h, w), f"--size {w}x{h}")
    return h, w
