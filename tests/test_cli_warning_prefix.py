"""Every warning the CLI prints is one ``shapekit: warning: ...`` line (the contract in
shapekit/cli/__init__.py and shapekit/errors.py): generate and score printed a bare
``warning: ...``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

CLI = Path(__file__).resolve().parents[1] / "shapekit" / "cli"


def _warnings(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if re.search(r"\bwarning\b", ln, re.IGNORECASE)]


def test_generate_and_score_warn_with_the_shapekit_prefix(run_cli, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import cv2
    import torch

    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    export_generator(Generator(2, 1, z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     ConditionCodec.fit(["a", "b"], ["T"], np.array([[1.0], [2.0]]),
                                        mode="parameters"), tmp_path / "gan", crop_size=16)
    rng = np.random.default_rng(0)
    for d in ("real", "fake"):
        (tmp_path / d).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / d / f"i{i}.png"), (rng.random((48, 48)) * 255).astype(np.uint8))
    runs = {
        "generate": ("generate", tmp_path / "gan", "--set", "T=5", "--n", "1", "--size", "32",
                     "--out", tmp_path / "g"),   # outside the training range
        "score": ("score", tmp_path / "real", tmp_path / "fake", "--n-boot", "2", "--n-perm", "2",
                  "--mode", "structure"),        # fewer than 4 real images: no baseline
    }
    for name, args in runs.items():
        code, _, err = run_cli(*args)
        lines = _warnings(err)
        assert code == 0 and lines, (name, err)
        assert all(ln.startswith("shapekit: warning: ") for ln in lines), (name, err)


def test_no_command_prints_its_own_warning_prefix() -> None:
    # every CLI warning goes through shapekit.cli._common.warn (or a ShapekitWarning)
    bad = [f"{p.name}:{i}" for p in sorted(CLI.glob("*.py")) if p.name != "_common.py"
           for i, ln in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if re.search(r"""(info|echo|write)\(f?["']\s*(shapekit: )?warning""", ln, re.IGNORECASE)]
    assert not bad, bad
