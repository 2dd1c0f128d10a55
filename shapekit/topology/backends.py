"""Which persistence backend runs: ``"auto"`` picks ``"torch"`` on CUDA and ``"gudhi"`` on the CPU.

The backends themselves and their one dispatch are in :mod:`shapekit.topology.persistence`; all of
them return the same diagrams, so the choice is one of speed only (GUDHI is the fast CPU path, the
batched torch backend pays off on a GPU).
"""

from __future__ import annotations

import os
import re
import sys

from shapekit.errors import InputError, brief

#: the backend names accepted everywhere a backend is (``"auto"`` resolves to one of the others)
BACKENDS = ("auto", "gudhi", "cripser", "torch")

__all__ = ["BACKENDS", "resolve_backend"]


def _cuda_present() -> bool:
    """``torch.cuda.is_available()``, without importing torch where no NVIDIA driver is loaded."""
    if "torch" not in sys.modules and not os.path.exists("/proc/driver/nvidia/version"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_backend(backend: str = "auto", device: object = None) -> str:
    """The backend that ``backend`` stands for on ``device``: ``"auto"`` becomes ``"torch"`` or
    ``"gudhi"``; the explicit backends are returned unchanged.

    ``"auto"`` is ``"torch"`` when ``device`` names a CUDA device (``"cuda"``, ``"cuda:N"``), or
    when ``device`` is None and CUDA is available; otherwise ``"gudhi"`` (the fast CPU path; the
    diagrams are the same either way).  With ``device=None``, torch is imported to ask only where
    it already is or an NVIDIA driver is loaded.  Other torch devices (``"mps"``...) resolve to
    ``"gudhi"``: name ``backend="torch"`` to run there.  Whether a named CUDA device exists is
    checked where it is used.

    Raises
    ------
    InputError
        An unknown backend, or a ``device`` that is not a torch device name.

    Examples
    --------
    >>> resolve_backend("auto", "cpu"), resolve_backend("auto", "cuda:1")
    ('gudhi', 'torch')
    >>> resolve_backend("cripser", "cuda"), resolve_backend("torch", "cpu")
    ('cripser', 'torch')
    """
    if backend not in BACKENDS:
        raise InputError(f"backend={backend!r} is not one of {BACKENDS}")
    if backend != "auto":
        return backend
    if device is None:
        return "torch" if _cuda_present() else "gudhi"
    name = str(device)
    if re.fullmatch(r"cuda(:\d+)?", name):
        return "torch"
    if not re.fullmatch(r"cpu(:\d+)?", name):
        import torch

        try:
            torch.device(name)
        except (RuntimeError, TypeError, ValueError):
            raise InputError(f"device={brief(name)} is not a torch device "
                             "(e.g. 'cpu', 'cuda', 'cuda:1')") from None
    return "gudhi"
