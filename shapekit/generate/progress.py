"""Training-time helpers of :func:`shapekit.generate.train.fit_gan`: progress, sample grids and
the random state.

:class:`ProgressCallback` is the Lightning callback that reports progress in the user's iterations
(one discriminator + one generator update each), :class:`SampleWriter` the module's
``sample_hook`` that writes grids of EMA-generator samples and, given a :data:`SampleMetric`,
logs a quality number with each, :class:`RngStateCallback` keeps torch's random state in the
checkpoints so that a resumed run continues exactly, and :func:`interrupted` says what a signal
that stopped training left behind.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities.exceptions import SIGTERMException

from shapekit.errors import Interrupted, ShapekitWarning

__all__ = ["ProgressCallback", "SampleWriter", "SampleMetric", "RngStateCallback", "SaveOnSigterm",
           "interrupted"]

#: a quality number logged with each sample grid: ``metric(real, fake) -> float`` on ``(n, h, w)``
#: float arrays in [0, 1] (the CLI passes the topological realism distance of shapekit.realism)
SampleMetric = Callable[[np.ndarray, np.ndarray], float]


class ProgressCallback(Callback):
    """Report training progress in iterations (see :class:`shapekit._progress.Reporter`).

    On the global-zero rank only: a bar on a terminal, otherwise a line every ``every_s`` seconds
    with the iteration, rate, ETA and the last logged ``loss_d`` and ``loss_g``.

    Parameters
    ----------
    total : int
        The run's last iteration (one discriminator + one generator update each).
    start : int
        The iteration training starts from (0, or a resumed run's).
    every_s : float
        Seconds between progress lines when the output is not a terminal.
    """

    def __init__(self, total: int, start: int, every_s: float) -> None:
        self.total, self.start, self.every_s = int(total), int(start), float(every_s)
        self.reporter: Any = None

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:  # noqa: D102
        from shapekit._progress import Reporter

        if trainer.is_global_zero:
            self.reporter = Reporter(self.total, "training", unit="it", initial=self.start,
                                     every_s=self.every_s)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:  # noqa: D102
        if self.reporter is not None:
            m = trainer.callback_metrics
            self.reporter.update(pl_module.iteration, **{k: float(m[k]) for k in
                                                         ("loss_d", "loss_g") if k in m})

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:  # noqa: D102
        if self.reporter is not None:
            self.reporter.close()
            self.reporter = None


class RngStateCallback(Callback):
    """Keeps torch's random state (latents, augmentation, crop offsets) in every checkpoint and
    restores it on resume at the first batch (after the data loader's iterator has drawn its own
    seed), so that a resumed run continues exactly as one that was never stopped."""

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:  # noqa: D102
        import torch

        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        return {"torch": torch.get_rng_state(), "cuda": cuda}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:  # noqa: D102
        self.pending = state_dict

    def on_train_batch_start(self, *args: Any) -> None:  # noqa: D102
        import torch

        state, self.pending = self.pending, None
        if state is not None:
            torch.set_rng_state(state["torch"])
            cuda = state.get("cuda") or []
            if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda)


#: seconds an iteration may still run after a SIGTERM before it is abandoned (schedulers send
#: SIGKILL 10-30 s after SIGTERM: docker 10, Slurm and Kubernetes 30 by default)
SIGTERM_GRACE_S = 5.0


class StoppedMidIteration(SIGTERMException):
    """A SIGTERM's stop inside an iteration that outlived the grace (nothing of it is saved)."""


class SaveOnSigterm(Callback):
    """Stops training promptly on ``SIGTERM`` (a scheduler's stop, a preemption) and writes the
    run's ``last`` checkpoint, so that the iterations since the last periodic checkpoint are kept.

    Lightning raises its ``SIGTERMException`` only between iterations (on every rank at once under
    DDP), so the state saved is a whole iteration's. A signal during the data fetch stops at the
    next iteration's start; one iteration still running ``grace_s`` seconds after the signal (a
    crop far too large for the device: ``--crop-size 512`` on a CPU took 2.5 min each and answered
    SIGTERM 140 s late) is abandoned, and the run keeps its last periodic checkpoint (single
    process only: DDP ranks stop together between iterations). Ctrl-C can land inside an
    iteration and saves nothing."""

    def __init__(self, path: str, grace_s: float = SIGTERM_GRACE_S) -> None:
        self.path, self.grace_s = path, float(grace_s)
        self._in_batch, self._deadline = False, None
        self._timer: Any = None
        self._prev: Any = None

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:  # noqa: D102
        import signal
        import threading

        prev = signal.getsignal(signal.SIGTERM)
        if (trainer.world_size != 1 or not callable(prev)
                or threading.current_thread() is not threading.main_thread()):
            return
        self._prev = prev
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        import _thread
        import threading
        import time

        if self._deadline is not None and time.monotonic() >= self._deadline - 0.01:
            if self._in_batch:  # the grace is over: stop inside the iteration
                raise StoppedMidIteration()
            return
        self._prev(signum, frame)   # Lightning's: stop after this iteration
        if self._timer is None:     # then come back here once the grace is over
            self._deadline = time.monotonic() + self.grace_s
            self._timer = threading.Timer(self.grace_s, _thread.interrupt_main, (signum,))
            self._timer.daemon = True
            self._timer.start()

    def on_train_batch_start(self, trainer: Any, *args: Any) -> None:  # noqa: D102
        if self._prev is not None and trainer.received_sigterm:
            raise SIGTERMException()  # arrived during the data fetch: stop before the iteration
        self._in_batch = True

    def on_train_batch_end(self, *args: Any) -> None:  # noqa: D102
        self._in_batch = False
        if self._timer is not None:  # Lightning raises its SIGTERMException right after
            self._timer.cancel()

    def _restore(self) -> None:
        import signal

        self._in_batch = False
        if self._timer is not None:
            self._timer.cancel()
        if self._prev is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._prev)
        self._prev = None

    def on_train_end(self, *args: Any) -> None:  # noqa: D102
        self._restore()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:  # noqa: D102
        self._restore()
        if (isinstance(exception, SIGTERMException) and trainer.global_step > 0
                and not isinstance(exception, StoppedMidIteration)):
            trainer.save_checkpoint(self.path, weights_only=False)


