"""Bundle Networks vs a conditional GAN on the torus: the known-answer experiment of the fibres.

Run ``python benchmarks/fibres_torus.py`` for the figures in RESULTS.md (section 5): BundleNet and
the CGAN baseline fitted on 4000 torus points, fibre W1 and mean distance to the true circle over
20 base points. The data and scoring helpers are also used by tests/test_analysis_invariance_models.py.
This is experiment code, not part of the shapekit package.

* :class:`ConditionalGAN` / :func:`fit_cgan`: ``G(noise, y) -> x``, ``D(x, y)``, non-saturating
  GAN loss; it samples a fibre as ``G(noise, y)`` (the CGAN baseline of Bundle Networks).
* :func:`wasserstein1`: exact W1 between two equal-size point sets (optimal assignment).
* :func:`torus_bundle`, :func:`torus_fibre`, :func:`torus_fibre_distance`: the torus ``T^2``
  in ``R^3`` (tube radius ``r`` around a circle of radius ``R``) projected onto the core circle;
  the fibre over base angle ``phi`` is the meridian circle of radius ``r`` centred at
  ``R (cos phi, sin phi, 0)``. The base is given as ``(cos phi, sin phi)``.

References
----------
N. Courts, H. Kvinge, "Bundle Networks", ICLR 2022, arXiv:2110.06983 (torus data, CGAN baseline,
fibre Wasserstein metrics). M. Mirza, S. Osindero, "Conditional Generative Adversarial Nets",
arXiv:1411.1784.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from shapekit._device import default_device
from shapekit._progress import progress
from shapekit.analysis.fibres import as_xy
from shapekit.errors import InputError


def torus_bundle(n: int, R: float = 8.0, r: float = 2.0, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform-angle points of the torus and their base points ``(cos phi, sin phi)``.

    Examples
    --------
    >>> x, y = torus_bundle(5)
    >>> x.shape, y.shape
    ((5, 3), (5, 2))
    """
    rng = np.random.default_rng(seed)
    phi, theta = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 2 * np.pi, n)
    x = np.stack([(R + r * np.cos(theta)) * np.cos(phi), (R + r * np.cos(theta)) * np.sin(phi),
                  r * np.sin(theta)], 1)
    return x.astype(np.float32), np.stack([np.cos(phi), np.sin(phi)], 1).astype(np.float32)


def torus_fibre(y: np.ndarray, n: int, R: float = 8.0, r: float = 2.0, seed: int = 0) -> np.ndarray:
    """``n`` points of the true fibre (meridian circle) over base point ``y = (cos phi, sin phi)``.

    Examples
    --------
    >>> p = torus_fibre(np.array([1.0, 0.0]), 4)
    >>> bool(np.allclose(np.hypot(p[:, 0] - 8.0, p[:, 2]), 2.0))
    True
    """
    phi = np.arctan2(y[1], y[0])
    theta = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
    return np.stack([(R + r * np.cos(theta)) * np.cos(phi), (R + r * np.cos(theta)) * np.sin(phi),
                     r * np.sin(theta)], 1).astype(np.float32)


