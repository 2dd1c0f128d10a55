"""Export the (EMA) generator as safetensors + JSON and sample whole micrographs from an export.

An export directory (a training run, or a shipped model of :mod:`shapekit.registry`) holds
``generator.safetensors`` (weights only, no pickle) and ``generator.json``: format version, the
network's constructor arguments, conditioning mode, label names, condition names with their
normalisation statistics and training ranges, the training crop size, and the physical pixel size
of the generated images (``um_per_px``, or ``null`` when the training data gave none; then
``downscale`` says how many source pixels one generated pixel spans), and optionally the
calibrated imaging stage (``imaging``: :class:`~shapekit.generate.imaging.ImagingStage`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shapekit import _atomic
from shapekit._params import check_int
from shapekit.errors import InputError, ModelFormatError, ShapekitWarning
from shapekit.generate.codec import ConditionCodec
from shapekit.io.budget import check_pixel_budget
from shapekit.generate.formats import (CONFIG, FORMAT_VERSION, WEIGHTS, parse_size,
                                      read_generator_config)
from shapekit.generate.conditionmap import ConditionMap
from shapekit.generate.imaging import ImagingStage
from shapekit.generate.nets import MARGIN_CELLS, Generator, generate_field, to_unit

__all__ = ["export_generator", "load_generator", "GeneratorSampler", "FORMAT_VERSION",
           "parse_size"]

#: pixels generated per forward pass (bounds memory: ~0.3 GB of activations on the CPU)
BATCH_PIXELS = 1 << 20


def export_generator(generator: Generator, codec: ConditionCodec, run_dir: str | Path, *,
                     crop_size: int, um_per_px: float | None = None,
                     extra: dict[str, Any] | None = None) -> Path:
    """Write ``generator.safetensors`` + ``generator.json`` into ``run_dir`` (atomically).

    Parameters
    ----------
    generator : Generator
        Usually the EMA generator.
    codec : ConditionCodec
        Labels and condition normalisation of the training set.
    run_dir : path
    crop_size : int
        Side of the training crops (the default output is 4x this).
    um_per_px : float, optional
        Physical pixel size of the generated images.
    extra : dict, optional
        More JSON-serialisable fields (e.g. the training iteration).

    Examples
    --------
    >>> import tempfile
    >>> g = Generator(2, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 4])
    >>> codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)))
    >>> d = tempfile.mkdtemp()
    >>> _ = export_generator(g, codec, d, crop_size=16, um_per_px=0.01)
    >>> load_generator(d).sample(2, label="b", size=(20, 30)).shape
    (2, 20, 30)
    """
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in generator.state_dict().items()}
    with _atomic.atomic_path(run_dir / WEIGHTS) as tmp:
        save_file(state, str(tmp))
    ump = um_per_px if um_per_px is not None and np.isfinite(um_per_px) else None
    cfg = {"format_version": FORMAT_VERSION, "kind": "shapekit.generate.Generator",
           "net": generator.config(), "conditions": codec.to_dict(), "crop_size": int(crop_size),
           "default_size": 4 * int(crop_size), "um_per_px": ump, **(extra or {})}
    _atomic.write_json(run_dir / CONFIG, cfg)
    return run_dir / WEIGHTS


class GeneratorSampler:
    """A loaded generator: ``sample(n, label=None, conditions=None, seed=0, size=None)``.

    Attributes
    ----------
    label_names : list of str
    condition_names : list of str
    ranges : dict name -> (min, max) of the training values
    default_size : (height, width) of an image when no size is asked for
    um_per_px : float or None
        Pixel size of the generated images.
    mode : str
    imaging : ImagingStage or None
        The calibrated probe blur and shot noise (and, where calibrated, magnification and a
        quarter turn) applied to every sample (unless ``raw``).
    condition_map : ConditionMap or None
        The calibrated shift from requested conditions to the network's inputs, per class
        (:mod:`shapekit.generate.conditionmap`; unless ``raw``).

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
        d = int(config.get("default_size", 256))
        self.default_size = (d, d)
        self.um_per_px = config.get("um_per_px")
        self.mode = codec.mode
        block = config.get("imaging")
        self.imaging = None if block is None else ImagingStage.from_dict(block)
        block = config.get("condition_map")
        self.condition_map = None if block is None else ConditionMap.from_dict(block)

    def default_conditions(self) -> dict[str, float]:
        """The centre of the training distribution of every continuous condition."""
        return self.codec.default_values()

    def check_conditions(self, conditions: dict[str, float] | None) -> dict[str, float]:
        """Fill defaults, refuse unknown names (InputError), warn on values outside the range."""
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
            if not lo <= v <= hi:  # as the server refuses it (a quarter-range slack was silent)
                warnings.warn(f"{name}={v:g} is outside the training range [{lo:g}, {hi:g}]; "
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
               size: int | str | tuple[int, int] | None = None, raw: bool = False) -> np.ndarray:
        """Generate ``n`` images ``(n, height, width)`` float32 in ``[0, 1]``, deterministic per
        ``seed``.

        ``size`` is a side, ``"WIDTHxHEIGHT"`` or ``(height, width)`` (default
        :attr:`default_size`). ``label=None`` draws the class of each image uniformly (from
        ``seed``); missing conditions default to their training mean. The same ``seed``, ``n``
        and ``size`` give the same latents (and imaging noise) whatever the condition, so a
        sweep over a condition shows the effect of that condition alone. ``raw`` skips the
        model's condition map (:attr:`condition_map`) and imaging stage (:attr:`imaging`:
        magnification, turn, blur, noise), giving the network's output at the requested input
        and at its own scale.

        When the stage draws magnifications (a model trained without a common pixel size), each
        image of such a class is generated on its own field (``size / zoom``, latent map and noise
        inputs from its own stream of ``seed``), resampled to ``size``; its global latent is
        the one it would have had unmagnified. A class the stage turns is drawn the same way on a
        field of the transposed size, then turned a quarter counter-clockwise.
        """
        check_int("n", n, low=1)            # 1.5 images or seed "a": one line, not numpy's
        check_int("seed", seed, low=0)
        hw = parse_size(self.default_size if size is None else size)
        check_pixel_budget((int(n), *hw), f"{int(n)} generated images of {hw[1]}x{hw[0]} px")
        per = max(1, BATCH_PIXELS // (hw[0] * hw[1]))  # images per forward pass
        # the network's own largest buffer, not just the output: refused before it is allocated
        check_pixel_budget((min(per, int(n)), *self.generator.largest_map(hw)),
                           f"feature maps of the generator for images of {hw[1]}x{hw[0]} px")
        labels = torch.as_tensor(self.labels_for(n, label, seed))
        names = [self.label_names[k] for k in labels.tolist()]
        vals = self.check_conditions(conditions)
        cond, map_zoom = None, np.ones(int(n))
        if self.codec.n_cond:
            values = np.array([[vals[k] for k in self.codec.names]], dtype=np.float64)
            z = np.repeat(self.codec.encode(values), int(n), axis=0)
            if self.condition_map is not None and not raw:
                map_zoom = self.condition_map.zooms(z, names)
                z = self.condition_map.apply(z, names).astype(np.float32)
            cond = torch.from_numpy(z)
        g = torch.Generator().manual_seed(int(seed))
        zl, zg = self.generator.latents(int(n), self.generator.field_cells(hw), g)
        zoom = (self.imaging.zooms(names, seed) if self.imaging is not None and not raw
                and self.imaging.magnifies else np.ones(int(n))) * map_zoom
        turn = (self.imaging.turns(names) if self.imaging is not None and not raw
                else np.zeros(int(n), dtype=int))
        devices = [self.device] if self.device.type == "cuda" else []
        # on CUDA: bf16 autocast (tensor cores); float32 on the CPU
        amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")
        out = []
        from shapekit._progress import progress

        desc = f"generating {int(n)} images of {hw[1]}x{hw[0]} px"
        # the noise inputs use the global RNG: fork it so sampling is pure and seeded
        with torch.random.fork_rng(devices=devices), amp:
            if np.all(zoom == 1.0) and not turn.any():
                torch.manual_seed(int(seed))
                starts = range(0, int(n), per)
                for s in progress(starts, desc=desc, total=len(starts), unit="pass"):
                    sl = slice(s, s + per)
                    c = None if cond is None else cond[sl].to(self.device)
                    x = generate_field(self.generator, zl[sl].to(self.device),
                                       zg[sl].to(self.device), labels[sl].to(self.device), c, hw)
                    out.append(to_unit(x))
            else:
                for i in progress(range(int(n)), desc=desc, unit="image"):
                    c = None if cond is None else cond[i:i + 1]
                    out.append(self._magnified(zg[i:i + 1], labels[i:i + 1], c, hw,
                                               float(zoom[i]), (int(seed), 3, i),
                                               int(turn[i]))[None])
        if self.imaging is None or raw:
            return np.concatenate(out)
        # the stage's own seeded stream, apart from the network's
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), 1])
                                              .generate_state(1)[0]))
        x = torch.from_numpy(np.concatenate(out))
        return self.imaging.apply(x, names, g).numpy().astype(np.float32, copy=False)

    def _magnified(self, zg: torch.Tensor, label: torch.Tensor, cond: torch.Tensor | None,
                   hw: tuple[int, int], zoom: float, entropy: tuple[int, ...],
                   turn: int = 0) -> np.ndarray:
        """One image of ``hw`` drawn on a field ``zoom`` times finer, resampled to ``hw`` (with
        ``turn``: drawn at the transposed size and turned a quarter counter-clockwise)."""
        from shapekit.io.scale import resample

        if turn:
            img = self._magnified(zg, label, cond, (hw[1], hw[0]), zoom, entropy)
            return np.ascontiguousarray(np.rot90(img))

        state = np.random.SeedSequence(list(entropy)).generate_state(2)
        field = (math.ceil(hw[0] / zoom) + 1, math.ceil(hw[1] / zoom) + 1)
        check_pixel_budget((1, *self.generator.largest_map(field)),
                           f"feature maps of the generator for a field of {field[1]}x{field[0]} px "
                           f"(zoom {zoom:.3g})")
        zl, _ = self.generator.latents(1, self.generator.field_cells(field),
                                       torch.Generator().manual_seed(int(state[0])))
        torch.manual_seed(int(state[1]))
        x = generate_field(self.generator, zl.to(self.device), zg.to(self.device),
                           label.to(self.device), None if cond is None else cond.to(self.device),
                           field)
        img = to_unit(x)[0]
        if zoom != 1.0:
            img = resample(img, 1.0, 1.0 / zoom)
        top, left = (img.shape[0] - hw[0]) // 2, (img.shape[1] - hw[1]) // 2
        return img[top:top + hw[0], left:left + hw[1]]


