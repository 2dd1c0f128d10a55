"""Lagrange multipliers that hold the generated crops' mean area fraction on the real one.

:class:`FractionDual` is the dual (Lagrangian) form of the phase-fraction constraint
(``fraction_dual``): one multiplier per class plus one slope per continuous condition, raised by
dual ascent on the batch's fraction gaps, on the fractions of :mod:`shapekit.generate.terms`.
:class:`shapekit.generate.ConditionalGAN` adds its penalty to the generator's loss.
"""

from __future__ import annotations

import torch

__all__ = ["FractionDual"]


class FractionDual(torch.nn.Module):
    """Lagrange multipliers that hold the generated crops' mean area fraction on the real one, per
    class and along the continuous conditions.

    The constraint is the first moment ``E[f_fake - f_real | class, conditions] = 0``, with one
    multiplier per class plus one slope per condition: ``lambda_i = a[class_i] + b . cond_i``.
    Each call adds ``mean_i lambda_i f_fake_i`` to the generator's loss (multipliers fixed) and
    then raises them by ``eta`` times the batch's gaps (dual ascent, as in constrained
    optimisation of generative models [1]_). Unlike a squared penalty at a fixed weight, which
    settles where its pull balances the discriminator's and leaves the bias there, a multiplier
    keeps growing while the training crops' mean gap is not 0. The multipliers are buffers: they
    travel with checkpoints.

    Parameters
    ----------
    n_classes, n_cond : int
        Classes and continuous (standardised) conditions of the model.
    eta : float
        Dual step size (multiplier units per unit of fraction gap per iteration).

    References
    ----------
    .. [1] Rezende, D. J., Viola, F. (2018). Taming VAEs. arXiv:1810.00597 (GECO).

    Examples
    --------
    A generator whose crops are 0.01 too bright in fraction is pushed down, more with time:

    >>> dual = FractionDual(n_classes=2, n_cond=0, eta=10.0)
    >>> f_fake = torch.full((4,), 0.15, requires_grad=True)
    >>> f_real, label = torch.full((4,), 0.14), torch.tensor([0, 0, 1, 1])
    >>> [round(dual(f_fake, f_real, label).item(), 4) for _ in range(3)]
    [0.0, 0.0075, 0.015]
    >>> [round(v, 4) for v in dual.a.tolist()]  # each step: eta * (2 crops * 0.01) / 4 crops
    [0.15, 0.15]
    """

    def __init__(self, n_classes: int, n_cond: int, eta: float) -> None:
        super().__init__()
        if not eta > 0:
            raise ValueError(f"the dual step size must be > 0, got {eta}")
        self.eta = float(eta)
        self.register_buffer("a", torch.zeros(max(int(n_classes), 1)))
        self.register_buffer("b", torch.zeros(int(n_cond)))

    def forward(self, f_fake: torch.Tensor, f_real: torch.Tensor, label: torch.Tensor,
                cond: torch.Tensor | None = None) -> torch.Tensor:
        """The penalty ``mean_i lambda_i f_fake_i``; in training mode, then the dual step."""
        lam = self.a[label]
        if cond is not None and self.b.numel():
            lam = lam + cond.float() @ self.b
        penalty = (lam.detach() * f_fake.float()).mean()
        if self.training:
            with torch.no_grad():
                gap = (f_fake.detach().float() - f_real.detach().float()) / len(f_fake)
                step = torch.zeros(self.a.numel() + self.b.numel(), device=gap.device)
                step[:self.a.numel()].index_add_(0, label, gap)
                if cond is not None and self.b.numel():
                    step[self.a.numel():] = gap @ cond.float()
                dist = torch.distributed
                if dist.is_available() and dist.is_initialized():  # DDP: the ranks' mean step
                    dist.all_reduce(step)
                    step /= dist.get_world_size()
                self.a.add_(self.eta * step[:self.a.numel()].to(self.a.dtype))
                self.b.add_(self.eta * step[self.a.numel():].to(self.b.dtype))
        return penalty
