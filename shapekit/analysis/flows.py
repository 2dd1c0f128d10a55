"""Conditional normalising flows: RealNVP affine couplings after a conditional elementwise
affine map, invertible given a condition ``c``; the invertible part of
:class:`shapekit.analysis.fibres.BundleNet`.

References
----------
L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP", ICLR 2017.
N. Courts, H. Kvinge, "Bundle Networks: Fiber Bundles, Local Trivializations, and a Generative
Approach to Exploring Many-to-one Maps", ICLR 2022, arXiv:2110.06983.
"""

from __future__ import annotations

import torch
from torch import nn

from shapekit.errors import InputError

__all__ = ["mlp", "AffineCoupling", "ConditionalFlow", "coupling_dependencies"]


def mlp(n_in: int, n_out: int, hidden: int, depth: int) -> nn.Sequential:
    """A SiLU multilayer perceptron of ``depth`` hidden layers whose last layer starts at zero
    (an affine coupling built on it starts as the identity).

    Examples
    --------
    >>> net = mlp(3, 2, hidden=8, depth=2)
    >>> net(torch.ones(4, 3)).abs().max().item()
    0.0
    """
    layers: list[nn.Module] = []
    d = n_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.SiLU()]
        d = hidden
    last = nn.Linear(d, n_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(*layers, last)


class AffineCoupling(nn.Module):
    """RealNVP affine coupling conditioned on ``c``: ``x_b -> x_b * exp(s) + t``, ``(s, t) = net(x_a, c)``.

    The scale is soft-clamped, ``s = clamp * tanh(s_raw / clamp)``, so the inverse is stable.
    Initialised to the identity.

    Examples
    --------
    >>> import torch
    >>> layer = AffineCoupling(4, 2, torch.tensor([True, False, True, False]))
    >>> x, c = torch.randn(5, 4), torch.randn(5, 2)
    >>> bool(torch.allclose(layer.inverse(layer(x, c), c), x, atol=1e-6))
    True
    """

    def __init__(self, dim: int, cond_dim: int, mask: torch.Tensor, hidden: int = 64,
                 depth: int = 2, clamp: float = 2.0) -> None:
        super().__init__()
        self.register_buffer("mask", mask.bool().clone())
        n_a = int(self.mask.sum())
        self.clamp = clamp
        self.net = mlp(n_a + cond_dim, 2 * (dim - n_a), hidden, depth)

    def _st(self, xa: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(torch.cat([xa, c], 1)).chunk(2, dim=1)
        return self.clamp * torch.tanh(s / self.clamp), t

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        xa, xb = x[:, self.mask], x[:, ~self.mask]
        s, t = self._st(xa, c)
        out = x.clone()
        out[:, ~self.mask] = xb * torch.exp(s) + t
        return out

    def inverse(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        ya, yb = y[:, self.mask], y[:, ~self.mask]
        s, t = self._st(ya, c)
        out = y.clone()
        out[:, ~self.mask] = (yb - t) * torch.exp(-s)
        return out


class ConditionalFlow(nn.Module):
    """Invertible ``R^dim -> R^dim`` conditioned on ``c``: local affine map, then couplings.

    Parameters
    ----------
    dim : int
        Dimension (>= 2).
    cond_dim : int
        Dimension of the condition.
    n_blocks : int
        Number of affine couplings (each followed by a fixed random permutation).
    hidden, depth : int
        Width and depth of the coupling MLPs.
    seed : int
        Seeds the permutations.

    Notes
    -----
    Alternating masks and random permutations can conspire so that some output coordinate is
    never transformed, or is transformed only by coordinates that never saw some input (with 3
    coordinates and 6 blocks, about 1 seed in 30): a prediction read from that slot then ignores
    inputs. With ``n_blocks >= 2`` the permutations are therefore drawn (deterministically per
    seed) until every output coordinate depends on every input coordinate
    (:func:`coupling_dependencies`); two blocks always can, so the draw ends quickly.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> flow = ConditionalFlow(3, 1, n_blocks=4)
    >>> _ = [torch.nn.init.normal_(p, std=0.3) for p in flow.parameters()]
    >>> x, c = torch.randn(8, 3), torch.randn(8, 1)
    >>> float((flow.inverse(flow(x, c), c) - x).abs().max().detach()) < 1e-4
    True
    """

    def __init__(self, dim: int, cond_dim: int, n_blocks: int = 6, hidden: int = 64,
                 depth: int = 2, seed: int = 0) -> None:
        super().__init__()
        if dim < 2:
            raise InputError(f"a coupling flow needs dimension >= 2, got {dim}")
        self.local = mlp(cond_dim, 2 * dim, hidden, 1)
        masks = []
        for i in range(n_blocks):
            mask = torch.zeros(dim, dtype=torch.bool)
            mask[(i % 2)::2] = True
            masks.append(mask)
        self.blocks = nn.ModuleList(AffineCoupling(dim, cond_dim, m, hidden, depth) for m in masks)
        g = torch.Generator().manual_seed(seed)
        perms = [torch.randperm(dim, generator=g) for _ in masks]
        for _ in range(1000 if n_blocks >= 2 else 0):
            if coupling_dependencies(masks, perms).all():
                break
            perms = [torch.randperm(dim, generator=g) for _ in masks]
        else:
            if n_blocks >= 2:  # pragma: no cover - identity permutations always mix fully
                perms = [torch.arange(dim) for _ in masks]
        self.register_buffer("perms", torch.stack(perms) if perms else torch.zeros(0, dim).long())

    def _local(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.local(c).chunk(2, dim=1)
        return 2.0 * torch.tanh(s / 2.0), t

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        s, t = self._local(c)
        h = x * torch.exp(s) + t
        for block, p in zip(self.blocks, self.perms):
            h = block(h, c)[:, p]
        return h

    def inverse(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = z
        for block, p in zip(reversed(self.blocks), reversed(list(self.perms))):
            h = block.inverse(h[:, torch.argsort(p)], c)
        s, t = self._local(c)
        return (h - t) * torch.exp(-s)


def coupling_dependencies(masks: list[torch.Tensor], perms: list[torch.Tensor]) -> torch.Tensor:
    """Which inputs each output of a coupling flow can depend on: ``dep[out, in]`` (bool).

    The elementwise local map keeps coordinate ``i`` on ``i``; a coupling makes each transformed
    coordinate (``~mask``) depend on itself and on every conditioning coordinate (``mask``); the
    permutation after it moves the rows.

    Examples
    --------
    >>> m = [torch.tensor([True, False, True]), torch.tensor([False, True, False])]
    >>> coupling_dependencies(m, [torch.arange(3)] * 2).all().item()
    True
    >>> coupling_dependencies(m[:1], [torch.arange(3)]).int().tolist()  # one block cannot mix
    [[1, 0, 0], [1, 1, 1], [0, 0, 1]]
    """
    dim = len(masks[0]) if masks else 0
    dep = torch.eye(dim, dtype=torch.bool)
    for mask, p in zip(masks, perms):
        cond = dep[mask].any(0)
        dep = dep.clone()
        dep[~mask] |= cond
        dep = dep[p]
    return dep
