"""classify on images that ``shapekit generate`` made at a fraction of its training images' pixel
scale (uhcs3-class: downscale 2, recorded in conditions.csv, no pixel size) classified them at
the wrong scale without a word (one of eight pearlite images came back "unknown"); it now warns,
naming the upsampling that puts them back at the training scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _folder(d: Path, downscale: str) -> Path:
    import cv2

    d.mkdir()
    cv2.imwrite(str(d / "gen_00000.png"),
                (np.random.default_rng(0).random((256, 256)) * 255).astype(np.uint8))
    (d / "conditions.csv").write_text(f"file,label,seed,index,um_per_px,downscale\n"
                                      f"gen_00000.png,pearlite,0,0,,{downscale}\n")
    return d


@pytest.mark.parametrize("downscale", ["2.0", "1.0"])
def test_classify_warns_of_generated_scale(run_cli, tmp_path: Path, downscale: str) -> None:
    d = _folder(tmp_path / "gen", downscale)
    code, out, err = run_cli("classify", "uhcs3", d)
    assert code == 0 and "gen_00000.png" in out, err
    lines = [ln for ln in err.splitlines() if "shapekit generate made" in ln]
    if downscale == "1.0":   # at the training scale: nothing to say
        assert not lines, err
        return
    assert len(lines) == 1 and lines[0].startswith("shapekit: warning: "), err
    assert "downscale 2 in conditions.csv" in lines[0] and lines[0].endswith("then classify DIR")
    assert f"shapekit ingest {d}/gen_* --out DIR --source-um-per-px 2 --um-per-px 1" in lines[0]
