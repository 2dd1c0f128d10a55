"""Export the (EMA) generator as safetensors + JSON and sample from an exported run directory.

A run directory holds ``generator.safetensors`` (weights only, no pickle) and ``generator.json``
(network sizes, conditioning mode, label names, condition names with their normalisation
statistics and training ranges, image size and physical pixel size).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shapekit import _atomic
from shapekit.errors import InputError, ModelFormatError, ShapekitWarning
from shapekit.generate.data import ConditionCodec
from shapekit.generate.formats import CONFIG, FORMAT_VERSION, WEIGHTS, read_generator_config
from shapekit.generate.nets import LEGACY_UPSAMPLE, Generator

__all__ = ["export_generator", "load_generator", "GeneratorSampler", "FORMAT_VERSION"]

# a requested value further than this many training-range widths outside the range warns
RANGE_SLACK = 0.25



def export_generator(generator: Generator, codec: ConditionCodec, run_dir: str | Path, *,
                     net: dict[str, Any], um_per_px: float | None = None,
                     extra: dict[str, Any] | None = None) -> Path:
    """Write ``generator.safetensors`` + ``generator.json`` into ``run_dir`` (atomically).

    Parameters
    ----------
    generator : Generator
        Usually the EMA generator.
    codec : ConditionCodec
        Labels and condition normalisation of the training set.
    run_dir : path
    net : dict
        Constructor arguments of :class:`Generator` (``image_size``, ``z_dim`` ...).
    um_per_px : float, optional
        Physical pixel size of the generated images.
    extra : dict, optional
        More JSON-serialisable fields (e.g. the training iteration).

    Examples
    --------
    >>> import tempfile
    >>> g = Generator(16, 2, 0, z_dim=8, base_channels=4, max_channels=8)
    >>> codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)))
    >>> d = tempfile.mkdtemp()
    >>> _ = export_generator(g, codec, d, net=dict(image_size=16, n_classes=2, n_cond=0, z_dim=8,
    ...                      base_channels=4, max_channels=8))
    >>> load_generator(d).sample(2, label="b").shape
    (2, 16, 16)
    """
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in generator.state_dict().items()}
    with _atomic.atomic_path(run_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp))
    cfg = {"format_version": FORMAT_VERSION, "kind": "shapekit.generate.Generator", "net": net,
           "conditions": codec.to_dict(), "um_per_px": um_per_px
           if um_per_px is not None and np.isfinite(um_per_px) else None, **(extra or {})}
    _atomic.write_json(run_dir / CONFIG, cfg)
    return run_dir / WEIGHTS


class GeneratorSampler:
    """A loaded generator: ``sample(n, label=None, conditions=None, seed=0)``.

    Attributes
    ----------
    label_names : list of str
    condition_names : list of str
    ranges : dict name -> (min, max) of the training values
    image_size : int
    um_per_px : float or None
    mode : str

    Examples
    --------
    See :func:`export_generator`.
    """

    def __init__(self, generator: Generator, codec: ConditionCodec, config: dict[str, Any],
                 device: torch.device) -> None:
        self.generator, self.codec, self.config, self.device = generator, codec, config, device
        self.label_names = list(codec.label_names)
        self.condition_names = list(codec.names)
        self.ranges = codec.ranges
        self.image_size = int(config["net"]["image_size"])
        self.um_per_px = config.get("um_per_px")
        self.mode = codec.mode

    def default_conditions(self) -> dict[str, float]:
        """The centre of the training distribution of every continuous condition."""
        return self.codec.default_values()

    def check_conditions(self, conditions: dict[str, float] | None) -> dict[str, float]:
        """Fill defaults, refuse unknown names (InputError), warn on values far outside the range."""
        out = self.default_conditions()
        for name, value in (conditions or {}).items():
            if name not in out:
                known = ", ".join(self.condition_names) or "none (class-conditioned model)"
                raise InputError(f"unknown condition {name!r}; this model's conditions: {known}")
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise InputError(f"condition {name}={value!r} is not a number") from None
            if not np.isfinite(v):
                raise InputError(f"condition {name}={value!r} is not finite")
            lo, hi = self.ranges[name]
            slack = RANGE_SLACK * max(hi - lo, 1e-12)
            if v < lo - slack or v > hi + slack:
                warnings.warn(f"{name}={v:g} is far outside the training range [{lo:g}, {hi:g}]; "
                              "the generator extrapolates", ShapekitWarning, stacklevel=2)
            out[name] = v
        return out

    def labels_for(self, n: int, label: str | int | None = None, seed: int = 0) -> np.ndarray:
        """Class index of each of ``n`` images: ``label``'s, or drawn uniformly from ``seed``."""
        if label is not None:
            return np.full(int(n), self.codec.label_index(label), dtype=np.int64)
        g = torch.Generator().manual_seed(int(seed))
        return torch.randint(0, len(self.label_names), (int(n),), generator=g).numpy()

    @torch.no_grad()
    def sample(self, n: int, label: str | int | None = None,
               conditions: dict[str, float] | None = None, seed: int = 0,
               batch_size: int = 64) -> np.ndarray:
        """Generate ``n`` images ``(n, H, W)`` float32 in ``[0, 1]``, deterministic per ``seed``.

        ``label=None`` draws the class of each image uniformly (from ``seed``); missing
        conditions default to their training mean.
        """
        if int(n) < 1:
            raise InputError(f"--n must be >= 1, got {n}")
        g = torch.Generator().manual_seed(int(seed))
        labels = torch.as_tensor(self.labels_for(n, label, seed))
        if label is None:  # keep the latent stream aligned with labels_for's draw
            torch.randint(0, len(self.label_names), (int(n),), generator=g)
        vals = self.check_conditions(conditions)
        cond = None
        if self.codec.n_cond:
            raw = np.array([[vals[k] for k in self.codec.names]], dtype=np.float64)
            cond = torch.from_numpy(np.repeat(self.codec.encode(raw), int(n), axis=0))
        z = torch.randn(int(n), self.generator.z_dim, generator=g)
        # the noise inputs of the blocks use the global RNG: fork it so sampling stays pure
        out = []
        devices = [self.device] if self.device.type == "cuda" else []
        # on CUDA: bf16 autocast (tensor cores); float32 on the CPU
        amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        with torch.random.fork_rng(devices=devices), amp:
            torch.manual_seed(int(seed))
            for s in range(0, int(n), batch_size):
                sl = slice(s, s + batch_size)
                c = None if cond is None else cond[sl].to(self.device)
                x = self.generator(z[sl].to(self.device), labels[sl].to(self.device), c)
                out.append(((x.float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy())
        return np.concatenate(out).astype(np.float32)


def load_generator(run_dir: str | Path, device: str | None = None,
                   checkpoint: str | Path | None = None) -> GeneratorSampler:
    """Load ``generator.safetensors`` + ``generator.json`` from a run directory.

    Parameters
    ----------
    run_dir : path
        A run directory written by :func:`~shapekit.generate.train_gan`.
    device : str, optional
        torch device (default: CUDA when present, else the CPU).
    checkpoint : str or path, optional
        Sample from the EMA generator of this training checkpoint instead of the final export: a
        ``.ckpt`` path, or a name in ``RUN_DIR/checkpoints`` (``iter-0007500``, ``last``). GAN
        quality oscillates during training, so an earlier checkpoint can be the better one.
        Read with ``torch.load(weights_only=True)``.

    Raises
    ------
    ModelFormatError
        The directory or its files are missing, corrupt or from another format version.
    """
    from safetensors.torch import load_file

    from shapekit._device import default_device

    run_dir = Path(run_dir)
    w_path = run_dir / WEIGHTS
    cfg = read_generator_config(run_dir)
    dev = default_device(device)
    state = None
    if checkpoint is not None:
        w_path, state, iteration = _checkpoint_weights(run_dir, checkpoint)
        cfg = {**cfg, "iterations": iteration, "checkpoint": str(w_path)}
    try:
        # generators exported before the upsampling option existed used the legacy upsampling
        gen = Generator(**{"upsample": LEGACY_UPSAMPLE, **cfg["net"]})
        gen.load_state_dict(load_file(str(w_path)) if state is None else state)
    except Exception as e:  # noqa: BLE001 - any mismatch is a bad model file for the user
        raise ModelFormatError(f"{w_path}: cannot load generator weights ({type(e).__name__}: "
                               f"{str(e).splitlines()[0]})") from None
    gen.to(dev).eval()
    return GeneratorSampler(gen, ConditionCodec.from_dict(cfg["conditions"]), cfg, dev)


def _checkpoint_weights(run_dir: Path, checkpoint: str | Path) -> tuple[Path, dict, int]:
    """EMA-generator weights and iteration of a training checkpoint (a path or a name)."""
    p = Path(checkpoint)
    if not p.is_file():
        name = p.name if p.suffix == ".ckpt" else f"{p.name}.ckpt"
        p = run_dir / "checkpoints" / name
    if not p.is_file():
        found = sorted(q.stem for q in (run_dir / "checkpoints").glob("*.ckpt"))
        raise ModelFormatError(f"checkpoint {checkpoint!s} not found in {run_dir / 'checkpoints'}"
                               f"; available: {', '.join(found) or 'none'}")
    try:
        ck = torch.load(str(p), map_location="cpu", weights_only=True)
        state = {k[len("g_ema."):]: v for k, v in ck["state_dict"].items()
                 if k.startswith("g_ema.")}
    except Exception as e:  # noqa: BLE001 - any failure is a bad checkpoint for the user
        raise ModelFormatError(f"{p}: unreadable training checkpoint ({type(e).__name__})") from None
    if not state:
        raise ModelFormatError(f"{p}: no EMA generator weights in this checkpoint")
    return p, state, int(ck.get("global_step", 0)) // 2
