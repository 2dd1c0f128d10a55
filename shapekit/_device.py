"""Device selection for torch code: CUDA when present, CPU otherwise."""

from __future__ import annotations


def default_device(device: str | None = None) -> "torch.device":  # noqa: F821
    """Return ``torch.device(device)`` or, when ``device`` is None, CUDA if available else CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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
