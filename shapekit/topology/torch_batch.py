"""Memory-bounded driver of the torch persistence backend: images in, per-image diagrams out.

:func:`torch_diagrams` groups the images by shape, stacks each group in chunks that fit a memory
budget (free device memory on CUDA, a share of the available RAM on the CPU, or a number of bytes
you give), runs :func:`shapekit.topology.torch_ph.persistence_tensors` on each chunk and returns
numpy arrays in input order.  A chunk is sized from :data:`~shapekit.topology.torch_ph.BYTES_PER_PIXEL`
before anything is allocated; should CUDA still run out of memory, the chunk is halved and run
again, so a batch is split, never lost.  An image too large for the budget on its own is refused
with an :class:`~shapekit.errors.InputError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from shapekit.errors import InputError

__all__ = ["torch_diagrams", "memory_budget", "chunk_size", "resolve_device"]

_CPU_SHARE = 0.5      # of the available RAM, when no budget is given
_CUDA_SHARE = 0.8     # of the free device memory
# on the CPU, chunks beyond ~1M pixels run slower (cache): 256^2 tiles/s on one thread were
# 74 / 88 / 94 / 70 for chunks of 2 / 4 / 16 / 64 tiles (uhcs3 tiles, best of 3, CPU time)
_CPU_CHUNK_PIXELS = 2**20


def _available_ram() -> int:
    """MemAvailable from /proc/meminfo, else free physical pages, else 4 GiB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def memory_budget(device: "torch.device", budget: int | None = None) -> int:  # noqa: F821
    """Bytes one chunk may use: ``budget`` if given, else 80 % of the free CUDA memory of
    ``device`` or 50 % of the available RAM.

    Examples
    --------
    >>> import torch
    >>> memory_budget(torch.device("cpu"), 2**30)
    1073741824
    """
    if budget is not None:
        try:
            b = int(budget)
        except (TypeError, ValueError):
            raise InputError(f"memory_budget={budget!r} is not a number of bytes") from None
        if b <= 0:
            raise InputError(f"memory_budget={budget!r} must be a positive number of bytes")
        return b
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free * _CUDA_SHARE)
    return int(_available_ram() * _CPU_SHARE)


