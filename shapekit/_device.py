"""Device selection for torch code: CUDA when present, CPU otherwise."""

from __future__ import annotations


def default_device(device: str | None = None) -> "torch.device":  # noqa: F821
    """Return ``torch.device(device)`` or, when ``device`` is None, CUDA if available else CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
