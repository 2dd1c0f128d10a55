"""Robustness table: accuracies and drops with known answers."""

from __future__ import annotations

import numpy as np

from shapekit.temper.robustness import robustness_table


def test_drop_is_computed_from_exact_accuracies():
    """50 of 60 right on clean scans, 49 of 60 when brighter: the drop is 1/60 = 0.0167 (it read
    0.0166, the clean accuracy less the rounded 0.8167)."""
    imgs = [np.full((8, 8), 0.2, np.float32) for _ in range(60)]
    y = np.zeros(60, int)

    def predict(ims):
        brighter = float(ims[0].mean()) > 0.25
        wrong = 11 if brighter else 10
        return np.array([1] * wrong + [0] * (len(ims) - wrong))

    r = robustness_table(predict, imgs, y, ["brightness_+0.1"])
    assert r["clean"] == 0.8333 and r["accuracy"] == {"brightness_+0.1": 0.8167}
    assert r["drop"] == {"brightness_+0.1": 0.0167} and r["max_drop"] == 0.0167
