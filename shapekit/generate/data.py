"""Training data for the conditional GAN: random tiles at a common physical scale.

Every image is resampled so that one pixel covers the same physical length (``um_per_px``), then
random square tiles are cut from it with physically valid augmentation for an isotropic
microstructure seen in an SEM: flips, 90-degree rotations and a small gain/offset change of the
detector signal (no hue, no shear, no non-square rotation). Conditions are encoded as a temper
class index plus a z-score normalised vector of continuous process parameters or properties;
the normalisation (:class:`ConditionCodec`) is saved in the run directory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from shapekit.errors import InputError
from shapekit.io.budget import check_pixel_budget

__all__ = ["ConditionCodec", "TileDataset", "GANDataModule", "rescale_to", "MODES"]

MODES = ("class", "parameters", "properties")
LOG_SPAN = 30.0


class ConditionCodec:
    """Names, z-score statistics and training ranges of the continuous conditions + label names.

    Parameters
    ----------
    label_names : sequence of str
        Temper class names (index = class id).
    names : sequence of str
        Continuous condition names (empty in ``class`` mode).
    mean, std, lo, hi : sequence of float
        Per-condition training mean, standard deviation, minimum and maximum.
    mode : str
        Conditioning mode (``class``, ``parameters`` or ``properties``).
    log : sequence of bool, optional
        Per condition: normalise ``log10(value)`` instead of the value. :meth:`fit` chooses it for
        positive conditions spanning more than ``LOG_SPAN`` (e.g. aging time, 0.1-100 h), so that
        log-uniformly sampled process parameters are spread evenly in the network's input.

    Examples
    --------
    >>> c = ConditionCodec.fit(["a", "b"], ["t"], np.array([[1.0], [3.0]]), mode="parameters")
    >>> c.encode(np.array([[3.0]])).round(3).tolist()
    [[1.0]]
    >>> ConditionCodec.from_dict(c.to_dict()).ranges
    {'t': (1.0, 3.0)}
    """

    def __init__(self, label_names: Sequence[str], names: Sequence[str], mean: Sequence[float],
                 std: Sequence[float], lo: Sequence[float], hi: Sequence[float],
                 mode: str = "class", log: Sequence[bool] | None = None) -> None:
        self.label_names = [str(n) for n in label_names]
        self.names = [str(n) for n in names]
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        self.lo = np.asarray(lo, dtype=np.float64).reshape(-1)
        self.hi = np.asarray(hi, dtype=np.float64).reshape(-1)
        self.mode = mode
        self.log = np.zeros(len(self.names), bool) if log is None else np.asarray(log, bool)

    @classmethod
    def fit(cls, label_names: Sequence[str], names: Sequence[str], values: np.ndarray,
            mode: str = "class") -> "ConditionCodec":
        """Statistics from the training table ``values`` of shape ``(n_images, len(names))``."""
        v = np.asarray(values, dtype=np.float64).reshape(-1, len(names)) if names else np.zeros((0, 0))
        if names and not np.isfinite(v).all():
            bad = int(np.argwhere(~np.isfinite(v))[0][0])
            raise InputError(f"condition values missing or not finite in row {bad} "
                             f"(columns {', '.join(names)})")
        if not names:
            return cls(label_names, [], [], [], [], [], mode)
        lo, hi = v.min(axis=0), v.max(axis=0)
        log = (lo > 0) & (hi >= LOG_SPAN * np.where(lo > 0, lo, 1))
        t = np.where(log, np.log10(np.where(log, v, 1.0)), v)
        std = t.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return cls(label_names, names, t.mean(axis=0), std, lo, hi, mode, log)

    @property
    def n_cond(self) -> int:
        return len(self.names)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        return {n: (float(a), float(b)) for n, a, b in zip(self.names, self.lo, self.hi)}

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Raw values ``(n, k)`` -> normalised float32 ``(n, k)``."""
        v = np.asarray(values, dtype=np.float64).reshape(-1, self.n_cond)
        if self.log.any():
            if (v[:, self.log] <= 0).any():
                bad = [n for n, lg in zip(self.names, self.log) if lg]
                raise InputError(f"conditions {', '.join(bad)} are log-scaled and must be > 0")
            v = np.where(self.log, np.log10(np.where(self.log, v, 1.0)), v)
        return ((v - self.mean) / self.std).astype(np.float32)

    def default_values(self) -> dict[str, float]:
        """The centre of the training distribution (geometric mean for log-scaled conditions)."""
        c = np.array(self.mean, dtype=np.float64, copy=True)
        c[self.log] = 10.0 ** c[self.log]  # only the log-scaled ones (10**1000 overflows)
        return {n: float(x) for n, x in zip(self.names, c)}

    def label_index(self, label: str | int) -> int:
        """Class index of a label name (or an index given as int/str of an int)."""
        if isinstance(label, (int, np.integer)) and 0 <= int(label) < len(self.label_names):
            return int(label)
        if str(label) in self.label_names:
            return self.label_names.index(str(label))
        raise InputError(f"unknown label {label!r}; known labels: {', '.join(self.label_names)}")

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "label_names": self.label_names, "names": self.names,
                "mean": self.mean.tolist(), "std": self.std.tolist(),
                "min": self.lo.tolist(), "max": self.hi.tolist(), "log": self.log.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConditionCodec":
        return cls(d["label_names"], d["names"], d["mean"], d["std"], d["min"], d["max"],
                   d.get("mode", "class"), d.get("log"))


