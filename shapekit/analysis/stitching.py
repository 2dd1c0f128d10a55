"""Model stitching: an affine layer trained between frozen layers of two models.

The stitched model is ``B_{>l_b} o S o A_{<=l_a}``: model ``A`` runs up to layer ``l_a``, an affine
stitch ``S`` (a 1x1 convolution on feature maps, a linear map on vectors) maps its activations into
the space of ``B``'s layer ``l_b``, and ``B`` finishes the computation. Only ``S`` is trained (task
loss on ``B``'s output). If ``S`` reaches ``B``'s own accuracy, the two representations agree up to
an affine map; the *stitching penalty* is ``acc(B) - acc(stitched)``. Inputs of the two models may
differ (a raw micrograph for ``A``, its persistence image for ``B``): pass paired examples.

The stitch replaces the output of ``B``'s layer ``l_b`` through a forward hook, so everything
after ``l_b`` in ``B`` must depend on the input only through that layer (true for sequential nets and
for stitch points between residual blocks, not inside a skip connection).

References
----------
.. [1] K. Lenc, A. Vedaldi, "Understanding image representations by measuring their equivariance and
   equivalence", CVPR (2015).
.. [2] Y. Bansal, P. Nakkiran, B. Barak, "Revisiting model stitching to compare neural
   representations", NeurIPS (2021).
.. [3] A. Csiszarik, P. Korosi-Szabo, A. Matszangosz, G. Papp, D. Varga, "Similarity and matching of
   neural network representations", NeurIPS (2021).
.. [4] S. McGuire, S. Jackson, T. Emerson, H. Kvinge, "Do neural networks trained with topological
   features learn different internal representations?", PMLR 197 (2023), arXiv:2211.07697.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from shapekit._device import default_device, seeded
from shapekit._progress import progress
from shapekit.analysis._hooks import as_tensor, eval_on, resolve_layers
from shapekit.errors import InputError

__all__ = ["StitchLayer", "StitchedModel", "fit_stitch", "accuracy", "stitching_report"]


class _Stop(Exception):
    pass


def _first(o: object) -> torch.Tensor:
    return o[0] if isinstance(o, (tuple, list)) else o  # type: ignore[return-value]


def _replace_first(o: object, s: torch.Tensor) -> object:
    """``o`` with its first tensor (the one :func:`_first` reads) replaced by ``s``, same structure.

    A layer returning ``(h, extra)`` keeps returning a tuple, so ``h, extra = layer(x)`` in the
    model's forward still unpacks (a bare tensor would be unpacked along the batch axis).
    """
    if isinstance(o, tuple):
        return (s, *o[1:])
    if isinstance(o, list):
        return [s, *o[1:]]
    return s


class StitchLayer(nn.Module):
    """Affine map between two layers' activations: 1x1 conv (4-D maps) or linear (vectors).

    Spatial sizes are matched by bilinear resizing to ``out_size`` when they differ.

    Parameters
    ----------
    in_features, out_features : int
        Channels (maps) or features (vectors).
    spatial : bool
        1x1 convolution on ``(N, C, H, W)`` maps rather than a linear map on ``(N, F)``.
    out_size : (int, int), optional
        Target ``(H, W)`` of the maps.
    init : {"identity", "random"}
        ``identity`` (needs equal widths) makes the stitched model equal ``B`` when ``A = B``.

    Examples
    --------
    >>> s = StitchLayer(3, 3, spatial=True)
    >>> x = torch.randn(2, 3, 4, 4)
    >>> bool(torch.equal(s(x), x))
    True
    """

    def __init__(self, in_features: int, out_features: int, *, spatial: bool = True,
                 out_size: tuple[int, int] | None = None, init: str = "identity") -> None:
        super().__init__()
        self.spatial, self.out_size = spatial, out_size
        self.map = (nn.Conv2d(in_features, out_features, 1) if spatial
                    else nn.Linear(in_features, out_features))
        if init == "identity":
            if in_features != out_features:
                raise InputError(f"identity init needs equal widths, got {in_features} -> {out_features}")
            with torch.no_grad():
                self.map.weight.copy_(torch.eye(in_features).reshape(self.map.weight.shape))
                self.map.bias.zero_()
        elif init != "random":
            raise InputError(f"unknown stitch init {init!r}; choose 'identity' or 'random'")

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.spatial:
            if self.out_size is not None and tuple(h.shape[-2:]) != tuple(self.out_size):
                h = F.interpolate(h, size=self.out_size, mode="bilinear", align_corners=False)
            return self.map(h)
        return self.map(h.flatten(1))

    @torch.no_grad()
    def init_least_squares(self, h_a: torch.Tensor, h_b: torch.Tensor, ridge: float = 1e-6) -> None:
        """Set the map to the ridge least-squares affine fit of ``h_b`` from ``h_a`` (paired)."""
        if self.spatial:
            if self.out_size is not None and tuple(h_a.shape[-2:]) != tuple(self.out_size):
                h_a = F.interpolate(h_a, size=self.out_size, mode="bilinear", align_corners=False)
            xa = h_a.permute(0, 2, 3, 1).reshape(-1, h_a.shape[1])
            xb = h_b.permute(0, 2, 3, 1).reshape(-1, h_b.shape[1])
        else:
            xa, xb = h_a.flatten(1), h_b.flatten(1)
        xa, xb = xa.double(), xb.double()
        ma, mb = xa.mean(0), xb.mean(0)
        A, B = xa - ma, xb - mb
        gram = A.T @ A + ridge * len(A) * torch.eye(A.shape[1], dtype=A.dtype, device=A.device)
        W = torch.linalg.solve(gram, A.T @ B).T  # (out, in)
        self.map.weight.copy_(W.reshape(self.map.weight.shape).to(self.map.weight))
        self.map.bias.copy_((mb - W @ ma).to(self.map.bias))


class StitchedModel(nn.Module):
    """``B_{>layer_b} o stitch o A_{<=layer_a}`` with ``A`` and ``B`` frozen.

    Parameters
    ----------
    model_a, model_b : nn.Module
        Frozen (``requires_grad`` is not changed; only the stitch is handed to the optimiser), run in
        eval mode.
    layer_a, layer_b : str
        Names from ``named_modules()``.
    sample_a, sample_b : Tensor
        A small batch of inputs for each model (to read the layer shapes); ``sample_b`` defaults to
        ``sample_a``.
    init : {"auto", "identity", "random"}
        ``auto``: identity when the widths agree, else random (use :func:`fit_stitch` with
        ``init="lstsq"`` for a least-squares start).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x = torch.randn(5, 4)
    >>> st = StitchedModel(net, net, "1", "1", x)
    >>> bool(torch.allclose(st(x), net(x)))
    True
    """

    def __init__(self, model_a: nn.Module, model_b: nn.Module, layer_a: str, layer_b: str,
                 sample_a: torch.Tensor, sample_b: torch.Tensor | None = None, *,
                 init: str = "auto") -> None:
        super().__init__()
        sample_a = as_tensor(sample_a, "sample_a")
        sample_b = None if sample_b is None else as_tensor(sample_b, "sample_b")
        resolve_layers(model_a, [layer_a])
        resolve_layers(model_b, [layer_b])
        self.model_a, self.model_b = model_a, model_b
        self.layer_a, self.layer_b = layer_a, layer_b
        self._mod_a = dict(model_a.named_modules())[layer_a]
        self._mod_b = dict(model_b.named_modules())[layer_b]
        with torch.no_grad():
            ha = self.features_a(sample_a)
            hb = self.features_b(sample_a if sample_b is None else sample_b)
        if (ha.ndim == 4) != (hb.ndim == 4):
            raise InputError(f"cannot stitch {layer_a!r} {tuple(ha.shape[1:])} to "
                             f"{layer_b!r} {tuple(hb.shape[1:])}: one is a feature map, one is not")
        spatial = ha.ndim == 4
        cin, cout = (ha.shape[1], hb.shape[1]) if spatial else (ha[0].numel(), hb[0].numel())
        if init == "auto":
            init = "identity" if cin == cout else "random"
        self.out_shape = tuple(hb.shape[1:])
        self.stitch = StitchLayer(cin, cout, spatial=spatial,
                                  out_size=tuple(hb.shape[-2:]) if spatial else None, init=init)

    def _capture(self, model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        box: list[torch.Tensor] = []

        def hook(_m, _i, o):
            box.append(_first(o))
            raise _Stop

        h = module.register_forward_hook(hook)
        was = model.training
        model.eval()
        try:
            model(x)
        except _Stop:
            pass
        finally:
            h.remove()
            model.train(was)
        if not box:
            raise InputError("the stitch layer was never reached in the forward pass")
        return box[0]

    def features_a(self, x: torch.Tensor) -> torch.Tensor:
        """Activations of ``layer_a`` (``A`` stops there)."""
        return self._capture(self.model_a, self._mod_a, x)

    def features_b(self, x: torch.Tensor) -> torch.Tensor:
        """Activations of ``layer_b`` of the unstitched ``B``."""
        return self._capture(self.model_b, self._mod_b, x)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the stitched model; ``x_b`` feeds ``B``'s (discarded) early layers."""
        s = self.stitch(self.features_a(x_a))
        if s.shape[1:] != self.out_shape:
            s = s.reshape(len(s), *self.out_shape)
        h = self._mod_b.register_forward_hook(lambda _m, _i, o: _replace_first(o, s))
        was = self.model_b.training
        self.model_b.eval()
        try:
            out = self.model_b(x_a if x_b is None else x_b)
        finally:
            h.remove()
            self.model_b.train(was)
        return _first(out)