def torus_fibre_distance(x: np.ndarray, y: np.ndarray, R: float = 8.0, r: float = 2.0) -> np.ndarray:
    """Distance of each point ``x`` (``(n, 3)``) to the true fibre circle over base ``y`` (``(2,)``).

    Examples
    --------
    >>> y = np.array([0.0, 1.0])
    >>> bool(np.allclose(torus_fibre_distance(torus_fibre(y, 5), y), 0.0, atol=1e-5))
    True
    """
    x = np.asarray(x, dtype=np.float64)
    phi = np.arctan2(y[1], y[0])
    e_r = np.array([np.cos(phi), np.sin(phi), 0.0])
    normal = np.array([-np.sin(phi), np.cos(phi), 0.0])
    q = x - R * e_r
    rho = np.hypot(q @ e_r, q[:, 2])
    return np.sqrt((q @ normal) ** 2 + (rho - r) ** 2)


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """Exact 1-Wasserstein distance between two equal-weight point sets (rows), Euclidean cost.

    The larger set is truncated to the size of the smaller one.

    Examples
    --------
    >>> wasserstein1(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]))
    1.0
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    m = min(len(a), len(b))
    if m == 0:
        raise InputError("W1 needs non-empty point sets")
    cost = cdist(a[:m], b[:m])
    i, j = linear_sum_assignment(cost)
    return float(cost[i, j].mean())


class ConditionalGAN(nn.Module):
    """A conditional GAN on vectors: generator ``G([noise, y]) -> x`` and critic ``D([x, y])``.

    Examples
    --------
    >>> import torch
    >>> gan = ConditionalGAN(3, 2)
    >>> gan.sample_fibre(torch.tensor([1.0, 0.0]), 6).shape
    torch.Size([6, 3])
    """

    def __init__(self, x_dim: int, y_dim: int, noise_dim: int = 4, hidden: int = 128) -> None:
        super().__init__()
        self.x_dim, self.y_dim, self.noise_dim = x_dim, y_dim, noise_dim
        self.generator = nn.Sequential(
            nn.Linear(noise_dim + y_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, x_dim))
        self.critic = nn.Sequential(
            nn.Linear(x_dim + y_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        for name, d in (("x_mean", x_dim), ("x_std", x_dim), ("y_mean", y_dim), ("y_std", y_dim)):
            self.register_buffer(name, torch.zeros(d) if "mean" in name else torch.ones(d))

    def generate(self, yn: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Standardised samples for standardised conditions ``yn``."""
        return self.generator(torch.cat([noise, yn], 1))

    @torch.no_grad()
    def sample_fibre(self, y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` samples of ``x`` given one base point ``y`` (data units, CPU)."""
        dev = self.x_mean.device
        y = torch.as_tensor(y, dtype=torch.float32).reshape(1, self.y_dim).to(dev)
        yn = ((y - self.y_mean) / self.y_std).expand(n, -1)
        noise = torch.randn(n, self.noise_dim, generator=torch.Generator().manual_seed(seed))
        return (self.generate(yn, noise.to(dev)) * self.x_std + self.x_mean).cpu()


def fit_cgan(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, *, steps: int = 2000,
             batch_size: int = 256, lr: float = 2e-4, noise_dim: int = 4, hidden: int = 128,
             seed: int = 0, device: str | None = None) -> ConditionalGAN:
    """Train a :class:`ConditionalGAN` (non-saturating loss, Adam(0.5, 0.999)).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> gan = fit_cgan(x, x[:, :1], steps=5)
    >>> gan.sample_fibre(np.array([0.0]), 3).shape
    torch.Size([3, 2])
    """
    x, y = as_xy(x, y)
    torch.manual_seed(seed)
    gan = ConditionalGAN(x.shape[1], y.shape[1], noise_dim, hidden)
    gan.x_mean.copy_(x.mean(0))
    gan.x_std.copy_(x.std(0).clamp_min(1e-8))
    gan.y_mean.copy_(y.mean(0))
    gan.y_std.copy_(y.std(0).clamp_min(1e-8))
    dev = default_device(device)
    gan.to(dev)
    xn = ((x - gan.x_mean.cpu()) / gan.x_std.cpu()).to(dev)
    yn = ((y - gan.y_mean.cpu()) / gan.y_std.cpu()).to(dev)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(gan.critic.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    for _ in progress(range(steps), desc="cgan", total=steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=g).to(dev)
        xb, yb = xn[idx], yn[idx]
        noise = torch.randn(len(idx), noise_dim, generator=g).to(dev)
        fake = gan.generate(yb, noise)
        d_real = gan.critic(torch.cat([xb, yb], 1))
        d_fake = gan.critic(torch.cat([fake.detach(), yb], 1))
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        d_gen = gan.critic(torch.cat([fake, yb], 1))
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    gan.eval()
    return gan


def fibre_scores(model: nn.Module, y_values: np.ndarray, true_fibre, n: int = 256,
                 distance=None, seed: int = 0) -> dict[str, float]:
    """Mean fibre W1 (and mean distance to the true fibre when ``distance`` is given).

    Parameters
    ----------
    model : object with ``sample_fibre(y, n, seed)``
    y_values : array ``(m, y_dim)``
        Base points to evaluate.
    true_fibre : callable ``(y, n, seed) -> (n, x_dim)``
        Sampler of the true fibre.
    distance : callable ``(x, y) -> (n,)``, optional
        Distance of points to the true fibre over ``y``.

    Examples
    --------
    >>> gan = ConditionalGAN(3, 2)
    >>> s = fibre_scores(gan, np.array([[1.0, 0.0]]), lambda y, n, seed: torus_fibre(y, n, seed=seed),
    ...                  n=8, distance=torus_fibre_distance)
    >>> sorted(s)
    ['mean_distance', 'w1']
    """
    w1s, dists = [], []
    for i, yv in enumerate(np.asarray(y_values, dtype=np.float32)):
        gen = model.sample_fibre(torch.as_tensor(yv), n, seed=seed + i).numpy()
        w1s.append(wasserstein1(gen, true_fibre(yv, n, seed=seed + 1000 + i)))
        if distance is not None:
            dists.append(float(np.mean(distance(gen, yv))))
    out = {"w1": float(np.mean(w1s))}
    if distance is not None:
        out["mean_distance"] = float(np.mean(dists))
    return out


def main() -> None:
    """The torus experiment of RESULTS.md: BundleNet (circle prior) vs the CGAN baseline."""
    import argparse
    import json

    from shapekit.analysis.fibres import fit_bundle

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = torus_bundle(4000, seed=args.seed)
    net = fit_bundle(x, y, fibre="circle", steps=args.steps, n_neighbourhoods=16, seed=args.seed,
                     weights=(10.0, 1.0, 1.0, 1.0, 1.0))
    gan = fit_cgan(x, y, steps=args.steps, seed=args.seed)
    yt = torus_bundle(20, seed=5)[1]
    true = lambda yv, n, seed: torus_fibre(yv, n, seed=seed)  # noqa: E731
    print(json.dumps({name: fibre_scores(model, yt, true, n=200, distance=torus_fibre_distance)
                      for name, model in (("bundle", net), ("cgan", gan))}, indent=2))


if __name__ == "__main__":
    main()