def rescale_to(image: np.ndarray, um_per_px: float, target_um_per_px: float) -> np.ndarray:
    """Resample ``image`` from ``um_per_px`` to ``target_um_per_px`` (area-averaging when shrinking).

    Examples
    --------
    >>> rescale_to(np.zeros((100, 80), np.float32), 1.0, 2.0).shape
    (50, 40)
    """
    import cv2

    if not (math.isfinite(um_per_px) and math.isfinite(target_um_per_px)) or um_per_px <= 0 \
            or target_um_per_px <= 0:
        return image
    f = um_per_px / target_um_per_px
    if abs(f - 1) < 1e-3:
        return image
    h, w = image.shape
    if not math.isfinite(h * f * w * f) or h * f * w * f > 2.0**62:
        raise InputError(f"resampling {h}x{w} px from {um_per_px:g} to {target_um_per_px:g} um/px "
                         f"overflows (factor {f:.3g})")
    size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
    check_pixel_budget((size[1], size[0]), f"resampling {h}x{w} px from {um_per_px:g} to "
                       f"{target_um_per_px:g} um/px")
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image, dtype=np.float32), size, interpolation=interp)


class TileDataset(Dataset):
    """Item ``i`` is a random augmented tile, a deterministic function of ``(seed, offset + i)``.

    Parameters
    ----------
    images : list of 2-D float arrays in [0, 1]
        Already at the common physical scale, each at least ``tile`` pixels on both sides.
    labels : (n,) int array
    cond : (n, k) float32 array of normalised conditions
    tile : int
        Tile side in pixels.
    length : int
        Number of items (one epoch).
    seed : int
    augment : bool
        Flips, rot90 and a small gain/offset change.

    Returns items ``(x, label, cond)``: ``x`` float32 ``(1, tile, tile)`` in ``[-1, 1]``.

    Examples
    --------
    >>> ds = TileDataset([np.ones((40, 40), np.float32)], np.array([0]), np.zeros((1, 0)), 16, 4)
    >>> x, y, c = ds[0]
    >>> tuple(x.shape), int(y)
    ((1, 16, 16), 0)
    """

    def __init__(self, images: Sequence[np.ndarray], labels: np.ndarray, cond: np.ndarray, tile: int,
                 length: int, seed: int = 0, augment: bool = True, offset: int = 0) -> None:
        self.images, self.labels = list(images), np.asarray(labels, dtype=np.int64)
        self.cond = np.asarray(cond, dtype=np.float32).reshape(len(self.images), -1)
        self.tile, self.length, self.seed = int(tile), int(length), int(seed)
        self.augment, self.offset = augment, int(offset)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.offset + int(i)])
        k = int(rng.integers(len(self.images)))
        img = self.images[k]
        h, w = img.shape
        r, c = int(rng.integers(h - self.tile + 1)), int(rng.integers(w - self.tile + 1))
        t = np.asarray(img[r:r + self.tile, c:c + self.tile], dtype=np.float32)
        if self.augment:
            t = np.rot90(t, int(rng.integers(4)))
            if rng.random() < 0.5:
                t = t[:, ::-1]
            gain, off = rng.uniform(0.95, 1.05), rng.uniform(-0.03, 0.03)
            t = np.clip(t * gain + off, 0.0, 1.0)
        x = torch.from_numpy(np.ascontiguousarray(t) * 2 - 1)[None]
        return x, torch.tensor(self.labels[k]), torch.from_numpy(self.cond[k])


