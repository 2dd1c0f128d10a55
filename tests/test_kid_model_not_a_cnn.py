"""``--kid-model`` given a TopTemp model directory or a GAN run directory says what it is.

It said ".../classifier.safetensors: no SmallResNet architecture (JSON with 'width' and 'depths')
beside it", which does not tell the user that the directory is the wrong kind of model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shapekit.errors import ModelFormatError
from shapekit.temper.cnn import load_feature_extractor

PRETRAINED = Path(__file__).resolve().parents[1] / "shapekit" / "pretrained"


@pytest.mark.parametrize(("source", "what"), [
    ("uhcs3", "a TopTemp model directory"), ("uhcs3/classifier.safetensors", "a TopTemp model directory"),
    ("uhcs3-class", "a GAN run directory"), ("uhcs3-class/generator.safetensors", "a GAN run directory")])
def test_a_non_cnn_model_is_named(source, what):
    with pytest.raises(ModelFormatError, match=f"is {what} .*not a CNN.*CNN model directory") as e:
        load_feature_extractor(PRETRAINED / source)
    assert "\n" not in str(e.value)


def test_score_with_a_toptemp_kid_model_fails_in_one_line(run_cli, tmp_path):
    import cv2

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "x.png"), np.zeros((64, 64), np.uint8))
    code, out, err = run_cli("score", tmp_path / "a", tmp_path / "b", "--kid-model",
                             PRETRAINED / "uhcs3")
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "uhcs3 is a TopTemp model directory" in lines[0], err
    assert "--model cnn" in lines[0]
