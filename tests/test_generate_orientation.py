"""A direction shared by a generator's images (`shapekit.generate.checks.orientation_bias`): the
realism score and the TopTemp checker cannot see it, since persistence diagrams do not change when
an image turns. Known answers on stripes and on noise."""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.generate.checks import orientation_bias


def stripes(angle_deg: float, size: int = 96, period: float = 16.0, phase: float = 0.0):
    """Stripes running at ``angle_deg`` counter-clockwise from the x axis, as displayed."""
    y, x = np.mgrid[:size, :size].astype(float)
    t = np.radians(angle_deg)
    # the displayed y axis points up: row index down
    across = -x * np.sin(t) - y * np.cos(t)
    return np.sin(2 * np.pi * across / period + phase)


@pytest.mark.parametrize("angle", [0, 30, 45, 90, -60])
def test_a_set_of_alike_stripes_shares_their_direction(angle):
    r = orientation_bias([stripes(angle, phase=k) for k in range(6)])
    assert r["shared"] > 0.99 and r["coherence"] > 0.8 and r["p"] < 0.01
    d = (r["direction_deg"] - angle + 90) % 180 - 90
    assert abs(d) < 2, r


def test_stripes_of_every_direction_share_none():
    r = orientation_bias([stripes(a) for a in np.arange(0, 180, 15)])   # 12 directions
    assert r["shared"] < 0.05 and r["p"] > 0.5 and r["coherence"] > 0.8


def test_noise_has_no_direction_and_its_chance_level_is_as_stated():
    rng = np.random.default_rng(0)
    n = 48
    rs = [orientation_bias(list(rng.random((n, 64, 64))))["shared"] for _ in range(10)]
    # about sqrt(pi / 4n) = 0.128 for n random directions
    assert 0.07 < np.mean(rs) < 0.2


def test_a_turned_set_keeps_its_spread_and_turns_its_direction():
    rng = np.random.default_rng(1)
    base = [stripes(20, phase=k) + 0.3 * rng.standard_normal((96, 96)) for k in range(8)]
    a, b = orientation_bias(base), orientation_bias([np.rot90(im) for im in base])
    assert a["shared"] == pytest.approx(b["shared"], abs=1e-9)
    assert (b["direction_deg"] - a["direction_deg"]) % 180 == pytest.approx(90, abs=1e-6)


def test_sigma_below_one_pixel_is_refused():
    with pytest.raises(ValueError, match="at least 1 px"):
        orientation_bias([np.zeros((8, 8))], sigma=0.5)
