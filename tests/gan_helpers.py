"""A tiny exported generator for the tests of ``shapekit generate`` (untrained: what is tested is
the command around it, not its images)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_export(out: Path, temperature: bool = False) -> Path:
    """Export an untrained 2-class generator (16-px crops) to ``out``; with ``temperature`` it is
    a parameters-mode model with one condition ``T`` trained on 100-200."""
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    codec = (ConditionCodec.fit(["a", "b"], ["T"], np.array([[100.0], [200.0]]), mode="parameters")
             if temperature else ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))))
    export_generator(Generator(2, int(temperature), z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     codec, out, crop_size=16)
    return out


#: train-gan options of a tiny run: 32-px crops, batch 2, 4 channels, no sample grids, a
#: checkpoint at every iteration
TINY_RUN_ARGS = ["--crop-size", "32", "--batch-size", "2", "--channels", "4", "--sample-every", "0",
                 "--checkpoint-every", "1"]


def tiny_cli_run(folder: Path, steps: int) -> tuple[Path, Path]:
    """Train a tiny run of ``steps`` iterations through the CLI on 4 tiny images in ``folder``;
    return (manifest, run directory)."""
    import pytest
    from test_generate import make_tiny_dataset

    from shapekit.cli import main

    manifest = make_tiny_dataset(folder / "data", n=4)
    with pytest.raises(SystemExit) as e:
        main(["train-gan", str(manifest), "--out", str(folder / "run"), "--max-steps", str(steps),
              *TINY_RUN_ARGS])
    assert e.value.code == 0
    return manifest, folder / "run"