@contextlib.contextmanager
def _placed(model: nn.Module, dev: torch.device) -> Iterator[None]:
    """Run ``model`` on ``dev`` in eval mode for the block; afterwards every part (the two models
    and the stitch of a :class:`StitchedModel`) is back on its own device, in its own mode.
    """
    parts = ([model.model_a, model.model_b, model.stitch] if isinstance(model, StitchedModel)
             else [model])
    with contextlib.ExitStack() as stack:
        for part in parts:  # the same model twice (A = B): restored last-in first-out
            stack.enter_context(eval_on(part, dev))
        yield


def _batches(n: int, bs: int, gen: torch.Generator | None):
    idx = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    return idx.split(bs)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_b: torch.Tensor | None = None, *,
             batch_size: int = 256, device: str | None = None) -> float:
    """Top-1 accuracy of ``model`` (a plain model or a :class:`StitchedModel` with ``x_b``).

    The model runs in eval mode on ``device`` (default CUDA when present); afterwards it is back on
    its own device, in its own mode.

    Examples
    --------
    >>> net = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.eye(2)); _ = net.bias.zero_()
    >>> accuracy(net, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1]))
    1.0
    """
    x, y = as_tensor(x), as_tensor(y, "y")
    x_b = None if x_b is None else as_tensor(x_b, "x_b")
    dev = default_device(device)
    correct = 0
    with _placed(model, dev):
        for idx in _batches(len(x), batch_size, None):
            args = (x[idx].to(dev),) if x_b is None else (x[idx].to(dev), x_b[idx].to(dev))
            correct += int((model(*args).argmax(1).cpu() == y[idx]).sum())
    return correct / max(len(x), 1)


