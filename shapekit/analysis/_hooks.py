"""Activation collection for any ``torch.nn.Module``: layers chosen by name, forward hooks, batches.

Shared by every tool in :mod:`shapekit.analysis`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from shapekit._device import default_device
from shapekit.errors import InputError


def layer_names(model: nn.Module) -> list[str]:
    """Names of all sub-modules of ``model`` (as accepted by :func:`collect_activations`)."""
    return [name for name, _ in model.named_modules() if name]


def resolve_layers(model: nn.Module, layers: Sequence[str] | str | None) -> list[str]:
    """Check ``layers`` against ``model.named_modules()``; ``None`` means every leaf module.

    A single string is one layer name (not a sequence of one-letter names).

    Examples
    --------
    >>> resolve_layers(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), "1")
    ['1']
    """
    modules = dict(model.named_modules())
    if layers is None:
        return [n for n, m in modules.items() if n and not list(m.children())]
    if isinstance(layers, str):
        layers = [layers]
    unknown = [n for n in layers if n not in modules]
    if unknown:
        import difflib

        names = layer_names(model)
        hints = [f"{n!r} (did you mean {' or '.join(map(repr, m))}?)"
                 if (m := difflib.get_close_matches(n, names, 3)) else repr(n) for n in unknown]
        listed = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise InputError(f"unknown layer(s) {', '.join(hints)}; the model's layers "
                         f"(named_modules): {listed}")
    return list(layers)


def layers_that_ran(names: Sequence[str], calls: dict[str, int], n_forward: int,
                    explicit: bool) -> list[str]:
    """The layers of ``names`` whose hook fired once per forward pass (``calls[name]`` times in all).

    A layer that never ran (defined in ``__init__`` but not called by ``forward``), or ran a
    different number of times than ``n_forward`` (a module used twice in one forward pass, or only
    for some inputs: its outputs cannot be paired with the inputs), is an error when the user named
    it (``explicit``) and is left out otherwise (``layers=None``: every leaf module).

    Examples
    --------
    >>> layers_that_ran(["a", "b", "c"], {"a": 2, "b": 0, "c": 4}, 2, explicit=False)
    ['a']
    """
    if n_forward == 0:
        raise InputError("no inputs: the model was never run")
    if not explicit:
        return [n for n in names if calls.get(n) == n_forward]
    missing = [n for n in names if not calls.get(n)]
    if missing:
        raise InputError(f"layer(s) {missing} never ran in the model's forward pass (defined but "
                         f"not called); choose layers that forward() uses")
    uneven = {n: calls[n] for n in names if calls[n] != n_forward}
    if uneven:
        n, k = next(iter(uneven.items()))
        raise InputError(f"layer {n!r} ran {k} times in {n_forward} forward pass(es): its outputs "
                         f"cannot be paired with the inputs (a module used more than once per "
                         f"forward, or only for some inputs); choose another layer")
    return list(names)


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


def as_tensor(x: Any, what: str = "x") -> torch.Tensor:
    """``x`` as a tensor: a tensor as it is, a numpy array converted (sharing its memory where it
    can); anything else is refused with one line, not an ``AttributeError`` from deep inside.

    Examples
    --------
    >>> as_tensor(np.zeros((2, 1, 4, 4), np.float32)).shape
    torch.Size([2, 1, 4, 4])
    >>> as_tensor([[0.0]], "inputs")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: inputs must be a torch tensor or a numpy array, got list
    """
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return torch.from_numpy(np.ascontiguousarray(x))
    kind = f"a numpy array of {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
    raise InputError(f"{what} must be a torch tensor or a numpy array, got {kind}")


def model_input(model: Any, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``, in the dtype of the model's floating-point parameters when it has any.

    A float64 model then accepts float32 inputs (and the reverse), as :func:`frame_vectors` and
    :func:`sensitivity_map` do; integer inputs (token ids) and plain callables keep their dtype.

    Examples
    --------
    >>> model_input(nn.Linear(2, 2).double(), torch.zeros(1, 2), torch.device("cpu")).dtype
    torch.float64
    """
    x = as_tensor(x, "a batch of inputs")
    params = model.parameters() if isinstance(model, nn.Module) else iter(())
    dtype = next((p.dtype for p in params if p.is_floating_point()), None)
    if dtype is None or not x.is_floating_point():
        return x.to(device)
    return x.to(device, dtype)


def activation_budget(max_bytes: int | None) -> int:
    """Bytes the recorded activations may take: ``max_bytes``, or half the available RAM."""
    if max_bytes is None:
        from shapekit.topology.torch_batch import memory_budget

        return memory_budget(torch.device("cpu"))
    if max_bytes <= 0:
        raise InputError(f"max_bytes must be positive, got {max_bytes}")
    return int(max_bytes)


