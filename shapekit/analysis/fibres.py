"""Fibre-bundle models of many-to-one maps: sample the fibre ``f^-1(y)`` and predict ``f(x)``.

A Bundle Network: the base ``Y`` is covered by k-means neighbourhoods with centres ``c_j``; an
invertible network ``Phi(. | c_j)`` (a conditional elementwise affine map, the "local
trivialisation", followed by RealNVP affine couplings with fixed random permutations) sends a
(zero-padded, standardised) point ``x`` to ``[y_hat, z]``: ``y_hat`` predicts ``f(x)`` and ``z`` is a
code on the fibre with a fixed prior (standard Gaussian; a circle: uniform angle and radius
``~ N(1, 0.1)`` in the first two fibre coordinates, for fibres that are loops; or bimodal, for
fibres of two pieces). A fibre is sampled
as ``Phi^-1([y, z] | c_j)`` with ``z`` from the prior and ``c_j`` the centre nearest ``y``.

Training loss (one minibatch): ``w_rec * MSE(y_hat, y)`` (reconstruction)
``+ w_fwd * MMD([y, z], [y, z_prior])`` (the encoded fibre codes follow the prior, independently
of ``y``) ``+ w_bwd * MMD([Phi^-1(y, z_prior), y], [x, y])`` (generated points follow the data)
``+ w_pad * |padding of Phi^-1|^2 + w_dist * mean min-distance(generated, data)``. MMD is the biased squared maximum mean discrepancy with a
sum of Gaussian kernels (bandwidths 0.05 to 2 in standardised units); the original uses kNN
KL-divergence estimates instead. With the bimodal prior, training points may carry a known sheet
label (``modes``, +-1): the label then joins ``y`` as a condition in the three joint comparisons
and selects the prior mode of each point, so that each mode of the prior decodes to its own sheet.

References
----------
N. Courts, H. Kvinge, "Bundle Networks: Fiber Bundles, Local Trivializations, and a Generative
Approach to Exploring Many-to-one Maps", ICLR 2022, arXiv:2110.06983.
L. Coda et al., "Fiber bundle morphisms as a framework for modeling many-to-many maps",
arXiv:2203.08189.
L. Dinh, J. Sohl-Dickstein, S. Bengio, "Density estimation using Real NVP", ICLR 2017.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from shapekit._device import default_device, seeded
from shapekit._progress import progress
from shapekit.analysis.flows import ConditionalFlow
from shapekit.errors import InputError


def as_xy(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Training pairs as float32 tensors ``(n, d_x)``, ``(n, d_y)``; a 1-D ``y`` becomes a column.

    Examples
    --------
    >>> x, y = as_xy(np.zeros((3, 2)), np.zeros(3))
    >>> tuple(x.shape), tuple(y.shape)
    ((3, 2), (3, 1))
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(y, dtype=np.float32))
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise InputError(f"x and y must be (n, d) arrays with the same n >= 2, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def mmd(a: torch.Tensor, b: torch.Tensor,
        bandwidths: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0, 2.0)) -> torch.Tensor:
    """Biased squared MMD between samples ``a`` and ``b`` (rows) with a sum of Gaussian kernels.

    Examples
    --------
    >>> import torch
    >>> a = torch.randn(50, 2)
    >>> float(mmd(a, a))
    0.0
    """
    xy = torch.cat([a, b])
    d2 = torch.cdist(xy, xy).pow(2)
    k = sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)
    n = a.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


class BundleNet(nn.Module):
    """A Bundle Network for a map ``f: R^x_dim -> R^y_dim`` (see the module docstring).

    Fit it with :func:`fit_bundle`; then :meth:`sample_fibre` draws points of ``f^-1(y)`` and
    :meth:`predict` estimates ``f(x)``.

    Parameters
    ----------
    x_dim, y_dim : int
        Dimensions of the total space and of the base.
    fibre : {"gaussian", "circle", "bimodal"}
        Prior of the fibre code; "bimodal" puts the first coordinate on ``+-2 + N(0, 0.5^2)``, for
        fibres made of two sheets (e.g. under- and over-aged process branches).
    fibre_dim : int, optional
        Dimension of the fibre code (default ``max(x_dim - y_dim, 1)``, at least 2 for circles).
    n_neighbourhoods : int
        Number of k-means neighbourhoods covering the base.
    n_blocks, hidden : int
        Flow size.
    seed : int

    Examples
    --------
    >>> import torch
    >>> net = BundleNet(3, 1, n_neighbourhoods=2)
    >>> net.set_cover(torch.randn(20, 3), torch.randn(20, 1), seed=0)
    >>> net.sample_fibre(torch.tensor([0.5]), 4, seed=0).shape
    torch.Size([4, 3])
    """

    def __init__(self, x_dim: int, y_dim: int, *, fibre: str = "gaussian",
                 fibre_dim: int | None = None, n_neighbourhoods: int = 16, n_blocks: int = 6,
                 hidden: int = 64, seed: int = 0) -> None:
        super().__init__()
        if fibre not in ("gaussian", "circle", "bimodal"):
            raise InputError(f"fibre prior must be 'gaussian', 'circle' or 'bimodal', got {fibre!r}")
        fd = fibre_dim if fibre_dim is not None else max(x_dim - y_dim, 1)
        if fibre == "circle":
            fd = max(fd, 2)
        self.x_dim, self.y_dim, self.fibre, self.fibre_dim = x_dim, y_dim, fibre, fd
        self.dim = max(x_dim, y_dim + fd)
        self.fibre_dim = self.dim - y_dim
        self.n_neighbourhoods = n_neighbourhoods
        self.flow = ConditionalFlow(self.dim, y_dim, n_blocks=n_blocks, hidden=hidden, seed=seed)
        for name, shape in (("x_mean", x_dim), ("x_std", x_dim), ("y_mean", y_dim),
                            ("y_std", y_dim)):
            self.register_buffer(name, torch.zeros(shape) if "mean" in name else torch.ones(shape))
        self.register_buffer("centres", torch.zeros(n_neighbourhoods, y_dim))

    def set_cover(self, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> None:
        """Set the standardisation from ``(x, y)`` and the k-means cover of the base."""
        from sklearn.cluster import KMeans

        self.x_mean.copy_(x.mean(0))
        self.x_std.copy_(x.std(0).clamp_min(1e-8))
        self.y_mean.copy_(y.mean(0))
        self.y_std.copy_(y.std(0).clamp_min(1e-8))
        yn = ((y - self.y_mean) / self.y_std).detach().cpu().double().numpy()
        k = min(self.n_neighbourhoods, len(np.unique(yn, axis=0)))
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(yn)
        centres = np.resize(km.cluster_centers_, (self.n_neighbourhoods, self.y_dim))
        self.centres.copy_(torch.as_tensor(centres, dtype=self.centres.dtype))

    def condition(self, yn: torch.Tensor) -> torch.Tensor:
        """The centre of the neighbourhood of each standardised base point."""
        return self.centres[torch.cdist(yn, self.centres).argmin(1)]

    def _pad(self, xn: torch.Tensor) -> torch.Tensor:
        return torch.cat([xn, xn.new_zeros(xn.shape[0], self.dim - self.x_dim)], 1)

    def sample_prior(self, n: int, generator: torch.Generator | None = None,
                     temperature: float = 1.0, sign: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` fibre codes from the prior (on the device of the model).

        ``temperature > 1`` widens the Gaussian parts (and the radial spread of circles), which
        reaches further along a fibre the network compressed. ``sign`` (bimodal prior only, ``n``
        values +-1) picks the mode of each code instead of a fair coin.
        """
        dev = self.centres.device
        z = temperature * torch.randn(n, self.fibre_dim, generator=generator).to(dev)
        if self.fibre == "circle":
            ang = (torch.rand(n, generator=generator) * 2 * math.pi).to(dev)
            rad = 1.0 + 0.1 * temperature * torch.randn(n, generator=generator).to(dev)
            z[:, 0], z[:, 1] = rad * torch.cos(ang), rad * torch.sin(ang)
        elif self.fibre == "bimodal":
            if sign is None:
                sign = (torch.rand(n, generator=generator) < 0.5).to(dev).to(z.dtype) * 2 - 1
            z[:, 0] = 2.0 * sign.to(dev).to(z.dtype) + 0.5 * z[:, 0]
        return z

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``Phi(x | c(y))`` in standardised units: ``[y_hat, z]``."""
        yn = (y - self.y_mean) / self.y_std
        return self.flow(self._pad((x - self.x_mean) / self.x_std), self.condition(yn))

    def decode(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``Phi^-1([y, z] | c(y))`` in data units (padding dropped)."""
        yn = (y - self.y_mean) / self.y_std
        xn = self.flow.inverse(torch.cat([yn, z], 1), self.condition(yn))
        return xn[:, :self.x_dim] * self.x_std + self.x_mean

    @torch.no_grad()
    def sample_fibre(self, y: torch.Tensor, n: int, seed: int = 0, temperature: float = 1.0,
                     mode: int | None = None) -> torch.Tensor:
        """``n`` points of the fibre over one base point ``y`` (shape ``(y_dim,)``), on CPU.

        ``mode`` (+1 or -1, bimodal prior only) draws from that mode of the prior alone: with a
        network fitted with ``modes``, the sheet of the fibre that carries that label.
        """
        dev = self.centres.device
        y = torch.as_tensor(y, dtype=self.centres.dtype).reshape(1, self.y_dim).to(dev)
        sign = None
        if mode is not None:
            if self.fibre != "bimodal" or mode not in (1, -1):
                raise InputError(f"mode must be +1 or -1 with the bimodal prior, got {mode!r} "
                                 f"with the {self.fibre!r} prior")
            sign = torch.full((n,), float(mode))
        z = self.sample_prior(n, torch.Generator().manual_seed(seed), temperature, sign)
        return self.decode(y.expand(n, -1), z).cpu()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Estimate ``f(x)``: ``y_hat`` under the neighbourhood most consistent with it.

        ``Phi`` is evaluated under every centre ``c_j``; the answer is the ``y_hat_j`` closest to
        its own centre (the chart that contains the prediction).
        """
        dev = self.centres.device
        xn = self._pad((torch.as_tensor(x, dtype=self.centres.dtype).to(dev) - self.x_mean)
                       / self.x_std)
        preds = torch.stack([self.flow(xn, c.expand(xn.shape[0], -1))[:, :self.y_dim]
                             for c in self.centres])  # (K, N, y_dim)
        best = (preds - self.centres[:, None]).norm(dim=2).argmin(0)
        yn = preds[best, torch.arange(xn.shape[0], device=dev)]
        return (yn * self.y_std + self.y_mean).cpu()


def bundle_loss(net: BundleNet, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator,
                weights: tuple[float, ...] = (10.0, 1.0, 1.0, 1.0, 0.1), cond_scale: float = 3.0,
                modes: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one minibatch and its parts.

    ``weights`` = (reconstruction, forward MMD, backward MMD, padding, min-distance); the last
    term is the mean distance from each generated ``[x, y]`` to the nearest real one in the batch
    (the "Dist" term of Bundle Networks). In the joint ``[x, y]`` and ``[y, z]`` comparisons
    ``y`` is multiplied by ``cond_scale`` so that the kernels resolve the condition finely (the
    matching is then conditional on ``y``, not only marginal). ``modes`` (+-1 per row, bimodal
    prior): each row's prior code is drawn from its own mode and ``cond_scale * modes`` joins
    ``y`` in those comparisons, so the matching is conditional on the sheet as well.
    """
    yn = (y - net.y_mean) / net.y_std
    xn = (x - net.x_mean) / net.x_std
    c = net.condition(yn)
    out = net.flow(net._pad(xn), c)
    y_hat, z = out[:, :net.y_dim], out[:, net.y_dim:]
    zp = net.sample_prior(x.shape[0], generator, sign=modes)
    l_rec = ((y_hat - yn) ** 2).mean()
    ys = cond_scale * yn
    if modes is not None:
        ys = torch.cat([ys, cond_scale * modes.to(ys.dtype)[:, None]], 1)
    l_fwd = mmd(torch.cat([ys, z], 1), torch.cat([ys, zp], 1))
    gen = net.flow.inverse(torch.cat([yn, zp], 1), c)
    l_bwd = mmd(torch.cat([gen[:, :net.x_dim], ys], 1), torch.cat([xn, ys], 1))
    l_pad = (gen[:, net.x_dim:] ** 2).mean() if net.dim > net.x_dim else gen.new_zeros(())
    l_dist = torch.cdist(torch.cat([gen[:, :net.x_dim], ys], 1),
                         torch.cat([xn, ys], 1)).min(1).values.mean()
    w = tuple(weights) + (0.0,) * (5 - len(weights))
    total = w[0] * l_rec + w[1] * l_fwd + w[2] * l_bwd + w[3] * l_pad + w[4] * l_dist
    return total, {"rec": float(l_rec.detach()), "fwd": float(l_fwd.detach()),
                   "bwd": float(l_bwd.detach()), "pad": float(l_pad.detach()),
                   "dist": float(l_dist.detach())}


