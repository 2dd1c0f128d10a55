"""Server settings and the names under which it offers models and image sets.

A request names a model only by the name the server was started with (``--model uhcs3=DIR``) or a
shipped model's registry name; it never passes a path, so a client cannot make the server open
arbitrary files. :func:`check_name` refuses anything path-like.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from shapekit.errors import InputError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")
MB = 1024 * 1024


def check_name(name: str, what: str = "model") -> str:
    """Return ``name`` when it is a plain name; refuse paths, ``..`` and odd characters.

    Examples
    --------
    >>> check_name("uhcs3-v1.2")
    'uhcs3-v1.2'
    >>> check_name("../../etc")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: model name '../../etc' is path-like or has characters other than letters, digits and . _ + -
    """
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise InputError(f"{what} name {name!r} is path-like or has characters other than "
                         "letters, digits and . _ + -")
    return name


def named_paths(values: list[str] | tuple[str, ...], what: str) -> dict[str, Path]:
    """``NAME=PATH`` or ``PATH`` items (command-line options) as ``{name: path}``.

    A bare path is offered under its folder or file stem; names must be unique.

    Examples
    --------
    >>> named_paths(["runs/sim", "real=data/uhcs3.yaml"], "set")
    {'sim': PosixPath('runs/sim'), 'real': PosixPath('data/uhcs3.yaml')}
    """
    out: dict[str, Path] = {}
    for item in values:
        name, sep, path = str(item).partition("=")
        if not sep:
            path, name = name, Path(name.rstrip("/\\")).stem
        check_name(name, what)
        if name in out:
            raise InputError(f"{what} name {name!r} is given twice; name them NAME=PATH")
        out[name] = Path(path)
    return out


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class ServerConfig:
    """Everything the app needs to know; built by ``shapekit serve`` or by tests.

    Attributes
    ----------
    classifiers, generators, real_sets : dict name -> Path
        Temper model directories, generator run directories, and real image sets (manifests or
        folders) offered by name, besides shipped models found in the registry.
    workdir : Path
        The only place the server writes: uploads and job outputs (``workdir/jobs``), removed
        when a job is evicted and at start and stop.
    max_upload_mb : float
        Largest request body for uploads (413 above it).
    max_json_kb : float
        Largest JSON/form body without files.
    max_files : int
        Most files per request.
    max_pixels : int
        Pixel budget per image (image bombs are refused from their header, before decoding).
    workers : int
        Worker threads for model work (default: the cores).
    max_queue : int
        Jobs waiting for a worker before new ones get 429.
    max_jobs : int
        Finished jobs kept for their results (oldest evicted first; also once the kept results
        pass 256 MB, the job that ended last excepted).
    preload : bool
        Load every named model at start (a broken model fails the start, not a request).
    """

    classifiers: dict[str, Path] = field(default_factory=dict)
    generators: dict[str, Path] = field(default_factory=dict)
    real_sets: dict[str, Path] = field(default_factory=dict)
    workdir: Path = Path(".shapekit-serve")
    max_upload_mb: float = 200.0
    max_json_kb: float = 1024.0
    max_files: int = 64
    max_pixels: int = 2 ** 26
    workers: int = field(default_factory=default_workers)
    max_queue: int = 64
    max_jobs: int = 200
    preload: bool = True

    def __post_init__(self) -> None:
        for what, d in (("classifier", self.classifiers), ("generator", self.generators),
                        ("real set", self.real_sets)):
            for name in d:
                check_name(name, what)
        if self.max_upload_mb <= 0 or self.max_json_kb <= 0:
            raise InputError("upload limits must be positive")
        if self.workers < 1 or self.max_queue < 1 or self.max_jobs < 1 or self.max_files < 1:
            raise InputError("workers, max_queue, max_jobs and max_files must be >= 1")
        if self.max_pixels < 256:
            raise InputError(f"max_pixels must be >= 256, got {self.max_pixels}")
        self.workdir = Path(self.workdir)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_json_bytes(self) -> int:
        return int(self.max_json_kb * 1024)