def chunk_size(shape: tuple[int, int], budget: int, max_pixels: int | None = None) -> int:
    """Images of ``shape`` per chunk under ``budget`` bytes and ``max_pixels`` padded pixels
    (>= 1, or InputError when one image exceeds the budget).

    Examples
    --------
    >>> chunk_size((256, 256), 2**30)
    63
    >>> chunk_size((4096, 4096), 2**30)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: an image of shape (4096, 4096) needs about 4.0 GiB for backend='torch', over the memory budget of 1.0 GiB; pass a larger memory_budget, another device, or backend='gudhi'
    """
    from shapekit.topology.torch_ph import BYTES_PER_PIXEL

    per_image = (shape[0] + 2) * (shape[1] + 2) * BYTES_PER_PIXEL
    n = budget // per_image
    # flat indices of one chunk stay below 2^31 (int32 labels)
    n = min(n, (2**31 - 1) // ((shape[0] + 2) * (shape[1] + 2)))
    if max_pixels is not None:
        n = min(n, max(1, max_pixels // ((shape[0] + 2) * (shape[1] + 2))))
    if n < 1:
        raise InputError(f"an image of shape {tuple(shape)} needs about {per_image / 2**30:.1f} GiB "
                         f"for backend='torch', over the memory budget of {budget / 2**30:.1f} GiB; "
                         "pass a larger memory_budget, another device, or backend='gudhi'")
    return int(n)


def resolve_device(device: str | None) -> "torch.device":  # noqa: F821
    """``torch.device(device)``, CUDA-else-CPU for None; a bad name is an InputError.

    Examples
    --------
    >>> resolve_device("cpu").type
    'cpu'
    """
    from shapekit._device import default_device

    try:
        return default_device(device)
    except InputError:              # a known device that is not here: its own message
        raise
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"device={device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1')"
                         ) from None


def _run(stack: np.ndarray, device: "torch.device", superlevel: bool, construction: str,  # noqa: F821
         dims: tuple[int, ...], min_persistence: float) -> list[list[np.ndarray]]:
    import torch

    from shapekit.topology.torch_ph import persistence_tensors

    x = torch.from_numpy(stack).to(device)
    if superlevel:                  # never in place: on the CPU x shares the caller's memory
        x = torch.neg(x)
    try:
        return persistence_tensors(x, construction, dims, min_persistence).to_numpy()
    except torch.OutOfMemoryError:
        del x
        torch.cuda.empty_cache()
        if len(stack) == 1:
            raise InputError(f"an image of shape {stack.shape[1:]} does not fit in the memory of "
                             f"{device}; use device='cpu' or backend='gudhi'") from None
        half = len(stack) // 2
        return (_run(stack[:half], device, superlevel, construction, dims, min_persistence)
                + _run(stack[half:], device, superlevel, construction, dims, min_persistence))


def torch_diagrams(batch: Sequence[np.ndarray] | np.ndarray, construction: str = "T",
                   min_persistence: float = 0.0, n_jobs: int | None = None, *,
                   superlevel: bool = False, dims: Sequence[int] = (0, 1),
                   device: str | None = None, memory_budget_bytes: int | None = None,
                   progress: bool = False) -> list[list[np.ndarray]]:
    """H0 and H1 pairs of the sublevel filtration of every image, with the torch backend.

    The signature of a persistence backend (``fn(batch, construction, min_persistence,
    n_jobs)``, returning ``[H0, H1]`` per image in GUDHI's conventions), plus the torch options.

    Parameters
    ----------
    batch : sequence of 2-D float arrays, or ndarray (B, H, W)
        Finite values (see :func:`shapekit.topology.persistence.validate_image`); sizes may
        differ (images of one shape are batched together).
    construction, min_persistence :
        As in :func:`shapekit.topology.torch_ph.persistence_tensors`.
    n_jobs : ignored
        (one device runs each batch; torch's own threads serve the CPU).
    superlevel : bool
        Compute the sublevel persistence of ``-image`` instead, negated on the device (the pairs
        stay in those negated units, as ``cubical_persistence`` expects before flipping signs).
    dims : sequence of int
        Dimensions to compute (0 and/or 1); the other list entry is empty.
    device : str or None
        torch device; None: CUDA when available, else the CPU.
    memory_budget_bytes : int or None
        Bytes a chunk may use (see :func:`memory_budget`).
    progress : bool
        Show a progress bar over chunks.

    Returns
    -------
    list of [ndarray (n0, 2), ndarray (n1, 2)]
        float64, per image in input order.

    Examples
    --------
    >>> out = torch_diagrams([np.array([[0., 2, 1]]), np.zeros((2, 2))], device="cpu")
    >>> [d[0].tolist() for d in out]
    [[[1.0, 2.0], [0.0, inf]], [[0.0, inf]]]
    """
    from shapekit._progress import progress as bar

    dev = resolve_device(device)
    budget = memory_budget(dev, memory_budget_bytes)
    dims_t = tuple(int(k) for k in dims if int(k) in (0, 1))
    images = batch if isinstance(batch, np.ndarray) else list(batch)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(tuple(im.shape), []).append(i)
    jobs = []
    for shape, idx in groups.items():
        n = chunk_size(shape, budget, _CPU_CHUNK_PIXELS if dev.type == "cpu" else None)
        jobs += [(shape, idx[s:s + n]) for s in range(0, len(idx), n)]
    out: list[list[np.ndarray]] = [[] for _ in range(len(images))]
    for shape, idx in bar(jobs, desc="persistence (torch)", disable=None if progress else True):
        if isinstance(images, np.ndarray):                  # one (B, H, W) array: slice it
            stack = np.ascontiguousarray(images[idx[0]:idx[-1] + 1])
        else:
            dtype = np.float64 if any(images[i].dtype == np.float64 for i in idx) else np.float32
            stack = np.empty((len(idx), *shape), dtype=dtype)
            for j, i in enumerate(idx):
                stack[j] = images[i]
        for i, d in zip(idx, _run(stack, dev, superlevel, construction, dims_t,
                                  float(min_persistence))):
            out[i] = d
    return out
