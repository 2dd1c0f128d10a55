"""Neural frames: perturbation directions of one input pushed through a network's layers by JVPs.

A *neural frame* at input ``x`` is a set of tangent vectors ``v_i = gamma_i'(0)`` of perturbation
curves through ``x`` (small rotations, translations, blur, additive noise, or steps in a generator's
latent space). At layer ``l`` the frame is ``u_i = J_{F_l}(x) v_i``, computed exactly as Jacobian-
vector products with :func:`torch.func.jvp` batched over directions by :func:`torch.func.vmap`.
Per layer we report each direction's norm relative to random-noise directions (a scale-free gain:
invariance to a perturbation shows as a ratio falling towards 0), the numerical rank of the frame and
the principal angles between the augmentation frame and the noise frame.

For discrete group actions (90-degree rotations, integer circular shifts) :func:`secant_frame` gives
the finite frame ``F_l(g x) - F_l(x)``.

References
----------
.. [1] H. Kvinge, G. Jorgenson, D. Brown, C. Godfrey, T. Emerson, "Internal representations of vision
   models through the lens of frames on data manifolds", arXiv:2211.10558 (NeurReps 2023).
.. [2] A. Bjorck, G. Golub, "Numerical methods for computing angles between linear subspaces",
   Math. Comp. 27 (1973).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.linalg import subspace_angles
from torch import nn
from torch.func import jvp, vmap

from shapekit._device import default_device
from shapekit.analysis._hooks import as_tensor, eval_on, layers_that_ran, resolve_layers
from shapekit.errors import InputError

__all__ = ["rotation_tangent", "translation_tangent", "blur_tangent", "fourier_shift",
           "perturbation_directions", "frame_vectors", "secant_frame", "frame_statistics",
           "principal_angles", "neural_frames", "FRAME_KINDS"]

FRAME_KINDS = ("rotation", "translation", "blur", "scale", "noise")


def _image(x: torch.Tensor) -> torch.Tensor:
    if x.ndim < 2:
        raise InputError(f"expected an image tensor (..., H, W), got shape {tuple(x.shape)}")
    return x


def rotation_tangent(x: torch.Tensor) -> torch.Tensor:
    """Tangent of rotating the image about its centre, per radian, at angle 0.

    ``v = x * dI/dy - y * dI/dx`` with ``(x, y)`` = (column, row) offsets from the centre and
    central-difference gradients (one-sided at the border); the direction of
    ``scipy.ndimage.rotate`` with a positive angle.

    Examples
    --------
    >>> img = torch.zeros(9, 9); img[4, 4] = 1.0
    >>> float(rotation_tangent(img).abs().max())  # a centred dot does not change under rotation
    0.0
    """
    x = _image(x)
    h, w = x.shape[-2:]
    gy, gx = torch.gradient(x, dim=(-2, -1))
    yy = torch.arange(h, dtype=x.dtype, device=x.device).reshape(-1, 1) - (h - 1) / 2
    xx = torch.arange(w, dtype=x.dtype, device=x.device).reshape(1, -1) - (w - 1) / 2
    return xx * gy - yy * gx


def fourier_shift(x: torch.Tensor, t: torch.Tensor | float, axis: int = -1) -> torch.Tensor:
    """Circular sub-pixel shift of ``x`` by ``t`` pixels along ``axis`` (band-limited interpolation).

    Differentiable in ``t``; integer ``t`` equals :func:`torch.roll`.

    Examples
    --------
    >>> x = torch.arange(8.0)
    >>> torch.allclose(fourier_shift(x, 2.0), torch.roll(x, 2), atol=1e-5)
    True
    """
    n = x.shape[axis]
    k = torch.fft.fftfreq(n, device=x.device, dtype=torch.float64 if x.dtype == torch.float64
                          else torch.float32)
    shape = [1] * x.ndim
    shape[axis] = n
    phase = torch.exp(-2j * torch.pi * k.reshape(shape) * torch.as_tensor(t, dtype=k.dtype))
    return torch.fft.ifft(torch.fft.fft(x, dim=axis) * phase, dim=axis).real.to(x.dtype)


def translation_tangent(x: torch.Tensor, axis: int = -1) -> torch.Tensor:
    """Tangent of :func:`fourier_shift` at ``t = 0``: the spectral derivative ``-dI/daxis``.

    Examples
    --------
    >>> p = 2 * torch.pi * torch.arange(16, dtype=torch.float64) / 16
    >>> v = translation_tangent(torch.sin(p))
    >>> bool(torch.allclose(v, -2 * torch.pi / 16 * torch.cos(p)))
    True
    """
    n = x.shape[axis]
    k = torch.fft.fftfreq(n, device=x.device, dtype=torch.float64)
    if n % 2 == 0:
        k[n // 2] = 0.0  # the Nyquist term has no odd derivative
    shape = [1] * x.ndim
    shape[axis] = n
    mult = -2j * torch.pi * k.reshape(shape)
    return torch.fft.ifft(torch.fft.fft(x.double(), dim=axis) * mult, dim=axis).real.to(x.dtype)


def blur_tangent(x: torch.Tensor) -> torch.Tensor:
    """Tangent of Gaussian blur: the discrete Laplacian (reflecting border), ``d/dt exp(t L) x`` at 0.

    Blurring with a Gaussian of variance ``s^2`` is the heat flow ``exp(t L)`` with ``t = s^2 / 2``.

    Examples
    --------
    >>> blur_tangent(torch.ones(5, 5)).abs().max().item()  # a flat image does not change
    0.0
    """
    x = _image(x)
    lead = x.shape[:-2]
    flat = x.reshape(-1, 1, *x.shape[-2:])
    pad = F.pad(flat, (1, 1, 1, 1), mode="replicate")
    lap = (pad[..., :-2, 1:-1] + pad[..., 2:, 1:-1] + pad[..., 1:-1, :-2] + pad[..., 1:-1, 2:]
           - 4 * flat)
    return lap.reshape(*lead, *x.shape[-2:])


def _scale_tangent(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    gy, gx = torch.gradient(x, dim=(-2, -1))
    yy = torch.arange(h, dtype=x.dtype, device=x.device).reshape(-1, 1) - (h - 1) / 2
    xx = torch.arange(w, dtype=x.dtype, device=x.device).reshape(1, -1) - (w - 1) / 2
    return -(xx * gx + yy * gy)


def perturbation_directions(x: torch.Tensor, kinds: Sequence[str] = ("rotation", "translation",
                                                                   "blur", "noise"), *,
                            n_noise: int = 8, seed: int = 0,
                            normalize: bool = True) -> tuple[list[str], torch.Tensor]:
    """Input-space frame of one image ``x`` (shape ``(C, H, W)`` or ``(H, W)``).

    ``translation`` gives two directions (``translation_x``, ``translation_y``), ``noise`` gives
    ``n_noise`` Gaussian directions (``noise_0`` ...); with ``normalize`` every direction has unit
    norm, so layer norms are gains.

    Returns
    -------
    names : list of str
    directions : Tensor, shape (m, *x.shape)

    Examples
    --------
    >>> names, V = perturbation_directions(torch.rand(1, 8, 8), n_noise=2)
    >>> names, tuple(V.shape)
    (['rotation', 'translation_x', 'translation_y', 'blur', 'noise_0', 'noise_1'], (6, 1, 8, 8))
    """
    x = as_tensor(x)
    unknown = [k for k in kinds if k not in FRAME_KINDS]
    if unknown:
        raise InputError(f"unknown perturbation kind(s) {unknown}; choose from {list(FRAME_KINDS)}")
    names, vecs = [], []
    for kind in kinds:
        if kind == "rotation":
            names.append("rotation"); vecs.append(rotation_tangent(x))
        elif kind == "translation":
            names += ["translation_x", "translation_y"]
            vecs += [translation_tangent(x, -1), translation_tangent(x, -2)]
        elif kind == "blur":
            names.append("blur"); vecs.append(blur_tangent(x))
        elif kind == "scale":
            names.append("scale"); vecs.append(_scale_tangent(x))
        else:
            g = torch.Generator().manual_seed(seed)
            for i in range(n_noise):
                names.append(f"noise_{i}")
                vecs.append(torch.randn(x.shape, generator=g, dtype=torch.float64).to(x))
    V = torch.stack(vecs)
    if normalize:
        norms = V.flatten(1).norm(dim=1).clamp_min(torch.finfo(V.dtype).tiny)
        V = V / norms.reshape(-1, *[1] * (V.ndim - 1))
    return names, V


def _first(o: object) -> torch.Tensor:
    return o[0] if isinstance(o, (tuple, list)) else o  # type: ignore[return-value]


def _layers_run(model: nn.Module, x0: torch.Tensor, names: list[str], extra: tuple,
                explicit: bool) -> list[str]:
    """The layers of ``names`` that one plain forward pass of ``x0`` runs (see ``layers_that_ran``)."""
    modules = dict(model.named_modules())
    calls = dict.fromkeys(names, 0)
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, _o, n=n: calls.__setitem__(n, calls[n] + 1)) for n in names]
    try:
        with torch.no_grad():
            model(x0.unsqueeze(0), *extra)
    except (RuntimeError, ValueError) as e:  # most often a batch of inputs passed as x
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"the model failed on x[None] (x of shape {tuple(x0.shape)}): {first}; "
                         f"x is one input without its batch dimension (an image (C, H, W), a "
                         f"latent vector (d,))") from e
    finally:
        for h in hooks:
            h.remove()
    return layers_that_ran(names, calls, 1, explicit)


def _layer_fn(model: nn.Module, names: list[str], extra: tuple) -> Callable:
    modules = dict(model.named_modules())

    def f(inp: torch.Tensor) -> tuple[torch.Tensor, ...]:
        store: dict[str, torch.Tensor] = {}
        hooks = [modules[n].register_forward_hook(
            # a copy: an in-place op later in forward (ReLU(inplace=True)) would rewrite it
            lambda _m, _i, o, n=n: store.__setitem__(n, _first(o).clone()))
            for n in names]
        try:
            out = model(inp.unsqueeze(0), *extra)
        finally:
            for h in hooks:
                h.remove()
        out = out[0] if isinstance(out, (tuple, list)) else out
        return tuple(store[n][0] for n in names) + (out[0],)
    return f


def frame_vectors(model: nn.Module, x: torch.Tensor, directions: torch.Tensor,
                  layers: Sequence[str] | None = None, *, extra_inputs: tuple = (),
                  chunk_size: int = 16, device: str | None = None) -> dict[str, torch.Tensor]:
    """Push ``directions`` at ``x`` through ``model``: ``u_i = J_{F_l}(x) v_i`` for every named layer.

    Parameters
    ----------
    model : nn.Module
        Run in eval mode (restored afterwards); dtype follows its parameters (use ``.double()`` for
        float64 checks). Called as ``model(x[None], *extra_inputs)``.
    x : Tensor
        One input, without batch dimension (an image ``(C, H, W)``, or a latent vector); a batch
        is an :class:`~shapekit.errors.InputError`.
    directions : Tensor, shape (m, *x.shape)
    layers : sequence of str, optional
        Names from ``model.named_modules()`` (one that ``forward`` never calls is an error);
        default every leaf module that runs once per forward.
    extra_inputs : tuple
        Further fixed model arguments (e.g. a GAN condition, with batch dimension 1).
    chunk_size : int
        Directions per vmapped JVP (memory bound).
    device : str, optional

    Returns
    -------
    dict of str to Tensor
        ``"input"``, each layer and ``"output"``: the ``(m, features)`` frame, on CPU.

    Examples
    --------
    >>> lin = nn.Sequential(nn.Linear(3, 2))
    >>> U = frame_vectors(lin, torch.randn(3), torch.eye(3), ["0"])
    >>> bool(torch.allclose(U["0"], lin[0].weight.T.detach()))
    True
    """
    x, directions = as_tensor(x), as_tensor(directions, "directions")
    names = resolve_layers(model, layers)
    dev = default_device(device)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    if x.ndim > 1 and directions.shape[1:] == x.shape[1:]:
        raise InputError(f"directions of shape {tuple(directions.shape)} fit one input of shape "
                         f"{tuple(x.shape[1:])}, but x has shape {tuple(x.shape)}: pass one "
                         f"input without its batch dimension (x[i])")
    if directions.shape[1:] != x.shape:
        raise InputError(f"directions must have shape (m, {tuple(x.shape)}), got {tuple(directions.shape)}")
    x0 = x.to(dev, dtype)
    extra = tuple(e.to(dev) if isinstance(e, torch.Tensor) else e for e in extra_inputs)
    chunks: list[tuple[torch.Tensor, ...]] = []
    with eval_on(model, dev), warnings.catch_warnings():
        names = _layers_run(model, x0, names, extra, explicit=layers is not None)
        f = _layer_fn(model, names, extra)
        # torch's first forward-AD call scripts its decompositions
        warnings.simplefilter("ignore", DeprecationWarning)
        for V in directions.to(dev, dtype).split(max(1, chunk_size)):
            chunks.append(vmap(lambda v: jvp(f, (x0,), (v,))[1], randomness="same")(V))
    out = {"input": directions.flatten(1).detach().cpu()}
    for i, n in enumerate([*names, "output"]):
        out[n] = torch.cat([c[i] for c in chunks]).flatten(1).detach().cpu()
    return out


@torch.no_grad()
def secant_frame(model: nn.Module, x: torch.Tensor, transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]],
                 layers: Sequence[str] | None = None, *, device: str | None = None) -> dict[str, torch.Tensor]:
    """Finite frame ``F_l(g x) - F_l(x)`` for discrete transforms ``g`` (flips, 90-degree rotations).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="circular"), nn.ReLU(),
    ...                     nn.AdaptiveAvgPool2d(1))
    >>> U = secant_frame(net, torch.rand(1, 6, 6), [lambda t: torch.roll(t, 1, -1)], ["1", "2"])
    >>> float(U["2"].abs().max()) < 1e-6 < float(U["1"].abs().max())
    True
    """
    from shapekit.analysis._hooks import collect_activations

    x = as_tensor(x)
    xs = torch.stack([x, *[g(x) for g in transforms]])
    acts = collect_activations(model, xs, layers, batch_size=len(xs), device=device,
                               include_output=True)
    return {k: (v[1:] - v[:1]).double() for k, v in acts.items()}


def principal_angles(U: torch.Tensor | np.ndarray, V: torch.Tensor | np.ndarray) -> np.ndarray:
    """Principal angles (degrees, ascending) between the spans of the rows of ``U`` and of ``V``.

    Examples
    --------
    >>> principal_angles(np.array([[1.0, 0, 0]]), np.array([[1.0, 1.0, 0]])).round(6).tolist()
    [45.0]
    """
    a = np.asarray(U, float).reshape(len(U), -1).T
    b = np.asarray(V, float).reshape(len(V), -1).T
    if not (np.abs(a).max(initial=0) > 0 and np.abs(b).max(initial=0) > 0):
        return np.full(min(a.shape[1], b.shape[1]), 90.0)
    return np.sort(np.degrees(subspace_angles(a, b)))


def frame_statistics(frames: dict[str, torch.Tensor], names: Sequence[str], *,
                     noise_prefix: str = "noise", rtol: float = 1e-6) -> list[dict[str, object]]:
    """Per-layer summary of a frame from :func:`frame_vectors`.

    For each layer: ``norms`` (per direction), ``relative_norms`` (divided by the mean norm of the
    noise directions at that layer; ``None`` without noise directions), ``rank`` (numerical rank of
    the non-noise frame: singular values above ``rtol`` times the largest singular value or the mean
    noise-direction norm, whichever is larger),
    ``effective_rank`` (exp of the entropy of the normalised singular values) and ``angles_to_noise``
    (principal angles in degrees between the non-noise and noise frames).

    Examples
    --------
    >>> fr = {"a": torch.tensor([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 1.0]])}
    >>> s = frame_statistics(fr, ["rot", "blur", "noise_0"])[0]
    >>> s["relative_norms"], s["rank"]
    ({'rot': 1.0, 'blur': 2.0}, 2)
    """
    is_noise = np.array([n.startswith(noise_prefix) for n in names])
    rows = []
    for layer, U in frames.items():
        U = U.double().numpy()
        if len(U) != len(names):
            raise InputError(f"layer {layer!r} has {len(U)} frame vectors for {len(names)} names")
        norms = np.linalg.norm(U, axis=1)
        noise_mean = float(norms[is_noise].mean()) if is_noise.any() else None
        aug = U[~is_noise]
        sv = np.linalg.svd(aug, compute_uv=False) if len(aug) else np.zeros(0)
        top = float(sv.max(initial=0.0))
        ref = max(top, noise_mean or 0.0)  # vectors negligible next to the noise response are 0
        rank = int((sv > rtol * ref).sum()) if top > 0 else 0
        p = sv / sv.sum() if top > 0 else sv
        eff = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum())) if top > 0 else 0.0
        rel = None
        if noise_mean is not None:
            rel = {n: (float(v / noise_mean) if noise_mean > 0 else 0.0)
                   for n, v, z in zip(names, norms, is_noise) if not z}
        angles = (principal_angles(aug, U[is_noise]).tolist()
                  if len(aug) and is_noise.any() else [])
        rows.append({"layer": layer, "norms": dict(zip(names, norms.tolist())),
                     "relative_norms": rel, "rank": rank, "effective_rank": eff,
                     "angles_to_noise": angles})
    return rows


def neural_frames(model: nn.Module, x: torch.Tensor, layers: Sequence[str] | None = None, *,
                  kinds: Sequence[str] = ("rotation", "translation", "blur", "noise"),
                  n_noise: int = 8, seed: int = 0, device: str | None = None) -> list[dict[str, object]]:
    """Neural-frame report of one image: :func:`perturbation_directions` -> :func:`frame_vectors`
    -> :func:`frame_statistics`.

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    >>> rows = neural_frames(net, torch.rand(1, 12, 12), ["1", "2"], n_noise=4)
    >>> [r["layer"] for r in rows]
    ['input', '1', '2', 'output']
    """
    x = as_tensor(x)
    names, V = perturbation_directions(x.double(), kinds, n_noise=n_noise, seed=seed)
    return frame_statistics(frame_vectors(model, x, V, layers, device=device), names)
