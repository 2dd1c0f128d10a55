"""Hidden staging folders in which ``shapekit generate`` writes a set before moving it into place.

A run writes its images into ``OUT/.generate-<random>/`` and renames them into ``OUT`` only once
all are written, so that a failure or a signal midway leaves ``OUT`` as it was. A run killed
outright (SIGKILL, out of memory, power loss) cannot remove its folder: each folder therefore
holds ``owner.lock``, a file its run keeps locked (``flock``) for as long as the folder is in use,
with that run's host and pid. The kernel drops the lock when the process dies, however it dies,
so a later run on the same host that can take the lock has proven the owner dead and removes the
folder; a folder whose lock is held (a concurrent run) or whose owner cannot be checked (another
host, an older shapekit, no ``fcntl``) is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from shapekit.errors import OutputError, describe_os_error

__all__ = ["PREFIX", "LOCK", "Stage", "open_stage", "remove_dead_stages"]

#: name prefix of a staging folder (hidden: ``score``/``ingest``/``classify`` skip it)
PREFIX = ".generate-"
#: the lock file its run holds while the folder is in use
LOCK = "owner.lock"
#: an unprovable folder older than this (s) is named to the user as probably left behind
OLD_S = 3600.0


class Stage:
    """A staging folder and the open, locked handle of its ``owner.lock``.

    Attributes
    ----------
    path : Path
        The folder.
    """

    def __init__(self, path: Path, handle: IO[Any] | None) -> None:
        self.path, self._handle = path, handle

    def release(self) -> None:
        """Close the lock's handle (the lock goes with it); the folder stays."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None

    def remove(self) -> None:
        """Remove the folder and everything left in it, then release the lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.release()


def _lock(fh: IO[Any]) -> bool:
    """Take an exclusive ``flock`` on ``fh``; False when another holder has it (or none can be
    taken at all)."""
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def open_stage(out: Path) -> Stage:
    """Make ``out`` (if need be) and a new staging folder in it, owned by this process.

    ``owner.lock`` is created under a temporary name, locked, and only then renamed into place:
    a folder whose ``owner.lock`` another run can lock is never one in use.

    Raises
    ------
    OutputError
        ``out`` or the folder cannot be made.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=out))
    except OSError as e:
        raise OutputError(f"output {describe_os_error(e, out)}") from None
    try:
        import fcntl  # noqa: F401 - Windows: no advisory locks, the folder is simply unowned
    except ImportError:
        return Stage(path, None)
    handle = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".owner-", dir=path)
        handle = os.fdopen(fd, "w")
        if not _lock(handle):  # a file system without locks: an unowned folder, never removed
            handle.close()
            os.unlink(tmp)
            return Stage(path, None)
        handle.write(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
        handle.flush()
        os.replace(tmp, path / LOCK)
    except OSError as e:
        if handle is not None:
            handle.close()
        shutil.rmtree(path, ignore_errors=True)
        raise OutputError(f"output {describe_os_error(e, path)}") from None
    return Stage(path, handle)


def remove_dead_stages(out: Path) -> tuple[list[Path], list[Path]]:
    """Remove the staging folders in ``out`` whose run is proven dead.

    Returns
    -------
    removed : list of Path
        Folders of runs on this host that no longer run (their ``owner.lock`` could be locked).
    unknown : list of Path
        Folders older than an hour whose owner cannot be checked from here (another host, a
        shapekit that did not write ``owner.lock``, no ``fcntl``): left in place.
    """
    removed: list[Path] = []
    unknown: list[Path] = []
    try:
        candidates = sorted(p for p in out.glob(f"{PREFIX}*")
                            if p.is_dir() and not p.is_symlink())
    except OSError:
        return removed, unknown
    host = socket.gethostname()
    for folder in candidates:
        state = _state(folder, host)
        if state == "dead":
            removed.append(folder)
        elif state == "unknown":
            with contextlib.suppress(OSError):
                if time.time() - folder.stat().st_mtime > OLD_S:
                    unknown.append(folder)
    return removed, unknown


def _state(folder: Path, host: str) -> str:
    """``"dead"`` (and removed: its ``owner.lock`` names this host and could be locked; it is
    removed while the lock is held, so that two runs never race over it), ``"live"`` (its lock is
    held here) or ``"unknown"`` (no readable ``owner.lock``, another host's, or no ``fcntl``)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return "unknown"
    try:
        fh = open(folder / LOCK, "r+")  # noqa: SIM115 - closed below (writable: NFS locks)
    except OSError:
        return "unknown"
    with fh:
        try:
            owner = json.loads(fh.read(4096) or "{}")
        except (OSError, ValueError):
            return "unknown"
        if not isinstance(owner, dict) or owner.get("host") != host:
            return "unknown"
        if not _lock(fh):
            return "live"
        shutil.rmtree(folder, ignore_errors=True)
    return "dead"
