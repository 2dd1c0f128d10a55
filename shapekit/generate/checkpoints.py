"""The training checkpoints of a GAN run (``RUN/checkpoints``): written through a temporary file
and a rename, so that none is ever half-written, and read back for ``--resume``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shapekit import _atomic

__all__ = ["atomic_checkpoint_io", "resume_iteration"]


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
