"""``shapekit demo`` samples the shipped generator inside its training range (no extrapolation warning)."""

import warnings

import pandas as pd

from shapekit.cli.demo import realism_conditions
from shapekit.generate import load_generator
from shapekit.registry import resolve
from shapekit.synth import synthesize


def test_clips_each_condition_to_the_range():
    table = pd.DataFrame({"temper": ["under_aged", "over_aged", "peak_aged"],
                          "aging_temperature_C": [119.0, 230.0, 150.0],
                          "aging_time_h": [0.05, 120.0, 8.0]})
    ranges = {"aging_temperature_C": (120.0, 220.0), "aging_time_h": (0.1, 100.0)}
    got = realism_conditions(table, ranges, k=2)
    assert got == [("under_aged", {"aging_temperature_C": 120.0, "aging_time_h": 0.1}),
                   ("over_aged", {"aging_temperature_C": 220.0, "aging_time_h": 100.0})]


def test_default_demo_heldout_conditions_sample_without_warning():
    # the default demo (--n 99, seed 0) holds out 49 images drawn with seed 1; its row 22 is aged
    # at 120.341 C, below the shipped generator's 120.449 C, which made the demo warn
    held = synthesize(49, seed=1, size=32)
    assert held.table["aging_temperature_C"].min() < 120.449
    gen = load_generator(resolve("sim-parameters", "generator"))
    conds = realism_conditions(held.table, gen.ranges, 24)
    assert len(conds) == 24
    assert conds[22][1]["aging_temperature_C"] == gen.ranges["aging_temperature_C"][0]
    assert conds[0][1]["aging_time_h"] == float(held.table["aging_time_h"][0])  # inside: unchanged
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _, c in conds:
            gen.check_conditions(c)
