"""A tiny exported generator for the tests of ``shapekit generate`` (untrained: what is tested is
the command around it, not its images)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_export(out: Path, temperature: bool = False) -> Path:
    """Export an untrained 2-class generator (16-px crops) to ``out``; with ``temperature`` it is
    a parameters-mode model with one condition ``T`` trained on 100-200."""
    import torch

    from shapekit.generate.data import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    codec = (ConditionCodec.fit(["a", "b"], ["T"], np.array([[100.0], [200.0]]), mode="parameters")
             if temperature else ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))))
    export_generator(Generator(2, int(temperature), z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     codec, out, crop_size=16)
    return out
