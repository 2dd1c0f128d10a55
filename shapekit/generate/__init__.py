"""shapekit.generate: a conditional GAN for SEM micrographs (PyTorch Lightning).

Generate micrographs for a temper class and, optionally, process parameters or material
properties, as in the ShAPE conditional-GAN work (Howland, Kassab, Kappagantula, Kvinge, Emerson,
arXiv:2302.08495).

Public API::

    train_gan(manifest, out, condition=..., crop_size=..., max_steps=..., ...)    # -> summary dict
    fit_gan(datamodule, out, ...)                  # the same on a ready GANDataModule
    load_generator(run_dir) -> GeneratorSampler    # .sample(n, label, conditions, seed, size)
    export_generator(generator, codec, run_dir, crop_size=...)
    GANDataModule, CropDataset, ConditionCodec     # data: random crops at a common scale, codec
    ConditionalGAN                                 # the LightningModule (manual optimisation)
    Generator, Discriminator                       # the networks
    diff_augment                                   # DiffAugment for grey images

Heavy modules (torch, Lightning) load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "train_gan": "train", "fit_gan": "train", "MODEL_DEFAULTS": "train",
    "load_generator": "export", "export_generator": "export", "GeneratorSampler": "export",
    "GANDataModule": "data", "CropDataset": "data", "ConditionCodec": "codec",
    "ConditionalGAN": "module", "Generator": "nets", "Discriminator": "discriminator",
    "diff_augment": "diffaug",
}

__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    """The lazily loaded names too, so that ``dir()`` and tab completion list them."""
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"shapekit.generate.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'shapekit.generate' has no attribute {name!r}")
