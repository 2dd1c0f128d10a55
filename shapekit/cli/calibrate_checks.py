"""What ``shapekit calibrate-imaging`` and ``calibrate-conditions`` refuse before a model loads.

:func:`check_run`: a missing run directory, a shipped model's (calibrate a copy) or a shipped
classifier's name, a folder without ``generator.json``, a missing manifest.
:func:`check_training_data`: a manifest whose labels or conditions are not the model's, and
``--label`` names the model lacks. Both read JSON and the manifest only (no torch, no images).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shapekit.errors import InputError


def check_run(run: Path, manifest: Path) -> None:
    """Refuse (InputError) a missing or shipped run directory or a missing manifest."""
    from shapekit.generate.formats import CONFIG, no_generator_message
    from shapekit.registry import available, pretrained_root, resolve

    if not run.is_dir():
        shipped = {m["name"]: m for m in available("generator")}
        if str(run) in shipped:  # a shipped name: its stages are part of the file, as its card says
            raise InputError(f"{run} is a shipped model (in {pretrained_root() / str(run)}); copy "
                             "that directory and calibrate the copy")
        if any(m["name"] == str(run) for m in available()):  # e.g. uhcs3, a classifier
            resolve(run, "generator")  # "uhcs3 is a shipped classifier, not a generator; ..."
        raise InputError(f"run directory not found: {run}")
    if not (run / CONFIG).is_file():
        raise InputError(no_generator_message(run))
    if not manifest.is_file():
        raise InputError(f"manifest not found: {manifest}")
    if pretrained_root().resolve() in run.resolve().parents:
        raise InputError(f"{run} is a shipped model; copy the directory and calibrate the copy")


def check_training_data(run: Path, manifest: Path, root: Path | None,
                        classes: Sequence[str] = ()) -> None:
    """Refuse, before the model loads and the images are read, a manifest whose labels or
    conditions are not the model's (as ``training_split`` would) and ``classes`` it lacks."""
    from shapekit.generate.formats import read_generator_config
    from shapekit.io import load_manifest

    codec = read_generator_config(run)["conditions"]
    model_labels = [str(v) for v in codec["label_names"]]
    unknown = [c for c in classes if c not in model_labels]
    if unknown:
        raise InputError(f"--label {unknown[0]}: not a class of this model ({', '.join(model_labels)})")
    m, mode = load_manifest(manifest, root=root), codec.get("mode", "class")
    labels = m.label_names if m.labels is not None else ["all"]
    names = [] if mode == "class" else list(getattr(m, mode, None) or [])
    if set(labels) - set(model_labels) or names != list(codec["names"]):
        raise InputError(f"{manifest} is not this model's training data: labels "
                         f"{', '.join(labels)} and conditions {', '.join(names) or 'none'}, the "
                         f"model's {', '.join(model_labels)} and "
                         f"{', '.join(codec['names']) or 'none'}")
