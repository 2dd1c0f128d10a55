"""Device selection for torch code: CUDA when present, CPU otherwise."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


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


@contextlib.contextmanager
def seeded(seed: int, device: "torch.device | str | None" = None) -> Iterator[None]:  # noqa: F821
    """Seed torch's global RNG for the block (weight init, dropout), then restore the caller's state.

    Results inside the block depend only on ``seed``; the caller's random stream is left as it was
    (``torch.manual_seed`` alone would reset it). The CPU generator is forked, and that of
    ``device`` when it is a CUDA device.

    Examples
    --------
    >>> import torch
    >>> state = torch.get_rng_state()
    >>> with seeded(0):
    ...     a = torch.rand(1)
    >>> with seeded(0):
    ...     b = torch.rand(1)
    >>> bool(torch.equal(a, b)), bool(torch.equal(torch.get_rng_state(), state))
    (True, True)
    """
    import torch

    dev = torch.device(device) if device is not None else None
    cuda = dev is not None and dev.type == "cuda"
    with torch.random.fork_rng(devices=[dev] if cuda else []):
        torch.random.default_generator.manual_seed(int(seed))
        if cuda:
            with torch.cuda.device(dev):
                torch.cuda.manual_seed(int(seed))
        yield