def load_generator(run_dir: str | Path, device: str | None = None,
                   checkpoint: str | Path | None = None) -> GeneratorSampler:
    """Load ``generator.safetensors`` + ``generator.json`` from an export directory.

    Parameters
    ----------
    run_dir : path or str
        A run directory written by :func:`~shapekit.generate.train_gan`, or a shipped model's
        directory or name (``"uhcs3-class"``, as :func:`shapekit.temper.load_model` takes
        ``"uhcs3"``; a directory of that name wins).
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
    if not run_dir.exists():
        from shapekit.registry import NAME_RE, available, pretrained_root

        shipped = {c["name"] for c in available("generator")}
        if NAME_RE.match(str(run_dir)) and str(run_dir) in shipped:
            run_dir = pretrained_root() / str(run_dir)
    if checkpoint is not None and run_dir.is_dir() and not (run_dir / CONFIG).is_file():
        # a run still training (or stopped before its export): its config describes the net
        return _from_checkpoint_only(run_dir, checkpoint, device)
    w_path = run_dir / WEIGHTS
    cfg = read_generator_config(run_dir)
    cfg_path = run_dir / CONFIG
    dev = default_device(device)
    state = None
    if checkpoint is not None:
        # the checkpoint's own margin: a run resumed with another margin has a stale export
        w_path, state, iteration, margin = _checkpoint_weights(run_dir, checkpoint)
        cfg = {**cfg, "net": {**cfg["net"], "margin": margin}, "iterations": iteration,
               "checkpoint": str(w_path)}
    try:
        gen = Generator(**cfg["net"])
        cfg["net"]["margin"] = gen.margin
        gen.load_state_dict(load_file(str(w_path)) if state is None else state)
        codec = ConditionCodec.from_dict(cfg["conditions"])
    except Exception as e:  # noqa: BLE001 - any mismatch is a bad model file for the user
        raise ModelFormatError(f"{w_path}: cannot load generator weights ({type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''})") from None
    um = cfg.get("um_per_px")
    if um is not None and not (isinstance(um, (int, float)) and math.isfinite(um) and um > 0):
        raise ModelFormatError(f"{cfg_path}: um_per_px must be a positive number or null, "
                               f"got {um!r}")
    gen.to(dev).eval()
    return GeneratorSampler(gen, codec, cfg, dev)


def _from_checkpoint_only(run_dir: Path, checkpoint: str | Path,
                          device: str | None) -> GeneratorSampler:
    """A sampler for a checkpoint of a run that has no export yet (config.json + conditions.json)."""
    from shapekit._device import default_device
    from shapekit.generate.nets import generator_channels

    from shapekit.generate.formats import CODEC_SCHEMA, RUN_SCHEMA
    from shapekit.io.jsonfile import load_json

    run = load_json(run_dir / "config.json", RUN_SCHEMA, what="run config", error=ModelFormatError)
    cond = load_json(run_dir / "conditions.json", CODEC_SCHEMA, what="condition codec",
                     error=ModelFormatError)
    try:
        hp = run["model"]
        net = {"n_classes": len(cond["label_names"]), "n_cond": len(cond["names"]),
               "z_local": hp["z_local"], "z_global": hp["z_global"], "w_dim": hp["w_dim"],
               "channels": generator_channels(hp["g_channels"], hp["n_up"])}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelFormatError(f"{run_dir}: no export and no readable run configuration "
                               f"({type(e).__name__}: {e})") from None
    w_path, state, iteration, net["margin"] = _checkpoint_weights(run_dir, checkpoint)
    gen = Generator(**net)
    net["margin"] = gen.margin
    try:
        gen.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFormatError(f"{w_path}: weights do not fit the run's configuration "
                               f"({str(e).splitlines()[0]})") from None
    cfg = {"format_version": FORMAT_VERSION, "net": net, "conditions": cond,
           "crop_size": run["crop_size"], "default_size": 4 * int(run["crop_size"]),
           "um_per_px": run.get("target_um_per_px"), "iterations": iteration,
           "checkpoint": str(w_path), "seed": run.get("seed"), "downscale": run.get("downscale"),
           "holdout": run.get("holdout", 0.0)}
    dev = default_device(device)
    gen.to(dev).eval()
    return GeneratorSampler(gen, ConditionCodec.from_dict(cond), cfg, dev)


def _checkpoint_weights(run_dir: Path, checkpoint: str | Path
                        ) -> tuple[Path, dict, int, int | None]:
    """EMA-generator weights, iteration and margin (None: the generator's reach) of a training
    checkpoint (a path or a name)."""
    from shapekit.generate.checkpoints import checkpoint_path

    p = checkpoint_path(run_dir, checkpoint)
    try:
        ck = torch.load(str(p), map_location="cpu", weights_only=True)
        state = {k[len("g_ema."):]: v for k, v in ck["state_dict"].items()
                 if k.startswith("g_ema.")}
    except Exception as e:  # noqa: BLE001 - any failure is a bad checkpoint for the user
        raise ModelFormatError(f"{p}: unreadable training checkpoint ({type(e).__name__})") from None
    if not state:
        raise ModelFormatError(f"{p}: no EMA generator weights in this checkpoint")
    margin = (ck.get("hyper_parameters") or {}).get("margin_cells", MARGIN_CELLS)
    return p, state, int(ck.get("global_step", 0)) // 2, margin