class GANDataModule(pl.LightningDataModule):
    """Random conditioned tiles at a common physical scale (see :class:`TileDataset`).

    Parameters
    ----------
    images : list of 2-D arrays in [0, 1]
    labels : (n,) int array of class indices
    values : (n, k) array of raw continuous conditions (k = 0 in class mode)
    codec : ConditionCodec
    um_per_px : (n,) array or None
        Pixel size of each image; NaN/None means unknown (image used as is).
    image_size, batch_size, steps, seed, num_workers :
        Tile side, batch size, iterations per epoch, seed, DataLoader workers.
    target_um_per_px : float, optional
        Common scale; default the median of the known pixel sizes.
    names : list of str, optional
        Image names for error messages.

    Examples
    --------
    >>> imgs = [np.random.default_rng(0).random((48, 48)).astype(np.float32)]
    >>> codec = ConditionCodec.fit(["a"], [], np.zeros((1, 0)))
    >>> dm = GANDataModule(imgs, np.array([0]), np.zeros((1, 0)), codec, image_size=32,
    ...                    batch_size=2, steps=3)
    >>> dm.setup("fit"); len(dm.train_dataloader())
    3
    """

    def __init__(self, images: Sequence[np.ndarray], labels: np.ndarray, values: np.ndarray,
                 codec: ConditionCodec, um_per_px: Sequence[float] | None = None,
                 image_size: int = 64, batch_size: int = 16, steps: int = 1000, seed: int = 0,
                 num_workers: int = 0, target_um_per_px: float | None = None,
                 names: Sequence[str] | None = None, offset: int = 0) -> None:
        super().__init__()
        self.codec, self.image_size, self.batch_size = codec, int(image_size), int(batch_size)
        self.steps, self.seed, self.num_workers, self.offset = int(steps), int(seed), num_workers, offset
        n = len(images)
        names = list(names) if names is not None else [f"image {i}" for i in range(n)]
        ump = np.full(n, np.nan) if um_per_px is None else np.asarray(um_per_px, dtype=np.float64)
        known = ump[np.isfinite(ump) & (ump > 0)]
        if target_um_per_px is None:
            target_um_per_px = float(np.median(known)) if known.size else float("nan")
        self.target_um_per_px = target_um_per_px
        scaled = []
        for img, u, name in zip(images, ump, names):
            im = rescale_to(np.asarray(img, dtype=np.float32), float(u), target_um_per_px)
            if min(im.shape) < self.image_size:
                raise InputError(f"{name}: {im.shape[1]}x{im.shape[0]} px at "
                                 f"{target_um_per_px:.4g} um/px is smaller than the "
                                 f"{self.image_size}px tile; use a smaller --image-size")
            scaled.append(im.astype(np.float16))
        self.images = scaled
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cond = codec.encode(values) if codec.n_cond else np.zeros((n, 0), np.float32)

    def setup(self, stage: str | None = None) -> None:  # noqa: D102
        world = self.trainer.world_size if self.trainer is not None else 1
        self.dataset = TileDataset(self.images, self.labels, self.cond, self.image_size,
                                   self.steps * self.batch_size * world, self.seed,
                                   offset=self.offset)

    def train_dataloader(self) -> DataLoader:  # noqa: D102
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=False, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    @classmethod
    def from_manifest(cls, manifest: str | Path, condition: str = "class",
                      root: str | Path | None = None, **kwargs: Any) -> "GANDataModule":
        """Build from a shapekit dataset manifest; missing columns for ``condition`` raise InputError."""
        images, labels, values, codec, ump, names = load_training_table(manifest, condition, root)
        return cls(images, labels, values, codec, ump, names=names, **kwargs)


def load_training_table(manifest: str | Path, condition: str, root: str | Path | None = None):
    """Read images, labels, raw condition values and a fitted codec from a manifest."""
    from shapekit.io import load_manifest, read_image

    if condition not in MODES:
        raise InputError(f"unknown --condition {condition!r}; choose from {', '.join(MODES)}")
    m = load_manifest(manifest, root=root)
    paths = [Path(p) for p in m.paths]
    if not paths:
        raise InputError(f"{manifest}: the manifest lists no images")
    label_names, labels = _labels(m, len(paths))
    if condition == "class":
        names, values = [], np.zeros((len(paths), 0))
    else:
        names = list(getattr(m, condition) or [])
        if not names:
            raise InputError(f"{manifest}: --condition {condition} needs `{condition}` columns in the "
                             f"manifest, but it declares none")
        values = np.asarray(getattr(m, "parameter_values" if condition == "parameters"
                                    else "property_values"), dtype=np.float64)
    codec = ConditionCodec.fit(label_names, names, values, mode=condition)
    ump = np.asarray(m.um_per_px_values, dtype=np.float64)
    from shapekit._progress import progress

    images = [np.asarray(read_image(p)[0], dtype=np.float32)
              for p in progress(paths, desc="reading images")]
    return images, labels, values, codec, ump, [str(p) for p in paths]


def _labels(m: Any, n: int) -> tuple[list[str], np.ndarray]:
    raw = getattr(m, "labels", None)
    names = list(getattr(m, "label_names", None) or [])
    if raw is None:
        return ["all"], np.zeros(n, dtype=np.int64)
    raw = list(raw)
    if all(isinstance(v, (int, np.integer)) for v in raw):
        idx = np.asarray(raw, dtype=np.int64)
        names = names or [str(i) for i in range(int(idx.max()) + 1)]
        return [str(s) for s in names], idx
    names = names or sorted({str(v) for v in raw})
    names = [str(s) for s in names]
    return names, np.asarray([names.index(str(v)) for v in raw], dtype=np.int64)
