"""Models that ship with shapekit, addressable by name (``shapekit models`` lists them).

Each shipped model is a folder of package data, ``shapekit/pretrained/<name>/``, holding its weights
and configuration in the format of its kind (for a generator: ``generator.safetensors`` +
``generator.json``, an export of :mod:`shapekit.generate`), a machine-readable model card
``card.json`` and a human-readable one, ``README.md``. The card says what the model was trained
on, under which licence, how to reproduce it (exact command, seed, iterations, hardware) and what
it measured (``figures``).

:func:`resolve` turns what a user typed into a model directory: an existing directory is used as
is; a bare name is looked up among the shipped models. Nothing is downloaded.

Examples
--------
>>> [(c["name"], c["kind"]) for c in available()]  # doctest: +NORMALIZE_WHITESPACE
[('sim-parameters', 'generator'), ('sim-properties', 'generator'), ('uhcs3', 'classifier'),
 ('uhcs3-class', 'generator')]
>>> resolve("uhcs3-class", "generator").name, resolve("uhcs3", "classifier").name
('uhcs3-class', 'uhcs3')
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

from shapekit.errors import InputError, ModelFormatError, ShapekitWarning

__all__ = ["KINDS", "CARD_FIELDS", "available", "resolve", "check_card", "pretrained_root"]

KINDS = ("generator", "classifier")
#: required card fields and their JSON types (``um_per_px`` may also be null)
CARD_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,), "kind": (str,), "summary": (str,), "data": (str,), "licence": (str,),
    "citation": (str,), "training_command": (str,), "seed": (int,), "iterations": (int,),
    "hardware": (str,), "figures": (dict,), "um_per_px": (float, int, type(None)),
    "created": (str,),
}
CARD, README = "card.json", "README.md"
#: a shipped model's name: lower-case letters, digits, '-', '_' and '.', no path separators
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: what makes a folder a model or a training run: a folder named like a shipped model without
#: any of these (an output folder, say) gives way to the shipped model
MODEL_MARKERS = ("generator.json", "config.json", "checkpoints")


def pretrained_root() -> Path:
    """The package-data folder that holds the shipped models."""
    from importlib import resources

    return Path(str(resources.files("shapekit") / "pretrained"))


def check_card(card: Any, where: str = "card") -> dict[str, Any]:
    """Validate a model card; return it, or raise :class:`ModelFormatError` naming the problem.

    Examples
    --------
    >>> check_card({"name": "x"})
    Traceback (most recent call last):
    ...
    shapekit.errors.ModelFormatError: card: missing fields citation, created, data, figures, hardware, iterations, kind, licence, seed, summary, training_command, um_per_px
    """
    if not isinstance(card, dict):
        raise ModelFormatError(f"{where}: a model card must be a JSON object")
    missing = sorted(set(CARD_FIELDS) - set(card))
    if missing:
        raise ModelFormatError(f"{where}: missing fields {', '.join(missing)}")
    for field, types in CARD_FIELDS.items():
        value = card[field]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ModelFormatError(f"{where}: field {field!r} must be {names}, "
                                   f"got {type(value).__name__}")
    if not NAME_RE.match(card["name"]):
        raise ModelFormatError(f"{where}: name {card['name']!r} is not a valid model name")
    if card["kind"] not in KINDS:
        raise ModelFormatError(f"{where}: kind {card['kind']!r} is not one of {', '.join(KINDS)}")
    if card["iterations"] < 0 or card["seed"] < 0:
        raise ModelFormatError(f"{where}: seed and iterations must be >= 0")
    um = card["um_per_px"]
    if um is not None and not (math.isfinite(um) and um > 0):
        raise ModelFormatError(f"{where}: um_per_px must be a positive number or null, got {um}")
    for field in ("summary", "data", "licence", "citation", "training_command", "hardware"):
        if not card[field].strip():
            raise ModelFormatError(f"{where}: field {field!r} is empty")
    return card


def _read_card(folder: Path) -> dict[str, Any]:
    path = folder / CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"{path}: unreadable model card ({e})") from None
    card = check_card(card, str(path))
    if card["name"] != folder.name:
        raise ModelFormatError(f"{path}: card name {card['name']!r} is not the folder's name")
    return card


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown model kind {kind!r}; choose from {', '.join(KINDS)}")


def available(kind: str | None = None) -> list[dict[str, Any]]:
    """The cards of the shipped models (of ``kind``, when given), sorted by name.

    Raises
    ------
    ModelFormatError
        A shipped card is malformed (a packaging bug).
    """
    _check_kind(kind)
    root = pretrained_root()
    if not root.is_dir():
        return []
    cards = [_read_card(d) for d in sorted(root.iterdir()) if (d / CARD).is_file()]
    return [c for c in cards if kind is None or c["kind"] == kind]


def resolve(name_or_path: str | Path, kind: str) -> Path:
    """The model directory for what the user gave: an existing directory as is (unless it is
    named like a shipped model of ``kind`` and holds none of :data:`MODEL_MARKERS`: then that
    model, with a warning), else the shipped model of that name and ``kind``.

    Raises
    ------
    InputError
        Neither an existing directory nor a valid shipped name; the message lists the shipped
        models of ``kind``. Names with path separators or ``..`` are never looked up in the
        package data.

    Examples
    --------
    >>> resolve("no-such-model", "generator")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: no model directory or shipped generator named 'no-such-model'; shipped generators: sim-parameters, sim-properties, uhcs3-class
    """
    _check_kind(kind)
    p = Path(name_or_path)
    text = str(name_or_path)
    names = [c["name"] for c in available(kind)]
    if p.is_dir():
        if text not in names or any((p / m).exists() for m in MODEL_MARKERS):
            return p
        # e.g. the output folder of `generate uhcs3-class --out uhcs3-class`
        warnings.warn(f"{text} is a folder without a model (no {', '.join(MODEL_MARKERS)}): "
                      f"using the shipped {kind} {text}", ShapekitWarning, stacklevel=2)
        return pretrained_root() / text
    listing = f"shipped {kind}s: {', '.join(names) or 'none'}"
    if not NAME_RE.match(text):
        raise InputError(f"model not found: {text!r} is not a directory, nor a shipped model name; "
                         f"{listing}")
    if text not in names:
        other = next((c["kind"] for c in available() if c["name"] == text), None)
        if other is not None:  # e.g. `generate uhcs3`: a shipped model, of the other kind
            raise InputError(f"{text} is a shipped {other}, not a {kind}; {listing}")
        raise InputError(f"no model directory or shipped {kind} named {text!r}; {listing}")
    return pretrained_root() / text