def fit_bundle(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, *,
               fibre: str = "gaussian", fibre_dim: int | None = None, n_neighbourhoods: int = 16,
               n_blocks: int = 6, hidden: int = 64, steps: int = 2000, batch_size: int = 256,
               lr: float = 2e-3, weights: tuple[float, ...] = (10.0, 1.0, 1.0, 1.0, 0.1),
               cond_scale: float = 3.0, modes: np.ndarray | torch.Tensor | None = None,
               seed: int = 0, device: str | None = None) -> BundleNet:
    """Train a :class:`BundleNet` on samples ``x`` of the total space and ``y = f(x)``.

    The result depends only on ``seed``; torch's global random state is left as it was.

    Adam with a cosine learning-rate decay; deterministic per seed on CPU. The last loss parts are
    in ``net.history_`` (a list of dicts, one per 50 steps). ``modes`` (``fibre="bimodal"`` only):
    a known sheet label +-1 per training point, tying each prior mode to one sheet (see
    :func:`bundle_loss`); then ``net.sample_fibre(y, n, mode=+1)`` samples that sheet.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(-1, 1, (256, 2)).astype("float32")
    >>> net = fit_bundle(x, x[:, :1] + x[:, 1:], n_neighbourhoods=4, n_blocks=2, steps=20)
    >>> net.sample_fibre(np.array([0.2]), 5).shape
    torch.Size([5, 2])
    """
    x, y = as_xy(x, y)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise InputError("x and y must be finite (found NaN or inf)")
    if modes is not None:
        modes = torch.as_tensor(np.asarray(modes, dtype=np.float32))
        if fibre != "bimodal" or modes.shape != (x.shape[0],) or not bool(
                ((modes == 1) | (modes == -1)).all()):
            raise InputError(f"modes must be n = {x.shape[0]} values +-1 with fibre='bimodal', "
                             f"got shape {tuple(modes.shape)} with fibre={fibre!r}")
    dev = default_device(device)
    with seeded(seed, dev):  # the initial weights depend on seed only; the caller's RNG is kept
        net = BundleNet(x.shape[1], y.shape[1], fibre=fibre, fibre_dim=fibre_dim,
                        n_neighbourhoods=n_neighbourhoods, n_blocks=n_blocks, hidden=hidden,
                        seed=seed)
        net.set_cover(x, y, seed=seed)
        net.to(dev)
        x, y = x.to(dev), y.to(dev)
        modes = modes.to(dev) if modes is not None else None
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
        g = torch.Generator().manual_seed(seed)
        n = x.shape[0]
        net.history_ = []
        for step in progress(range(steps), desc="bundle net", total=steps):
            idx = torch.randint(0, n, (min(batch_size, n),), generator=g).to(dev)
            loss, parts = bundle_loss(net, x[idx], y[idx], g, weights, cond_scale,
                                      None if modes is None else modes[idx])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            sched.step()
            if step % 50 == 0 or step == steps - 1:
                net.history_.append({"step": step, "loss": float(loss.detach()), **parts})
        net.eval()
        return net
