"""Training data for the conditional GAN: random crops at a common physical scale.

Every image is resampled (:func:`shapekit.io.resample`) so that one pixel covers the same physical
length (``um_per_px``; by default the median of the known pixel sizes times ``downscale``), or,
when no image has a known pixel size, shrunk by ``downscale`` in pixels. Random square crops are
cut from it with physically valid augmentation for a microstructure seen in an SEM: flips,
90-degree rotations (``augment="dihedral"``, for a microstructure without a direction) or flips
alone (``augment="flips"``, which keep the scan's axes: a rolling direction, or the lean that the
microscope's raster gives real scans), and a small gain/offset change of the detector signal (no
hue, no shear, no non-square rotation). Conditions are encoded as a temper class index plus a z-score normalised
vector of continuous process parameters or properties; the normalisation (:class:`~shapekit.generate.codec.ConditionCodec`)
is saved in the run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from shapekit.errors import InputError
from shapekit.generate.codec import MODES, ConditionCodec
from shapekit.generate.datasplit import (check_crop_from_headers, holdout_split, manifest_labels,
                                         too_small)

__all__ = ["CropDataset", "GANDataModule", "to_common_scale", "holdout_split", "AUGMENTS"]

#: crop augmentations: the 8 symmetries of the square, the 4 that keep its axes (flips about
#: them), or only the detector's gain/offset
AUGMENTS = ("dihedral", "flips", "none")


def _augment_mode(augment: str | bool) -> str:
    """One of :data:`AUGMENTS` (``True``/``False``: the earlier switch), or InputError."""
    mode = {True: "dihedral", False: "none"}.get(augment, augment)  # type: ignore[arg-type]
    if mode not in AUGMENTS:
        raise InputError(f"augment must be one of {', '.join(AUGMENTS)}, got {augment!r}")
    return mode


def to_common_scale(images: Sequence[np.ndarray], um_per_px: Sequence[float] | None,
                    downscale: float = 1.0, target_um_per_px: float | None = None,
                    names: Sequence[str] | None = None) -> tuple[list[np.ndarray], float | None]:
    """Bring every image to one pixel size with :func:`shapekit.io.resample`.

    With known pixel sizes the target is ``target_um_per_px`` (default: their median times
    ``downscale``); images of unknown size are refused then, since their scale would be a guess.
    With no pixel size known at all, every image is shrunk by ``downscale`` in pixels and the
    returned scale is ``None``.

    Returns
    -------
    images, um_per_px : list of float32 2-D arrays, float or None
        The images and their common pixel size.

    Examples
    --------
    >>> ims, ump = to_common_scale([np.zeros((100, 80), np.float32)], [0.1], downscale=2)
    >>> ims[0].shape, round(ump, 3)
    ((50, 40), 0.2)
    """
    from shapekit.io import resample
    from shapekit.io.readers import unit_image

    n = len(images)
    names = list(names) if names is not None else [f"image {i}" for i in range(n)]
    images = [unit_image(im, nm) for im, nm in zip(images, names)]    # uint8 scaled as a file's
    if not (np.isfinite(downscale) and downscale > 0):
        raise InputError(f"downscale must be a positive number, got {downscale!r}")
    ump = np.full(n, np.nan) if um_per_px is None else np.asarray(um_per_px, dtype=np.float64)
    known = np.isfinite(ump) & (ump > 0)
    if not known.any() and target_um_per_px is not None:
        raise InputError(f"a target of {target_um_per_px} um/px was given, but no image has a "
                         "known pixel size to resample from")
    if not known.any():
        return ([resample(im, 1.0, float(downscale), source=nm) if downscale != 1 else
                 np.asarray(im, dtype=np.float32) for im, nm in zip(images, names)], None)
    if not known.all():
        bad = names[int(np.argmin(known))]
        raise InputError(f"{bad}: pixel size unknown while other images have one; give every "
                         "image a um_per_px (or none) so they can share one scale")
    target = (float(np.median(ump)) * float(downscale) if target_um_per_px is None
              else float(target_um_per_px))
    return [resample(im, float(u), target, source=nm)
            for im, u, nm in zip(images, ump, names)], target


class CropDataset(Dataset):
    """Item ``i`` is a random augmented crop, a deterministic function of ``(seed, offset + i)``.

    Parameters
    ----------
    images : list of 2-D float arrays in [0, 1]
        Already at the common physical scale, each at least ``crop`` pixels on both sides.
    labels : (n,) int array
    cond : (n, k) float32 array of normalised conditions
    crop : int
        Crop side in pixels.
    length : int
        Number of items (one epoch).
    seed : int
    augment : {"dihedral", "flips", "none"} or bool
        Flips and rot90 (``"dihedral"``, or ``True``), flips about the axes only (``"flips"``:
        a direction along or across the axes stays so), or none; each with a small gain/offset
        change (``"none"`` or ``False``: neither).

    Returns items ``(x, label, cond)``: ``x`` float32 ``(1, crop, crop)`` in ``[-1, 1]``.

    Examples
    --------
    >>> ds = CropDataset([np.ones((40, 40), np.float32)], np.array([0]), np.zeros((1, 0)), 16, 4)
    >>> x, y, c = ds[0]
    >>> tuple(x.shape), int(y)
    ((1, 16, 16), 0)
    """

    def __init__(self, images: Sequence[np.ndarray], labels: np.ndarray, cond: np.ndarray, crop: int,
                 length: int, seed: int = 0, augment: str | bool = True, offset: int = 0) -> None:
        augment = _augment_mode(augment)
        self.images, self.labels = list(images), np.asarray(labels, dtype=np.int64)
        self.cond = np.asarray(cond, dtype=np.float32).reshape(len(self.images), -1)
        self.crop, self.length, self.seed = int(crop), int(length), int(seed)
        self.augment, self.offset = augment, int(offset)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.offset + int(i)])
        k = int(rng.integers(len(self.images)))
        img = self.images[k]
        h, w = img.shape
        r, c = int(rng.integers(h - self.crop + 1)), int(rng.integers(w - self.crop + 1))
        t = np.asarray(img[r:r + self.crop, c:c + self.crop], dtype=np.float32)
        if self.augment == "dihedral":
            t = np.rot90(t, int(rng.integers(4)))
            if rng.random() < 0.5:
                t = t[:, ::-1]
        elif self.augment == "flips":
            if rng.random() < 0.5:
                t = t[::-1]
            if rng.random() < 0.5:
                t = t[:, ::-1]
        if self.augment != "none":
            gain, off = rng.uniform(0.95, 1.05), rng.uniform(-0.03, 0.03)
            t = np.clip(t * gain + off, 0.0, 1.0)
        x = torch.from_numpy(np.ascontiguousarray(t) * 2 - 1)[None]
        return x, torch.tensor(self.labels[k]), torch.from_numpy(self.cond[k])


class GANDataModule(pl.LightningDataModule):
    """Random conditioned crops at a common physical scale (see :class:`CropDataset`).

    Parameters
    ----------
    images : list of 2-D arrays in [0, 1]
    labels : (n,) int array of class indices
    values : (n, k) array of raw continuous conditions (k = 0 in class mode)
    codec : ConditionCodec
    um_per_px : (n,) array or None
        Pixel size of each image; NaN/None means unknown.
    crop_size, batch_size, steps, seed, num_workers :
        Crop side, batch size, iterations per epoch, seed, DataLoader workers.
    downscale : float
        Train at this many times the median pixel size (no size known: 1/downscale of the pixels).
    target_um_per_px, names : float, list of str, optional
        Common scale (overrides ``downscale``); image names for error messages.
    augment : {"dihedral", "flips", "none"}
        Crop augmentation (see :class:`CropDataset`).

    Examples
    --------
    >>> imgs = [np.random.default_rng(0).random((48, 48)).astype(np.float32)]
    >>> codec = ConditionCodec.fit(["a"], [], np.zeros((1, 0)))
    >>> dm = GANDataModule(imgs, np.array([0]), np.zeros((1, 0)), codec, crop_size=32,
    ...                    batch_size=2, steps=3)
    >>> dm.setup("fit"); len(dm.train_dataloader())
    3
    """

    def __init__(self, images: Sequence[np.ndarray], labels: np.ndarray, values: np.ndarray,
                 codec: ConditionCodec, um_per_px: Sequence[float] | None = None,
                 crop_size: int = 64, batch_size: int = 16, steps: int = 1000, seed: int = 0,
                 num_workers: int = 0, downscale: float = 1.0,
                 target_um_per_px: float | None = None, names: Sequence[str] | None = None,
                 offset: int = 0, augment: str = "dihedral") -> None:
        super().__init__()
        self.augment = _augment_mode(augment)   # refused before any image is resampled
        self.codec, self.crop_size, self.batch_size = codec, int(crop_size), int(batch_size)
        self.steps, self.seed, self.num_workers, self.offset = int(steps), int(seed), num_workers, offset
        self.downscale = float(downscale)
        n = len(images)
        names = list(names) if names is not None else [f"image {i}" for i in range(n)]
        scaled, self.target_um_per_px = to_common_scale(images, um_per_px, downscale,
                                                        target_um_per_px, names)
        for im, name in zip(scaled, names):
            if min(im.shape) < self.crop_size:
                raise too_small(name, im.shape, self.crop_size, self.target_um_per_px,
                                 self.downscale)
        self.images = [im.astype(np.float16) for im in scaled]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cond = codec.encode(values) if codec.n_cond else np.zeros((n, 0), np.float32)
        self.held_out: list[str] = []

    def setup(self, stage: str | None = None) -> None:  # noqa: D102
        world = self.trainer.world_size if self.trainer is not None else 1
        module = getattr(self.trainer, "lightning_module", None)    # a Trainer built by hand
        want = {"n_classes": len(self.codec.label_names), "n_cond": self.codec.n_cond,
                "crop_size": self.crop_size}
        hp = getattr(module, "hparams", {})
        bad = [f"{k}={hp[k]} (the data's: {v})" for k, v in want.items() if k in hp and hp[k] != v]
        if bad:  # else an IndexError deep in torch, or conditions silently left out
            raise InputError(f"{type(module).__name__} does not fit this GANDataModule: "
                             f"{', '.join(bad)}")
        self.dataset = CropDataset(self.images, self.labels, self.cond, self.crop_size,
                                   self.steps * self.batch_size * world, self.seed,
                                   augment=self.augment, offset=self.offset)

    def train_dataloader(self) -> DataLoader:  # noqa: D102
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=False, drop_last=True,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    @classmethod
    def from_manifest(cls, manifest: str | Path, condition: str = "class",
                      root: str | Path | None = None, holdout: float = 0.0,
                      **kwargs: Any) -> "GANDataModule":
        """Build from a shapekit dataset manifest; missing columns for ``condition`` raise
        InputError. ``holdout`` keeps that fraction of the images (per class, seeded by
        ``seed``, see :func:`holdout_split`) out of training; their names are in
        :attr:`held_out`."""
        check_crop_from_headers(manifest, root, kwargs.get("crop_size", 64),
                                kwargs.get("downscale", 1.0), holdout, kwargs.get("seed", 0))
        images, labels, values, codec, ump, names = load_training_table(manifest, condition, root)
        train, test = holdout_split(labels, holdout, kwargs.get("seed", 0), codec.label_names)
        dm = cls([images[i] for i in train], labels[train], values[train], codec,
                 None if ump is None else ump[train], names=[names[i] for i in train], **kwargs)
        dm.held_out = [Path(names[i]).name for i in test]
        return dm


def load_training_table(manifest: str | Path, condition: str, root: str | Path | None = None):
    """Read images, labels, raw condition values and a fitted codec from a manifest."""
    from shapekit.io import load_manifest, read_image

    if condition not in MODES:
        raise InputError(f"unknown --condition {condition!r}; choose from {', '.join(MODES)}")
    m = load_manifest(manifest, root=root)
    paths = [Path(p) for p in m.paths]
    if not paths:
        raise InputError(f"{manifest}: the manifest lists no images")
    label_names, labels = manifest_labels(m, len(paths))
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