class SampleWriter:
    """Write a grid of EMA-generator samples (fixed latents) and, given a metric, log its value.

    Called as ``writer(module, iteration)`` (a :class:`~shapekit.generate.ConditionalGAN`'s
    ``sample_hook``): writes ``folder/step_{iteration:07d}.png``, one captioned row per label (up to
    8 labels; else 4 unlabelled columns), of about ``n`` samples at the labels and conditions of
    training images drawn once from ``seed``, the same number per label; with ``metric``
    and a logger, logs ``realism`` (the metric on as many real crops and the samples' top-left
    crops) at the module's global step. A failing metric is warned about, never stops training.

    Parameters
    ----------
    folder : Path
        Where the grids go.
    dm : GANDataModule
        The run's data (its images, labels, conditions and crop size).
    seed : int
        Seed of the images drawn and the latents (``seed + 1``: the real crops); fixed, so that
        the grids are comparable along the run.
    size : int
        Side of each sample (px).
    n : int
        Samples per grid.
    metric : SampleMetric, optional
        ``metric(real, fake) -> float`` on ``(n, h, w)`` arrays in [0, 1].
    """

    def __init__(self, folder: Path, dm: Any, seed: int, size: int, n: int = 16,
                 metric: SampleMetric | None = None) -> None:
        self.folder, self.dm, self.size, self.metric = folder, dm, int(size), metric
        rng = np.random.default_rng(seed)
        present = np.unique(dm.labels)
        self.rows: list[str] | None = None
        if len(present) <= 8:  # one row per label, captioned, so a user sees which class is which
            per = max(1, -(-n // len(present)))
            self.idx = np.concatenate([rng.choice(np.flatnonzero(dm.labels == k), per)
                                       for k in present])
            names = getattr(getattr(dm, "codec", None), "label_names", None)
            self.rows = [str(names[k]) if names is not None else str(k) for k in present]
        else:
            self.idx = rng.integers(0, len(dm.images), n)
        self.n = len(self.idx)
        self.seed = seed

    def __call__(self, module: Any, iteration: int) -> None:
        import torch

        from shapekit.generate.grid import save_grid, save_labelled_grid
        from shapekit.generate.nets import to_unit

        size = (self.size, self.size)
        g = torch.Generator().manual_seed(self.seed)
        latents = module.g_ema.latents(self.n, module.g_ema.field_cells(size), g)
        labels = torch.as_tensor(self.dm.labels[self.idx])
        cond = torch.as_tensor(self.dm.cond[self.idx]) if self.dm.cond.shape[1] else None
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            fake = to_unit(module.sample(labels, cond, size=size, latents=latents))
        path = self.folder / f"step_{iteration:07d}.png"
        if self.rows is None:
            save_grid(fake, path, ncols=4)
        else:
            save_labelled_grid(fake, path, len(self.rows), self.n // len(self.rows),
                               row_labels=self.rows, title=f"iteration {iteration}")
        if self.metric is None or module.logger is None:
            return
        try:
            from shapekit.generate.data import CropDataset

            crop = self.dm.crop_size
            ds = CropDataset(self.dm.images, self.dm.labels, self.dm.cond, crop, self.n,
                             self.seed + 1, augment=False)
            real = np.stack([(ds[i][0][0].numpy() + 1) / 2 for i in range(self.n)])
            value = float(self.metric(real, fake[:, :crop, :crop]))
        except Exception as e:  # noqa: BLE001 - a logging extra must never stop training
            warnings.warn(f"sample metric skipped: {type(e).__name__}: {e}", ShapekitWarning)
            return
        module.logger.log_metrics({"realism": value}, step=int(module.global_step))


def interrupted(exc: BaseException, iteration: int, max_steps: int, kept: int | None,
                checkpoint_every: int, out: Path, manifest: str | None) -> Interrupted:
    """The error for a run that a signal stopped at ``iteration``: the checkpoint it keeps
    (iteration ``kept``, None: none yet) and the command that continues it (Lightning ends such a
    run silently, with status 1 on Ctrl-C and 0 on ``SIGTERM``)."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    signum, name = (15, "SIGTERM") if isinstance(exc, SIGTERMException) else (2, "Ctrl-C")
    where = f"training stopped by {name} at iteration {iteration} of {max_steps}"
    if isinstance(exc, StoppedMidIteration):
        where += (f" (inside an iteration that had not ended {SIGTERM_GRACE_S:g} s after the "
                  "signal: is --crop-size or --batch-size too large for this device?)")
    if kept is None:
        return Interrupted(f"{where}, before its first checkpoint (every {checkpoint_every} "
                           f"iterations): nothing was kept; start it again", signum)
    return Interrupted(f"{where}; the run keeps its checkpoint of iteration {kept}: continue it "
                       f"with `shapekit train-gan {manifest or 'MANIFEST'} --out {out} --resume "
                       f"--max-steps {max_steps}`", signum)
