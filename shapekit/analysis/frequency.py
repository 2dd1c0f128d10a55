"""Frequency sensitivity of any torch model, beside the power spectrum of its data.

The sensitivity of an output ``f`` to the 2-D frequency ``k`` of a ``(C, H, W)`` input is the
gradient norm with respect to the input's *orthonormal* FFT coefficient ``x_hat[c, k]``
(``x = Re(ifft2(x_hat, norm="ortho"))``), averaged over the data::

    S[c, k] = mean_x || d f(x) / d x_hat[c, k] ||,   ||.||: over output dims and (Re, Im)

For a linear model ``f(x) = <beta, x>`` this is exactly ``|fft2(beta, norm="ortho")|``. The data
map is ``P[c, k] = sqrt(mean_x |x_hat[c, k] - mean(x_hat[c, k])|^2)``. :func:`radial_profile`
averages either over rings of equal ``|k|`` (cycles/pixel) and :func:`fit_power_law` fits the
exponent ``a`` of ``power ~ |k|^-a``.

References
----------
C. Godfrey et al. (PNNL), "Convolutional networks inherit frequency sensitivity from image
statistics", v3 "Testing predictions of representation cost theory with CNNs", arXiv:2210.01257.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from shapekit._device import default_device
from shapekit._progress import progress
from shapekit.analysis._hooks import as_tensor, eval_on
from shapekit.errors import InputError


def sensitivity_map(model: nn.Module | Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *,
                    output: Callable[[torch.Tensor], torch.Tensor] | None = None,
                    batch_size: int = 32, device: str | None = None) -> torch.Tensor:
    """Mean gradient norm of the model output w.r.t. the orthonormal FFT coefficients of ``x``.

    Parameters
    ----------
    model : nn.Module or callable
        Maps ``(N, C, H, W)`` inputs to ``(N, ...)`` outputs (logits, features). Modules are put in
        eval mode for the pass (per-sample gradients are then independent of the batch) and fed
        inputs in the dtype of their parameters (float32 for plain functions).
    x : Tensor ``(N, C, H, W)``
        The data.
    output : callable, optional
        Applied to the model output before differentiating, e.g. a loss per sample or one logit.
    batch_size : int
    device : str, optional
        Default CUDA when present, else CPU.

    Returns
    -------
    Tensor ``(C, H, W)``
        ``S[c, k]`` in ``torch.fft`` layout (zero frequency at ``[0, 0]``; use
        ``torch.fft.fftshift`` to centre it).

    Examples
    --------
    >>> import torch
    >>> beta = torch.randn(1, 8, 8)
    >>> f = lambda x: (x * beta).flatten(1).sum(1)
    >>> s = sensitivity_map(f, torch.rand(3, 1, 8, 8))
    >>> bool(torch.allclose(s, torch.fft.fft2(beta, norm="ortho").abs(), atol=1e-5))
    True
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise InputError(f"inputs must be (N, C, H, W), got shape {tuple(x.shape)}")
    dev = default_device(device)
    params = model.parameters() if isinstance(model, nn.Module) else iter(())
    dtype = next((p.dtype for p in params if p.is_floating_point()), torch.float32)
    total = torch.zeros(x.shape[1:], dtype=torch.float64)
    with eval_on(model, dev):
        for xb in progress(x.split(batch_size), desc="frequency sensitivity",
                           total=-(-x.shape[0] // batch_size)):
            xh = torch.fft.fft2(xb.to(dev, dtype), norm="ortho")
            re = xh.real.clone().requires_grad_(True)
            im = xh.imag.clone().requires_grad_(True)
            xr = torch.fft.ifft2(torch.complex(re, im), norm="ortho").real
            out = model(xr)
            out = out[0] if isinstance(out, (tuple, list)) else out
            if output is not None:
                out = output(out)
            out = out.reshape(out.shape[0], -1)
            sq = torch.zeros_like(re)
            for j in range(out.shape[1]):
                g_re, g_im = torch.autograd.grad(out[:, j].sum(), (re, im),
                                                 retain_graph=j < out.shape[1] - 1)
                sq += g_re.detach() ** 2 + g_im.detach() ** 2
            total += sq.sqrt().double().sum(0).cpu()
    return (total / x.shape[0]).float()


def power_map(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Data power per frequency: ``sqrt(mean_x |x_hat - mean x_hat|^2)`` (orthonormal FFT).

    Parameters
    ----------
    x : array ``(N, C, H, W)`` or ``(N, H, W)``

    Returns
    -------
    Tensor ``(C, H, W)`` (a channel axis of 1 is added for ``(N, H, W)`` input), ``torch.fft`` layout.

    Examples
    --------
    >>> import torch
    >>> p = power_map(torch.rand(10, 1, 8, 8))
    >>> tuple(p.shape), float(p[0, 0, 0]) < float(p.mean()) * 3
    ((1, 8, 8), True)
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).double()
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[0] < 1:
        raise InputError(f"images must be (N, C, H, W) or (N, H, W), got shape {tuple(t.shape)}")
    xh = torch.fft.fft2(t, norm="ortho")
    xh = xh - xh.mean(0, keepdim=True) if t.shape[0] > 1 else xh
    return (xh.abs() ** 2).mean(0).sqrt().float()


def radial_profile(m: torch.Tensor | np.ndarray, n_bins: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Average a 2-D frequency map (``torch.fft`` layout, ``(H, W)`` or ``(C, H, W)``) over rings.

    Rings are ``|k|`` in cycles/pixel (``fftfreq`` along each axis) binned in steps of
    ``1 / min(H, W)``; channels are averaged. The zero frequency is its own first bin.

    Returns
    -------
    freqs : ndarray
        Mean ``|k|`` of each non-empty ring (cycles/pixel, 0 to ~0.707).
    values : ndarray
        Mean of ``m`` over each ring.

    Examples
    --------
    >>> import numpy as np
    >>> f, v = radial_profile(np.ones((16, 16)))
    >>> float(f[0]), bool(np.allclose(v, 1.0))
    (0.0, True)
    """
    a = np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m, dtype=np.float64)
    if a.ndim == 3:
        a = a.mean(0)
    if a.ndim != 2:
        raise InputError(f"frequency map must be (H, W) or (C, H, W), got shape {a.shape}")
    h, w = a.shape
    r = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    step = 1.0 / min(h, w)
    idx = np.rint(r / step).astype(int)
    if n_bins is not None:
        idx = np.minimum((r / r.max() * (n_bins - 1)).round().astype(int), n_bins - 1)
    counts = np.bincount(idx.ravel())
    keep = counts > 0
    freqs = np.bincount(idx.ravel(), weights=r.ravel())[keep] / counts[keep]
    vals = np.bincount(idx.ravel(), weights=a.ravel())[keep] / counts[keep]
    return freqs, vals


def radial_power_spectrum(images: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum ``mean |x_hat|^2`` of images (mean of each image removed).

    Parameters
    ----------
    images : array ``(H, W)``, ``(N, H, W)`` or ``(N, C, H, W)``

    Returns
    -------
    freqs, power : ndarray
        Ring frequencies (cycles/pixel) and mean power per ring.

    Examples
    --------
    >>> img = synthetic_power_law_image((128, 128), 2.0, seed=0)
    >>> f, p = radial_power_spectrum(img)
    >>> round(fit_power_law(f, p), 1)
    2.0
    """
    t = torch.as_tensor(np.asarray(images, dtype=np.float64)
                        if not isinstance(images, torch.Tensor) else images).double()
    while t.ndim < 4:
        t = t[None]
    t = t - t.mean(dim=(-2, -1), keepdim=True)
    p = (torch.fft.fft2(t, norm="ortho").abs() ** 2).mean(dim=(0, 1))
    return radial_profile(p)


def fit_power_law(freqs: np.ndarray, values: np.ndarray, fmin: float = 0.02,
                  fmax: float = 0.4) -> float:
    """Exponent ``a`` of ``values ~ freqs^-a`` by least squares in log-log over ``[fmin, fmax]``.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.linspace(0.01, 0.5, 50)
    >>> round(fit_power_law(f, 3 * f ** -1.5), 6)
    1.5
    """
    f, v = np.asarray(freqs, float), np.asarray(values, float)
    keep = (f >= fmin) & (f <= fmax) & (v > 0)
    if keep.sum() < 3:
        raise InputError(f"fewer than 3 positive values between {fmin} and {fmax} cycles/pixel")
    slope, _ = np.polyfit(np.log(f[keep]), np.log(v[keep]), 1)
    return float(-slope)


def synthetic_power_law_image(shape: tuple[int, int], a: float, seed: int = 0) -> np.ndarray:
    """A Gaussian random field with power spectrum ``|k|^-a`` (random phases and amplitudes).

    Returned rescaled to ``[0, 1]`` (``float32``); rescaling does not change the exponent.

    Examples
    --------
    >>> synthetic_power_law_image((32, 48), 1.0).shape
    (32, 48)
    """
    h, w = shape
    rng = np.random.default_rng(seed)
    r = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    r[0, 0] = np.inf
    noise = np.fft.fft2(rng.standard_normal((h, w)))
    img = np.fft.ifft2(noise * r ** (-a / 2.0)).real
    img = (img - img.min()) / (np.ptp(img) or 1.0)
    return img.astype(np.float32)


def frequency_report(model: nn.Module | Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     **kwargs) -> dict[str, np.ndarray | float]:
    """Sensitivity and data power side by side: radial curves plus their rank correlation.

    Returns a dict with ``freqs``, ``sensitivity`` (radial), ``power`` (radial, of
    :func:`power_map`), ``spearman`` (between the two 2-D maps), ``sensitivity_map``, ``power_map``
    (``(H, W)``, channel-averaged, ``torch.fft`` layout) and ``power_exponent``.

    Examples
    --------
    >>> import torch
    >>> rep = frequency_report(lambda t: t.mean((1, 2, 3)), torch.rand(4, 1, 8, 8))
    >>> float(rep["sensitivity"][0]) > 0.0
    True
    """
    from scipy.stats import spearmanr

    x = as_tensor(x)
    s = sensitivity_map(model, x, **kwargs).mean(0)
    p = power_map(x.detach().cpu()).mean(0)
    fs, sr = radial_profile(s)
    _, pr = radial_profile(p)
    rho = spearmanr(s.flatten().numpy(), p.flatten().numpy()).statistic
    fpw, pw = radial_power_spectrum(x.detach().cpu())
    return {"freqs": fs, "sensitivity": sr, "power": pr, "spearman": float(rho),
            "sensitivity_map": s.numpy(), "power_map": p.numpy(),
            "power_exponent": fit_power_law(fpw, pw)}
