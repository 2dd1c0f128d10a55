"""Small helpers shared by CLI command modules (options, JSON output, paths, quiet libraries)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from shapekit.errors import InputError, ShapekitWarning, brief

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print machine-readable JSON on stdout.")
SEED_RANGE = click.IntRange(0, 2 ** 31 - 1)
"""Seeds every command takes (numpy refuses negative seeds, torch those past 64 bits: a bad
``--seed`` was an internal error, exit 1)."""
seed_option = click.option("--seed", type=SEED_RANGE, default=0, show_default=True,
                           help="Random seed (results are deterministic per seed).")
root_option = click.option("--root", type=click.Path(path_type=Path), default=None,
                           help="Data root overriding the manifest's `root`.")


def _device_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    import re

    if value is not None and not re.fullmatch(r"[a-z_]+(:\d{1,3})?", value):
        raise click.BadParameter(f"not a torch device name: {brief(value, 40)} (cpu, cuda, cuda:N...)")
    return value


device_option = click.option("--device", default=None, callback=_device_name,
                             help="torch device (default: CUDA when present, else CPU).")


def _available_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--device``: one torch has here, checked at parse time, before any model loads."""
    value = _device_name(ctx, param, value)
    if value is not None:
        from shapekit._device import default_device

        try:
            default_device(value)
        except InputError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


available_device_option = click.option("--device", default=None, callback=_available_device,
                                       help="torch device (default: CUDA when present, else CPU).")


def _ph_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--device`` of persistent homology: a torch device name whose backend can run here."""
    value = _device_name(ctx, param, value)
    if value is None:
        return None
    from shapekit.topology.persistence import resolve_backend

    try:
        if resolve_backend("auto", value) == "torch":     # cuda, cuda:N: is it there?
            from shapekit.topology.torch_batch import resolve_device

            resolve_device(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


ph_device_option = click.option(
    "--device", default=None, callback=_ph_device,
    help="Where persistent homology runs: cuda (cuda:N) the exact torch backend, cpu GUDHI "
         "(default: CUDA when present, else GUDHI); the same diagrams either way.")


def emit_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (NaN is written as null, never as invalid JSON)."""
    sys.stdout.write(json.dumps(json_finite(obj), indent=2, default=_default) + "\n")
    sys.stdout.flush()


def info(msg: str) -> None:
    """A human-readable log line on stderr."""
    click.echo(msg, err=True)


def require_exists(path: Path, what: str = "file") -> Path:
    """Raise a one-line :class:`InputError` unless ``path`` exists."""
    if not Path(path).exists():
        raise InputError(f"{what} not found: {path}")
    return Path(path)


