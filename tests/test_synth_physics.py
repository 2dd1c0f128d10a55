"""Process model of the simulator: coarsening, solvus, hardness peak, many-to-one map, tempers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from shapekit.errors import InputError
from shapekit.synth import physics
from shapekit.synth.physics import (DOMAIN, RC_NM, TEMPERS, hardness, process_model, sample_process,
                                    temper_of)

T_GRID = np.linspace(*DOMAIN["aging_temperature_C"], 41)
t_GRID = np.logspace(np.log10(DOMAIN["aging_time_h"][0]), np.log10(DOMAIN["aging_time_h"][1]), 61)


def test_radius_monotone_in_time_and_temperature():
    r = physics.mean_radius(T_GRID[:, None], t_GRID[None, :])
    assert np.all(np.diff(r, axis=1) > 0)  # longer aging, coarser
    assert np.all(np.diff(r, axis=0) > 0)  # hotter, coarser
    assert float(physics.mean_radius(180.0, 0.0)) == pytest.approx(physics.R0_NM)


def test_coarsening_law_cubic_in_time_and_arrhenius_in_temperature():
    t = np.array([1.0, 4.0, 16.0])
    r = physics.mean_radius(200.0, t)
    gain = r**3 - physics.R0_NM**3
    np.testing.assert_allclose(gain / t, gain[0] / t[0], rtol=1e-9)  # r^3 - r0^3 proportional to t
    T = np.array([150.0, 200.0])
    k = physics.coarsening_rate(T)
    slope = np.log(k[1] / k[0]) / (1 / (T[0] + 273.15) - 1 / (T[1] + 273.15))
    assert slope == pytest.approx(physics.Q_COARSEN / physics.R_GAS, rel=1e-9)


def test_fraction_follows_the_solvus():
    f = physics.volume_fraction(T_GRID)
    assert np.all(np.diff(f) < 0) and f.min() > 0.1 and f.max() < 0.17
    assert float(physics.volume_fraction(320.0)) == 0.0  # above the solvus: nothing precipitates
    # far above it (c_e > CP, from 425 C) the lever rule's two negative terms gave f > 0 again:
    # 1.03 at 1000 C, a field packed with particles ~800 px across that took minutes to draw
    assert physics.volume_fraction([425.0, 600.0, 1000.0, 5000.0]).tolist() == [0.0] * 4
    assert physics.SOLVUS_C == pytest.approx(291.3, abs=0.05)
    assert float(physics.volume_fraction(physics.SOLVUS_C - 0.01)) > 0.0
    assert float(physics.volume_fraction(physics.SOLVUS_C + 0.01)) == 0.0


def test_the_simulator_refuses_aging_at_or_above_the_solvus():
    # render_micrograph(1000, 1) drew an (empty) 1700-px margin field of grains for 170 s
    import time

    from shapekit.synth import render_micrograph

    t0 = time.perf_counter()
    for T in (physics.SOLVUS_C, 300.0, 1000.0):
        with pytest.raises(InputError, match=r"aging temperature .* C is at or above the model "
                                             r"alloy's solvus \(291 C\), where no precipitate"):
            render_micrograph(T, 1.0, size=64)
    assert time.perf_counter() - t0 < 1.0
    assert render_micrograph(290.0, 1.0, size=64)[0].shape == (64, 64)
    m = process_model(200.0, 5.0)
    nd = m["area_fraction"] / (np.pi * physics.LSW_M2 * m["mean_radius_nm"] ** 2) * 1e6
    assert float(m["number_density_per_um2"]) == pytest.approx(float(nd))


def test_lsw_distribution_normalised_with_unit_mean():
    rho = np.linspace(0, 1.5, 30001)
    pdf = physics.lsw_pdf(rho)
    assert np.trapezoid(pdf, rho) == pytest.approx(1.0, abs=2e-3)
    assert np.trapezoid(rho * pdf, rho) == pytest.approx(1.0, abs=2e-3)
    x = physics.sample_lsw(50000, np.random.default_rng(0))
    assert x.mean() == pytest.approx(1.0, abs=0.01) and x.max() < 1.5
    assert np.mean(x**2) == pytest.approx(physics.LSW_M2, abs=0.01)


@pytest.mark.parametrize("T", [180.0, 200.0, 220.0])
def test_hardness_has_an_interior_peak_at_the_critical_radius(T):
    t = np.logspace(-1, 2, 3001)
    h = hardness(T, t)
    i = int(np.argmax(h))
    assert 0 < i < len(t) - 1
    assert h[i] > h[0] + 20 and h[i] > h[-1] + 20  # a clear peak, not a plateau
    r_peak = float(physics.mean_radius(T, t[i]))
    assert r_peak == pytest.approx(RC_NM, rel=0.01)
    assert process_model(T, t[i])["temper"] == "peak_aged"


def test_shearing_and_orowan_regimes():
    f = 0.12
    r = np.array([4.0, 6.0])  # below r_c: shearing, sigma - sigma0 ~ sqrt(r)
    d = physics.strength_from_structure(f, r) - physics.SIGMA0_MPA
    assert d[1] / d[0] == pytest.approx(np.sqrt(6.0 / 4.0), rel=1e-9)
    r = np.array([12.0, 24.0])  # above: Orowan, ~ ln(2r/b) / r
    d = physics.strength_from_structure(f, r) - physics.SIGMA0_MPA
    b = physics.BURGERS_NM
    assert d[1] / d[0] == pytest.approx(np.log(48 / b) / np.log(24 / b) / 2.0, rel=1e-9)
    # both branches meet at r_c
    lo, hi = physics.strength_from_structure(f, [RC_NM * (1 - 1e-9), RC_NM * (1 + 1e-9)])
    assert lo == pytest.approx(hi, rel=1e-6)


def test_hardness_is_many_to_one_under_and_over_aged_pairs():
    T1, t1 = 180.0, 1.0
    h_under = float(hardness(T1, t1))
    assert temper_of(T1, t1) == "under_aged"
    # the same hardness again on the over-aged side of two isotherms
    for T2 in (200.0, 220.0):
        t_peak = brentq(lambda t: float(physics.mean_radius(T2, t)) - RC_NM, 1e-3, 1e3)
        t2 = brentq(lambda t: float(hardness(T2, t)) - h_under, t_peak * 1.0001, 1e4)
        assert float(hardness(T2, t2)) == pytest.approx(h_under, abs=1e-6)
        assert temper_of(T2, t2) == "over_aged"
        assert float(physics.mean_radius(T2, t2)) > 1.25 * RC_NM


def test_all_tempers_occur_in_the_domain_and_pfz_widens():
    m = process_model(T_GRID[:, None], t_GRID[None, :])
    frac = {k: float(np.mean(m["temper"] == k)) for k in TEMPERS}
    assert all(v > 0.05 for v in frac.values()), frac
    over = m["temper"] == "over_aged"
    assert m["pfz_width_nm"][over].min() > m["pfz_width_nm"][m["temper"] == "under_aged"].max()
    hv = m["hardness_HV"]
    assert 70 < hv.min() < 100 and 160 < hv.max() < 200  # 7xxx-like range (T6 7075 ~ 175 HV)


def test_process_model_scalar_and_vector_agree():
    v = process_model([150.0, 210.0], [2.0, 50.0])
    for i, (T, t) in enumerate([(150.0, 2.0), (210.0, 50.0)]):
        s = process_model(T, t)
        assert np.ndim(s["hardness_HV"]) == 0
        assert float(s["hardness_HV"]) == pytest.approx(float(v["hardness_HV"][i]))
        assert s["temper"] == v["temper"][i]


def test_sample_process_balanced_deterministic_and_in_domain():
    df = sample_process(301, 7)
    counts = df["temper"].value_counts()
    assert sorted(counts.tolist()) == [100, 100, 101]
    assert set(counts.index) == set(TEMPERS)
    lo, hi = DOMAIN["aging_temperature_C"]
    assert df["aging_temperature_C"].between(lo, hi).all()
    lo, hi = DOMAIN["aging_time_h"]
    assert df["aging_time_h"].between(lo, hi).all()
    assert (df["temper"] == temper_of(df["aging_temperature_C"], df["aging_time_h"])).all()
    assert sample_process(301, 7).equals(df)
    assert not sample_process(301, 8).equals(df)
    raw = sample_process(3000, np.random.default_rng(0), balanced=False)
    assert (raw["temper"] == "under_aged").mean() > 0.6  # the unbalanced domain is mostly under-aged


@pytest.mark.parametrize("T,t", [(float("nan"), 1.0), (150.0, -1.0), (-300.0, 1.0), (150.0, np.inf)])
def test_bad_conditions_raise_input_error(T, t):
    with pytest.raises(InputError):
        process_model(T, t)


def test_sample_process_rejects_bad_n_and_empty_domains():
    with pytest.raises(InputError):
        sample_process(0, 0)
    with pytest.raises(InputError, match=r"holds \(almost\) no"):
        sample_process(3, 0, domain={"aging_temperature_C": (120.0, 130.0), "aging_time_h": (0.1, 1.0)})


@settings(max_examples=60, deadline=None)
@given(T=st.floats(120.0, 220.0), t1=st.floats(0.1, 100.0), t2=st.floats(0.1, 100.0))
def test_property_radius_monotone_and_hardness_below_the_isotherm_peak(T, t1, t2):
    lo, hi = sorted((t1, t2))
    assert float(physics.mean_radius(T, lo)) <= float(physics.mean_radius(T, hi))
    # the hardness on an isotherm never exceeds its value where r = r_c
    t_peak = (RC_NM**3 - physics.R0_NM**3) / float(physics.coarsening_rate(T))
    assert float(hardness(T, lo)) <= float(hardness(T, t_peak)) + 1e-9
    # and the temper agrees with the radius bounds
    r = float(physics.mean_radius(T, lo))
    want = "under_aged" if r < 0.8 * RC_NM else ("peak_aged" if r <= 1.25 * RC_NM else "over_aged")
    assert temper_of(T, lo) == want
