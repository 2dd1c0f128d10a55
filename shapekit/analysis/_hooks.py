"""Activation collection for any ``torch.nn.Module``: layers chosen by name, forward hooks, batches.

Shared by every tool in :mod:`shapekit.analysis`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from shapekit._device import default_device
from shapekit.errors import InputError


def layer_names(model: nn.Module) -> list[str]:
    """Names of all sub-modules of ``model`` (as accepted by :func:`collect_activations`)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    """Check ``layers`` against ``model.named_modules()``; ``None`` means every leaf module."""
    modules = dict(model.named_modules())
    if layers is None:
        return [n for n, m in modules.items() if n and not list(m.children())]
    unknown = [n for n in layers if n not in modules]
    if unknown:
        raise InputError(f"unknown layer(s) {unknown}; available: {layer_names(model)[:20]}...")
    return list(layers)


@contextlib.contextmanager
def eval_on(model: Any, device: torch.device) -> Iterator[None]:
    """Put an ``nn.Module`` in eval mode on ``device`` for the block; restore mode and device after.

    Anything that is not an ``nn.Module`` (a plain callable) passes through untouched.

    Examples
    --------
    >>> net = nn.Linear(2, 2).train()
    >>> with eval_on(net, torch.device("cpu")):
    ...     net.training
    False
    >>> net.training
    True
    """
    if not isinstance(model, nn.Module):
        yield
        return
    was_training = model.training
    home = next((p.device for p in model.parameters()), None)
    model.eval().to(device)
    try:
        yield
    finally:
        model.train(was_training)
        if home is not None:
            model.to(home)


@torch.no_grad()
def collect_activations(model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor],
                        layers: Sequence[str] | None = None, *, batch_size: int = 64,
                        device: str | torch.device | None = None, flatten: bool = True,
                        include_output: bool = False) -> dict[str, torch.Tensor]:
    """Run ``model`` over ``inputs`` in batches and return the outputs of the named layers.

    Parameters
    ----------
    model : nn.Module
        Any module; it is put in eval mode for the pass and restored afterwards.
    inputs : Tensor or iterable of Tensors
        A tensor of shape ``(N, ...)`` (split into ``batch_size`` chunks) or an iterable of batches
        (e.g. a DataLoader yielding tensors or ``(x, y)`` tuples: the first element is used).
    layers : sequence of str, optional
        Module names from ``model.named_modules()``; default: every leaf module.
    batch_size : int
        Batch size when ``inputs`` is a single tensor.
    device : str or torch.device, optional
        Where to run; default CUDA when present, else CPU. Activations are returned on CPU.
    flatten : bool
        Flatten each activation to ``(N, features)``.
    include_output : bool
        Also return the model output under the key ``"output"``.

    Returns
    -------
    dict of str to Tensor
        One ``(N, ...)`` CPU tensor per layer, in the order of ``layers``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> acts = collect_activations(net, torch.randn(10, 4), ["0", "2"])
    >>> [tuple(a.shape) for a in acts.values()]
    [(10, 8), (10, 2)]
    """
    names = resolve_layers(model, layers)
    dev = default_device(device) if device is None or isinstance(device, str) else device
    modules = dict(model.named_modules())
    store: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    outputs: list[torch.Tensor] = []

    def make_hook(name: str):
        def hook(_m: nn.Module, _inp: object, out: object) -> None:
            t = out[0] if isinstance(out, (tuple, list)) else out
            t = t.detach().float().cpu()
            store[name].append(t.flatten(1) if flatten else t)
        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        with eval_on(model, dev):
            batches: Iterable = (inputs.split(batch_size) if isinstance(inputs, torch.Tensor)
                                 else inputs)
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                out = model(x.to(dev))
                if include_output:
                    o = out.detach().float().cpu()
                    outputs.append(o.flatten(1) if flatten else o)
    finally:
        for h in handles:
            h.remove()
    result = {n: torch.cat(v) for n, v in store.items() if v}
    if include_output:
        result["output"] = torch.cat(outputs)
    return result