def fit_stitch(stitched: StitchedModel, x_a: torch.Tensor, y: torch.Tensor,
               x_b: torch.Tensor | None = None, *, init: str | None = None, epochs: int = 10,
               lr: float = 1e-3, batch_size: int = 64, weight_decay: float = 0.0, seed: int = 0,
               device: str | None = None) -> list[float]:
    """Train only the stitch (Adam, cross-entropy on ``B``'s logits); returns the loss per epoch.

    ``init="lstsq"`` first sets the stitch to the least-squares fit of ``B``'s layer from ``A``'s on
    (up to 512 of) the training examples. Training runs on ``device`` (default CUDA when present);
    afterwards the models and the stitch are back on their own devices, in their own modes. The
    result depends only on ``seed``; torch's global random state is left as it was.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> st = StitchedModel(net, net, "1", "1", x)
    >>> losses = fit_stitch(st, x, y, epochs=2)
    >>> len(losses)
    2
    """
    if init not in (None, "lstsq"):
        raise InputError(f"unknown init {init!r}; use None (keep) or 'lstsq'")
    x_a, y = as_tensor(x_a, "x_a"), as_tensor(y, "y")
    x_b = None if x_b is None else as_tensor(x_b, "x_b")
    dev = default_device(device)
    with _placed(stitched, dev), seeded(seed, dev):
        return _fit(stitched, x_a, y, x_b, init, epochs, lr, batch_size, weight_decay, seed, dev)