def given(name: str) -> bool:
    """Whether the current command's option ``name`` was given (command line or environment),
    not left at its default: for refusing an option the chosen mode would ignore."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(name) in (
        ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def model_path(ctx: Any, param: Any, value: Path | None) -> Path | None:
    """Click callback: a model directory as given, or the shipped model of that name (any kind),
    so a NAME works wherever a MODEL is asked for; anything else is left for
    :func:`require_exists` to report.

    Examples
    --------
    >>> model_path(None, None, Path("sim-parameters")).name, model_path(None, None, Path("nope")).name
    ('sim-parameters', 'nope')
    """
    if value is None or Path(value).exists():
        return value
    from shapekit.registry import available, pretrained_root

    names = {c["name"] for c in available()}
    return pretrained_root() / str(value) if str(value) in names else value


def json_finite(obj: Any) -> Any:
    import math

    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_finite(v) for v in obj]
    return obj


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return json_finite(obj.item())
    if isinstance(obj, np.ndarray):
        return json_finite(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def generated_downscale(folder: Path) -> float | None:
    """The ``downscale`` that ``shapekit generate`` recorded in ``folder/conditions.csv`` for
    images without a pixel size (training images' pixels per generated pixel), when every row
    gives the same value other than 1; else None (not such a folder, a pixel size known, ...)."""
    import csv

    table = folder / "conditions.csv"
    if not table.is_file():
        return None
    try:
        with open(table, newline="") as f:
            rows = list(csv.DictReader(f))
        values = {float(r["downscale"]) for r in rows if not (r.get("um_per_px") or "").strip()}
    except (OSError, ValueError, KeyError, TypeError, csv.Error):
        return None
    if not rows or len(values) != 1 or any((r.get("um_per_px") or "").strip() for r in rows):
        return None
    d = values.pop()
    return d if d > 0 and d != 1 else None


def warn_generated_scale(paths: Any, model: Any) -> None:
    """Warn once per folder of ``paths`` that holds images ``shapekit generate`` made at a
    fraction of its training images' pixel scale (:func:`generated_downscale`): a classifier
    that works in its training images' pixels sees them at the wrong scale."""
    for folder in sorted({Path(p).parent for p in paths}):
        d = generated_downscale(folder)
        if d:
            warn(f"{folder}: shapekit generate made these at 1/{d:g} of its training images' pixel "
                 f"scale (downscale {d:g} in conditions.csv); for a model trained on those images "
                 f"({model} for uhcs3-class) upsample them first: shapekit ingest {folder}/gen_* "
                 f"--out DIR --source-um-per-px {d:g} --um-per-px 1 (a nominal scale), then classify DIR")


# -- output paths: refused at parse time, before any work or heavy import --------------------------

def output_problem(path: Path, kind: str) -> str | None:
    """Why ``path`` cannot be written as an output ``kind`` ("file" or "dir"), or None.

    Checks what can be known before any work: the path itself (a folder where a file belongs or
    the reverse), a file among its ancestors, and write permission on the nearest existing
    folder (also false on a read-only file system).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> output_problem(d / "new" / "a.png", "file") is None, output_problem(d, "file")
    (True, 'is a folder, not a file')
    """
    p = Path(path)
    if kind == "dir" and p.exists() and not p.is_dir():
        return "exists and is not a folder"
    if kind == "file" and p.is_dir():
        return "is a folder, not a file"
    if any(len(os.fsencode(part)) > 255 for part in p.parts):
        return "file name too long"
    probe = p if (kind == "dir" and p.is_dir()) else p.parent
    probe = probe if str(probe) else Path(".")
    while not probe.exists():
        if probe.is_symlink():
            return f"{probe} is a broken link"
        probe = probe.parent
    if not probe.is_dir():
        return f"cannot create it: {probe} exists and is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"cannot write in {probe} (read-only or permission denied)"
    return None


class OutputPath(click.ParamType):
    """A click type for output files or folders: a path that cannot be written is a usage error.

    Examples
    --------
    >>> OutputPath("dir").convert("some/new/folder", None, None)
    PosixPath('some/new/folder')
    >>> OutputPath("file", suffix=".png").convert("fig.jpg", None, None)
    Traceback (most recent call last):
    ...
    click.exceptions.BadParameter: fig.jpg: must end in .png (this file is written as PNG)
    """

    name = "path"

    def __init__(self, kind: str = "file", suffix: str | None = None) -> None:
        if kind not in ("file", "dir"):
            raise ValueError(f"kind must be 'file' or 'dir', got {kind!r}")
        self.kind, self.suffix = kind, suffix
        self.name = "file" if kind == "file" else "directory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        p = Path(os.fsdecode(value)) if not isinstance(value, Path) else value
        problem = output_problem(p, self.kind)
        if not problem and self.suffix and p.suffix.lower() != self.suffix:
            problem = f"must end in {self.suffix} (this file is written as {self.suffix[1:].upper()})"
        if problem:
            self.fail(f"{brief(str(p), 160).strip(chr(39))}: {problem}", param, ctx)
        return p


# -- what a user sees on stderr: shapekit's messages only, libraries' with -v ------------------------

#: loggers of libraries that talk on stderr by themselves (Lightning's tips and device banners)
CHATTY_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning.fabric",
                  "lightning_fabric", "pytorch_lightning.utilities.rank_zero",
                  "lightning.pytorch.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                  "lightning.fabric.utilities.rank_zero")


def warn(message: object, file: Any = None) -> None:
    """One ``shapekit: warning: ...`` line on stderr: the one path and prefix of every warning
    the CLI prints (a :class:`~shapekit.errors.ShapekitWarning` raised in a command ends here too).

    Examples
    --------
    >>> import io
    >>> buf = io.StringIO(); warn("pixel size   unknown", buf); buf.getvalue().strip()
    'shapekit: warning: pixel size unknown'
    """
    _stderr_line(f"shapekit: warning: {' '.join(str(message).split())}", file)


def _stderr_line(text: str, file: Any = None) -> None:
    try:
        (file or sys.stderr).write(text[:500] + "\n")
    except (OSError, ValueError):
        pass


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    if issubclass(category, ShapekitWarning):
        warn(message, file)
    else:  # a library's warning, shown with -v: one line, with where it came from
        text = " ".join(str(message).split())
        _stderr_line(f"shapekit: {category.__name__} ({Path(filename).name}:{lineno}): {text}", file)


@contextlib.contextmanager
def user_facing_output(verbose: int = 0) -> Iterator[None]:
    """Only shapekit's own messages on stderr while a command runs; libraries' with ``verbose``.

    * :class:`~shapekit.errors.ShapekitWarning` prints as one ``shapekit: warning: ...`` line;
    * other warnings (deprecations, library ``UserWarning``) are hidden, or one line each with
      ``verbose >= 1``;
    * library logging (Lightning's tips and device banners) is silenced, or shown at INFO with
      ``verbose >= 1`` (DEBUG with 2).

    Everything is restored on exit (warning filters, logger levels and handlers).

    Examples
    --------
    >>> import warnings
    >>> with user_facing_output(0):
    ...     warnings.warn("library noise", DeprecationWarning)   # nothing printed
    """
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        level = logging.DEBUG if verbose > 1 else logging.INFO
    else:
        # a handler on the root keeps libraries from installing their own stderr handlers
        handler, level = logging.NullHandler(), logging.ERROR + 10
    saved_root = root.level
    root.addHandler(handler)
    if verbose:
        root.setLevel(level)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default" if verbose else "ignore")
            warnings.simplefilter("default", ShapekitWarning)
            warnings.showwarning = _show_warning
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, lvl in saved.items():
            logging.getLogger(name).setLevel(lvl)


@contextlib.contextmanager
def pixel_limit(max_pixels: float | None) -> Iterator[None]:
    """Set ``$SHAPEKIT_MAX_PIXELS`` for the duration (worker processes inherit it)."""
    from shapekit.io.budget import ENV_VAR, pixel_budget

    if max_pixels is None:
        yield
        return
    value = pixel_budget(max_pixels)
    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(value)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = old
