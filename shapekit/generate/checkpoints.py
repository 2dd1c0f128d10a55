"""The training checkpoints of a GAN run (``RUN/checkpoints``): written through a temporary file
and a rename, so that none is ever half-written, and read back for ``--resume`` (:func:`resume_start` refuses a damaged ``last.ckpt`` and names the
earlier checkpoint to continue from instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shapekit import _atomic
from shapekit.errors import InputError

__all__ = ["atomic_checkpoint_io", "resume_iteration", "resume_start"]


def atomic_checkpoint_io() -> Any:
    """Lightning CheckpointIO that writes through a temporary file + rename (never half-written)."""
    import torch
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                            storage_options: Any = None) -> None:
            with _atomic.atomic_path(path) as tmp:
                torch.save(checkpoint, str(tmp))

    return AtomicCheckpointIO()


def resume_iteration(path: Path) -> int:
    """The iteration (one D + one G update) at which the checkpoint ``path`` was saved."""
    import torch

    ck = torch.load(str(path), map_location="cpu", weights_only=True)
    return int(ck.get("global_step", 0)) // 2


def resume_start(last: Path) -> int:
    """The iteration at which ``--resume`` continues a run from ``last`` (its ``last.ckpt``).

    Raises
    ------
    InputError
        ``last`` cannot be read (truncated, damaged): the message names the newest earlier
        checkpoint of the run that can be read and how to continue from it, or says there is none.
    """
    try:
        return resume_iteration(last)
    except Exception:  # noqa: BLE001 - whatever torch raises, the file is unusable
        pass
    bad = f"cannot resume: {last} cannot be read (damaged or truncated)"
    earlier = sorted(last.parent.glob("iter-*.ckpt"), reverse=True)
    for i, p in enumerate(earlier):
        try:
            it = resume_iteration(p)
        except Exception:  # noqa: BLE001
            continue
        older = [q.stem for q in reversed(earlier[i + 1:])]
        shown = ", ".join(older) if len(older) <= 2 else \
            f"{older[0]} ... {older[-1]}, {len(older)} in all"
        raise InputError(f"{bad}; to continue from the newest earlier checkpoint that can be "
                         f"read, {p.stem} (iteration {it}), copy it over {last.name} (`cp "
                         f"{p.name} {last.name}` in that folder) and run the same command again"
                         + (f" (older: {shown})" if older else ""))
    raise InputError(f"{bad}, and the run keeps no readable earlier checkpoint (iter-*.ckpt) to "
                     "continue from: start a new run with another --out")