def _n_inputs(inputs: object) -> int | None:
    """Number of inputs when known before the pass (a tensor, a DataLoader over a sized dataset)."""
    if isinstance(inputs, torch.Tensor):
        return len(inputs)
    try:
        return len(inputs.dataset)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # unreachable


def check_activation_budget(used: int, seen: int, n_total: int | None, budget: int,
                            n_layers: int) -> None:
    """Refuse (``InputError``) when ``used`` bytes for the first ``seen`` of ``n_total`` inputs
    project past ``budget``."""
    expected = used if not n_total or not seen else max(used, used * n_total // seen)
    if expected > budget:
        what = f"{n_total} inputs" if n_total else f"the first {seen} inputs"
        raise InputError(f"the activations of {n_layers} layer(s) would take {_size(expected)} "
                         f"for {what} ({_size(used / max(seen, 1))} per input), over the "
                         f"{_size(budget)} allowed (max_bytes; default half the available RAM): "
                         f"pass fewer inputs, or name fewer or smaller layers (e.g. after pooling)")


@torch.no_grad()
def collect_activations(model: nn.Module, inputs: torch.Tensor | Iterable[torch.Tensor],
                        layers: Sequence[str] | None = None, *, batch_size: int = 64,
                        device: str | torch.device | None = None, flatten: bool = True,
                        include_output: bool = False,
                        max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """Run ``model`` over ``inputs`` in batches and return the outputs of the named layers.

    Parameters
    ----------
    model : nn.Module
        Any module; it is put in eval mode for the pass and restored afterwards. Floating-point
        inputs are cast to the dtype of its parameters.
    inputs : Tensor, ndarray or iterable of Tensors
        A tensor (or numpy array) of shape ``(N, ...)`` (split into ``batch_size`` chunks) or an
        iterable of batches (e.g. a DataLoader yielding tensors or ``(x, y)`` tuples: the first
        element is used).
    layers : sequence of str, optional
        Module names from ``model.named_modules()`` (a named layer that ``forward`` never calls is
        an error); default: every leaf module that runs once per forward pass.
    batch_size : int
        Batch size when ``inputs`` is a single tensor.
    device : str or torch.device, optional
        Where to run; default CUDA when present, else CPU. Activations are returned on CPU.
    flatten : bool
        Flatten each activation to ``(N, features)`` (an ``(N,)`` output becomes ``(N, 1)``).
    include_output : bool
        Also return the model output under the key ``"output"``.
    max_bytes : int, optional
        Memory the collected activations may take (default: half the available RAM). Exceeding it
        is an :class:`~shapekit.errors.InputError`, raised after the first batch when the number of
        inputs is known (a tensor, or a DataLoader over a sized dataset), else once it is exceeded.

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
    if isinstance(inputs, np.ndarray):
        inputs = as_tensor(inputs, "inputs")
    names = resolve_layers(model, layers)
    dev = default_device(device) if device is None or isinstance(device, str) else device
    modules = dict(model.named_modules())
    store: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    outputs: list[torch.Tensor] = []
    n_forward = 0
    budget = activation_budget(max_bytes)
    n_total = _n_inputs(inputs)
    used, seen = 0, 0

    def make_hook(name: str):
        def hook(_m: nn.Module, _inp: object, out: object) -> None:
            nonlocal used
            t = out[0] if isinstance(out, (tuple, list)) else out
            # a copy: an in-place op later in forward (ReLU(inplace=True)) would rewrite it
            t = t.detach().to("cpu", torch.float32, copy=True)
            used += t.numel() * t.element_size()
            store[name].append(t.reshape(len(t), -1) if flatten else t)
        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in names]
    try:
        with eval_on(model, dev):
            batches: Iterable = (inputs.split(batch_size) if isinstance(inputs, torch.Tensor)
                                 else inputs)
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                out = model(model_input(model, x, dev))
                n_forward += 1
                seen += len(x)
                if include_output:
                    o = out.detach().float().cpu()
                    used += o.numel() * o.element_size()
                    outputs.append(o.reshape(len(o), -1) if flatten else o)
                check_activation_budget(used, seen, n_total, budget, len(names) + include_output)
    finally:
        for h in handles:
            h.remove()
    ran = layers_that_ran(names, {n: len(v) for n, v in store.items()}, n_forward,
                          explicit=layers is not None)
    result = {n: _cat(n, store[n]) for n in ran}
    if include_output:
        result["output"] = _cat("output", outputs)
    return result


def _cat(name: str, parts: list[torch.Tensor]) -> torch.Tensor:
    shapes = sorted({tuple(p.shape[1:]) for p in parts})
    if len(shapes) > 1:
        raise InputError(f"layer {name!r} gave outputs of shapes {shapes[0]} and {shapes[1]} per "
                         f"input in different batches (inputs of different sizes): resize the "
                         f"inputs, or choose layers after a global pooling")
    return torch.cat(parts)
