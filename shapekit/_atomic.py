"""Atomic file writes: write to a temporary file in the target directory, then rename.

Nothing half-written is ever left under the final name: if the writer raises, the temporary
file is removed and the target is untouched. A user-caused ``OSError`` on the way (an existing
file where the folder belongs, a read-only folder, a full disk, a folder where the file belongs)
becomes a one-line :class:`~shapekit.errors.OutputError` naming the *output* path, never the
temporary file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shapekit.errors import OutputError, describe_os_error, is_user_os_error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent directory is created if needed.

    Raises
    ------
    OutputError
        The destination cannot be written (see the module docstring); nothing is left behind.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.npy") as tmp:
    ...     np.save(tmp, np.zeros(3))
    >>> (d / "a.npy").exists()
    True
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path}: is a folder, not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp" + path.suffix[:16],
                                   dir=path.parent)
    except OSError as e:
        raise _output_error(e, path) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the file the permissions a plain open() would
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(e, OSError) and is_user_os_error(e) and _about(e, tmp_path, path):
            raise _output_error(e, path) from None
        raise


def _about(err: OSError, *paths: Path) -> bool:
    """Is ``err`` about one of ``paths`` (or about no file at all, e.g. a full disk)?"""
    names = {os.fspath(p) for p in paths}
    return err.filename is None or os.fspath(err.filename) in names or (
        err.filename2 is not None and os.fspath(err.filename2) in names)


def _output_error(err: OSError, path: Path) -> OutputError:
    return OutputError(f"output {describe_os_error(err, path)}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> None:
    """Atomically write ``obj`` as JSON (NaN/Inf refused: JSON has no such numbers)."""
    write_text(path, json.dumps(obj, indent=indent, allow_nan=False, default=json_default) + "\n")


def save_figure(path: str | os.PathLike[str], fig: Any, *, dpi: int = 110) -> None:
    """Write a matplotlib figure as a PNG atomically, then close it.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.png"
    >>> save_figure(p, plt.figure(figsize=(1, 1))); p.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays and paths (TypeError otherwise).

    Examples
    --------
    >>> import json, numpy as np
    >>> json.dumps({"a": np.float32(0.5), "b": np.arange(2)}, default=json_default)
    '{"a": 0.5, "b": [0, 1]}'
    """
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
