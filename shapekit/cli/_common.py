"""Small helpers shared by CLI command modules (options, JSON output, paths)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from shapekit.errors import InputError

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON on stdout.")
seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Random seed (results are deterministic per seed).")
root_option = click.option("--root", type=click.Path(path_type=Path), default=None,
                           help="Data root overriding the manifest's `root`.")


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN is written as null, never as invalid JSON)."""
    sys.stdout.write(json.dumps(_finite(obj), indent=2, default=_default) + "\n")
    sys.stdout.flush()


def info(msg: str) -> None:
    """A human-readable log line on stderr."""
    click.echo(msg, err=True)


def require_exists(path: Path, what: str = "file") -> Path:
    """Raise a one-line :class:`InputError` unless ``path`` exists."""
    if not Path(path).exists():
        raise InputError(f"{what} not found: {path}")
    return Path(path)


def _finite(obj: Any) -> Any:
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return _finite(obj.item())
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
