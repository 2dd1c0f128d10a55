"""The training checkpoints of a GAN run (``RUN/checkpoints``): written through a temporary file
and a rename, so that none is ever half-written, and read back for ``--resume`` (:func:`resume_start` refuses a damaged ``last.ckpt`` and names the
earlier checkpoint to continue from instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shapekit import _atomic
from shapekit.errors import InputError, ModelFormatError

__all__ = ["atomic_checkpoint_io", "check_run_dir", "checkpoint_path", "resume_iteration",
           "resume_point", "resume_start"]


def check_run_dir(out: Path, resume: bool) -> None:
    """Refuse, from the files alone (no torch, no data), a new run into a folder that already
    holds one, or a ``resume`` where there is no run to continue.

    Examples
    --------
    >>> import tempfile
    >>> check_run_dir(Path(tempfile.mkdtemp()), resume=False)    # a new folder: fine
    >>> check_run_dir(Path(tempfile.mkdtemp()), resume=True)     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: cannot resume: .../config.json not found (no earlier run in ...)
    """
    out = Path(out)
    last = out / "checkpoints" / "last.ckpt"
    if not resume:
        if last.is_file():
            raise InputError(f"{out} already holds a run; pass --resume to continue it or choose "
                             "another --out")
        return
    if not (out / "config.json").is_file():
        raise InputError(f"cannot resume: {out / 'config.json'} not found (no earlier run in {out})")
    if not last.is_file():
        raise InputError(f"cannot resume: no checkpoint at {last}")


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


def resume_point(out: Path, max_steps: int) -> int:
    """The iteration at which ``--resume`` continues the run in ``out`` (:func:`resume_start`),
    refusing a ``max_steps`` below it (Lightning would stop at once and re-export the later
    generator)."""
    start = resume_start(Path(out) / "checkpoints" / "last.ckpt")
    if max_steps < start:
        raise InputError(f"the run in {out} is already at iteration {start}: give --max-steps "
                         f"above it to continue ({max_steps} would go back; `shapekit generate "
                         "--checkpoint iter-NNNNNNN` samples an earlier checkpoint)")
    return start


def checkpoint_path(run_dir: Path, checkpoint: str | Path) -> Path:
    """The file of a training checkpoint given as a path or as a name in ``RUN_DIR/checkpoints``
    (``iter-0007500``, ``last``, with or without ``.ckpt``); a missing one is refused with the
    names there are (no torch: checked before any model loads)."""
    p = Path(checkpoint)
    if not p.is_file():
        name = p.name if p.suffix == ".ckpt" else f"{p.name}.ckpt"
        p = Path(run_dir) / "checkpoints" / name
    if not p.is_file():
        found = sorted(q.stem for q in (Path(run_dir) / "checkpoints").glob("*.ckpt"))
        raise ModelFormatError(f"checkpoint {checkpoint!s} not found in "
                               f"{Path(run_dir) / 'checkpoints'}; available: "
                               f"{', '.join(found) or 'none'}")
    return p