def _fit(stitched: StitchedModel, x_a: torch.Tensor, y: torch.Tensor, x_b: torch.Tensor | None,
         init: str | None, epochs: int, lr: float, batch_size: int, weight_decay: float, seed: int,
         dev: torch.device) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    if init == "lstsq":
        sel = torch.randperm(len(x_a), generator=gen)[:512]
        with torch.no_grad():
            ha = stitched.features_a(x_a[sel].to(dev))
            hb = stitched.features_b((x_a if x_b is None else x_b)[sel].to(dev))
        stitched.stitch.init_least_squares(ha, hb)
    opt = torch.optim.Adam(stitched.stitch.parameters(), lr=lr, weight_decay=weight_decay)
    losses: list[float] = []
    stitched.stitch.train()
    frozen = [p for m in (stitched.model_a, stitched.model_b) for p in m.parameters()]
    flags = [p.requires_grad for p in frozen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        _train_epochs(stitched, opt, x_a, y, x_b, epochs, batch_size, gen, dev, losses)
    finally:
        for p, f in zip(frozen, flags):
            p.requires_grad_(f)
    return losses


def _train_epochs(stitched: StitchedModel, opt: torch.optim.Optimizer, x_a: torch.Tensor,
                  y: torch.Tensor, x_b: torch.Tensor | None, epochs: int, batch_size: int,
                  gen: torch.Generator, dev: torch.device, losses: list[float]) -> None:
    for _ in progress(range(epochs), desc="stitch"):
        total, count = 0.0, 0
        for idx in _batches(len(x_a), batch_size, gen):
            xa = x_a[idx].to(dev)
            xb = None if x_b is None else x_b[idx].to(dev)
            loss = F.cross_entropy(stitched(xa, xb), y[idx].to(dev))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        losses.append(total / max(count, 1))


def stitching_report(model_a: nn.Module, model_b: nn.Module, layer_a: str, layer_b: str,
                     train: tuple[torch.Tensor, ...], test: tuple[torch.Tensor, ...], *,
                     init: str = "auto", epochs: int = 10, lr: float = 1e-3, batch_size: int = 64,
                     seed: int = 0, device: str | None = None) -> dict[str, float | str]:
    """Train a stitch ``A[layer_a] -> B[layer_b]`` and compare accuracies on ``test``.

    ``train``/``test`` are ``(x_a, y)`` or ``(x_a, y, x_b)`` (paired inputs when the models read
    different representations). ``init``: ``auto`` (identity when widths agree, else least squares),
    ``identity``, ``lstsq`` or ``random``. The result depends only on ``seed``: torch's global
    random state is left as it was. The models are back on their own devices and in their own
    modes afterwards.

    Returns
    -------
    dict
        ``acc_a``, ``acc_b``, ``acc_stitched``, ``penalty`` (``acc_b - acc_stitched``),
        ``penalty_vs_a`` and the final training loss.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> r = stitching_report(net, net, "1", "1", (x, y), (x, y), epochs=0)
    >>> r["penalty"]
    0.0
    """
    xa, y, *xb = (as_tensor(v, f"train[{i}]") for i, v in enumerate(train))
    ta, ty, *tb = (as_tensor(v, f"test[{i}]") for i, v in enumerate(test))
    xb, tb = (xb[0] if xb else None), (tb[0] if tb else None)
    base = "random" if init in ("lstsq", "random") else init
    with seeded(seed):  # a random stitch depends on seed only, not on the caller's RNG
        st = StitchedModel(model_a, model_b, layer_a, layer_b, xa[:8],
                           None if xb is None else xb[:8], init=base)
    lstsq = init == "lstsq" or (init == "auto" and st.stitch.map.weight.shape[0]
                                != st.stitch.map.weight.shape[1])
    losses = fit_stitch(st, xa, y, xb, init="lstsq" if lstsq else None, epochs=epochs, lr=lr,
                        batch_size=batch_size, seed=seed, device=device)
    acc_a = accuracy(model_a, ta, ty, device=device)
    acc_b = accuracy(model_b, ta if tb is None else tb, ty, device=device)
    acc_s = accuracy(st, ta, ty, tb, device=device)
    return {"layer_a": layer_a, "layer_b": layer_b, "acc_a": acc_a, "acc_b": acc_b,
            "acc_stitched": acc_s, "penalty": acc_b - acc_s, "penalty_vs_a": acc_a - acc_s,
            "final_loss": losses[-1] if losses else float("nan")}
