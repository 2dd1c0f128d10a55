"""An exported generator with the training images it was trained on, for the calibrations
fitted after training (``shapekit calibrate-imaging``, ``shapekit calibrate-conditions``): the
export's own training split, never its held-out images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from shapekit.errors import InputError
from shapekit.generate.codec import ConditionCodec
from shapekit.generate.export import GeneratorSampler, load_generator
from shapekit.generate.formats import read_generator_config

__all__ = ["training_split", "TrainingSplit"]


class TrainingSplit(NamedTuple):
    """An export with the training images it was trained on (see :func:`training_split`)."""

    sampler: GeneratorSampler
    config: dict[str, Any]        #: generator.json, ``holdout`` filled in from the run if absent
    images: list[np.ndarray]      #: every manifest image at the export's scale
    labels: np.ndarray            #: class index of each image
    values: np.ndarray            #: raw conditions ``(n, k)``
    codec: ConditionCodec         #: the manifest's codec
    train: np.ndarray             #: indices of the export's training split


def training_split(model_dir: str | Path, manifest: str | Path,
                   root: str | Path | None = None) -> TrainingSplit:
    """Load the export in ``model_dir`` (on the CPU) and ``manifest``'s images at its
    ``downscale``, with the indices of its own training split (its ``holdout`` fraction and
    ``seed``; an export that predates ``holdout`` in ``generator.json`` takes its run's), for the
    calibrations fitted after training (never on held-out images).

    Raises
    ------
    InputError
        The manifest's labels or conditions are not the model's.
    """
    from shapekit.generate.data import holdout_split, load_training_table, to_common_scale

    gen = load_generator(model_dir, device="cpu")
    cfg = read_generator_config(model_dir)
    images, labels, values, codec, ump, _ = load_training_table(manifest, gen.mode, root)
    unknown = sorted(set(codec.label_names) - set(gen.label_names))
    if unknown or list(codec.names) != list(gen.condition_names):
        raise InputError(f"{manifest} is not this model's training data: labels "
                         f"{', '.join(codec.label_names)} and conditions "
                         f"{', '.join(codec.names) or 'none'}, the model's "
                         f"{', '.join(gen.label_names)} and {', '.join(gen.condition_names) or 'none'}")
    scaled, _ = to_common_scale(images, ump, float(cfg.get("downscale") or 1.0))
    if "holdout" not in cfg:   # exported before generator.json recorded it: the run's own
        cfg["holdout"] = _run_holdout(Path(model_dir))
    train, _ = holdout_split(labels, float(cfg.get("holdout") or 0.0), int(cfg.get("seed") or 0))
    return TrainingSplit(gen, cfg, scaled, labels, values, codec, train)


def _run_holdout(run: Path) -> float:
    """The holdout fraction in a run directory's config.json (0 where there is none)."""
    from shapekit.generate.formats import RUN_SCHEMA
    from shapekit.io.jsonfile import load_json

    if not (run / "config.json").is_file():
        return 0.0
    return float(load_json(run / "config.json", RUN_SCHEMA, what="run config").get("holdout") or 0.0)
