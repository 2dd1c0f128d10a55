"""Device selection for torch code: CUDA when present, CPU otherwise."""

from __future__ import annotations


def default_device(device: str | None = None) -> "torch.device":  # noqa: F821
    """Return ``torch.device(device)`` or, when ``device`` is None, CUDA if available else CPU.

    An unknown device name, or CUDA asked for where there is none, raises a one-line
    :class:`~shapekit.errors.InputError`.

    Examples
    --------
    >>> default_device("cpu").type
    'cpu'
    """
    import torch

    from shapekit.errors import InputError, brief

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"unknown torch device {brief(device)} (cpu, cuda, cuda:N, mps...)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index is not None and dev.index >= n):
            raise InputError(f"device {brief(device)} is not available ({n} CUDA devices)")
    return dev


def passive_omp_threads() -> None:
    """Let idle OpenMP threads sleep instead of spin (``OMP_WAIT_POLICY=PASSIVE``), unless the user
    chose a policy. Call before torch is first imported (OpenMP reads it once): on a machine whose
    cores are busy with other work, spinning threads burnt ~9x the CPU time per GAN iteration and
    ~8x the wall time (RESULTS.md section 6); on an idle machine it costs nothing measurable.
    """
    import os
    import sys

    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
