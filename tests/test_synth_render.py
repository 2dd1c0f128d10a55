"""Simulated micrographs: ground truth recovered by measure_structure, determinism, info bar.

Tolerances (stated in the assertions): the measured area fraction is within 15 % (relative) of the
process model's requested one and the measured mean radius within 15 %, for fields holding at
least ~15 particles (128 px for under/peak-aged, 256 px for over-aged conditions, whose particles
reach 12 px radius). Against the realised structure of the same field the measurement is tighter:
10 % for the fraction, 15 % for the radius (the smallest particles, 2 px, read ~10 % large).
"""

from __future__ import annotations

import numpy as np
import pytest

from shapekit.errors import InputError
from shapekit.synth import measure_structure, render_micrograph, simulate_microstructure

CONDITIONS = [  # (T C, t h, size px, expected temper)
    (150.0, 2.0, 128, "under_aged"),
    (180.0, 5.0, 128, "under_aged"),
    (200.0, 8.0, 128, "peak_aged"),
    (220.0, 3.0, 128, "peak_aged"),
    (200.0, 40.0, 256, "over_aged"),
    (220.0, 20.0, 256, "over_aged"),
]


@pytest.mark.parametrize("T,t,size,temper", CONDITIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_measured_structure_matches_requested(T, t, size, temper, seed):
    img, truth = render_micrograph(T, t, size=size, seed=seed)
    assert truth["temper"] == temper
    assert truth["n_particles"] >= 15
    m = measure_structure(img, um_per_px=truth["um_per_px"])
    assert m["area_fraction"] == pytest.approx(truth["area_fraction"], rel=0.15)
    assert m["mean_radius_nm"] == pytest.approx(truth["mean_radius_nm"], rel=0.15)
    assert m["area_fraction"] == pytest.approx(truth["realised_area_fraction"], rel=0.10)
    assert m["mean_radius_nm"] == pytest.approx(truth["realised_mean_radius_nm"], rel=0.15)
    assert m["number_density_per_um2"] == pytest.approx(truth["realised_number_density_per_um2"],
                                                        rel=0.25)
    # the field realises the requested fraction (top-up / trim inside the view)
    assert truth["realised_area_fraction"] == pytest.approx(truth["area_fraction"], rel=0.05)


def test_measured_radius_grows_with_aging_time():
    radii = [measure_structure(render_micrograph(220.0, t, size=192, seed=3)[0],
                               um_per_px=0.002)["mean_radius_nm"] for t in (0.3, 3.0, 20.0)]
    assert radii[0] < radii[1] < radii[2]
    assert radii[2] > 2.5 * radii[0]


def test_deterministic_per_seed_and_bar_independent():
    a, ta = render_micrograph(200.0, 8.0, size=96, seed=5)
    b, tb = render_micrograph(200.0, 8.0, size=96, seed=5)
    c, _ = render_micrograph(200.0, 8.0, size=96, seed=6)
    assert np.array_equal(a, b) and ta == tb
    assert not np.array_equal(a, c)
    d, td = render_micrograph(200.0, 8.0, size=96, seed=5, info_bar=True)
    rows = td["info_bar_rows"]
    assert d.shape == (96 + rows, 96) and np.array_equal(d[:96], a)


def test_image_format_and_truth_keys():
    img, t = render_micrograph(170.0, 1.0, size=(64, 80), seed=0)
    assert img.shape == (64, 80) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.05
    for key in ("area_fraction", "realised_area_fraction", "mean_radius_nm", "realised_mean_radius_nm",
                "number_density_per_um2", "realised_number_density_per_um2", "hardness_HV", "temper",
                "pfz_width_nm", "n_grains", "info_bar_rows", "imaging"):
        assert key in t
    assert t["info_bar_rows"] == 0


def test_particles_avoid_the_pfz_and_boundary_particles_sit_on_boundaries():
    m, model = simulate_microstructure(220.0, 30.0, size=256, seed=2)
    d = m.gb_distance
    h, w = d.shape
    r = np.clip(np.rint(m.centers[:, 0]).astype(int), 0, h - 1)
    c = np.clip(np.rint(m.centers[:, 1]).astype(int), 0, w - 1)
    inside = m.in_view & ~m.on_boundary
    assert inside.sum() > 10
    assert np.all(d[r[inside], c[inside]] >= m.pfz_px + m.radii[inside] - 1.0)
    gb = m.in_view & m.on_boundary
    assert np.all(d[r[gb], c[gb]] <= 1.0)
    assert m.pfz_px == pytest.approx(model["pfz_width_nm"] / 2.0)
    # the hard core: no two particles touch
    from scipy.spatial.distance import pdist, squareform

    dd = squareform(pdist(m.centers))
    np.fill_diagonal(dd, np.inf)
    assert np.all(dd >= m.radii[:, None] + m.radii[None, :] + 1.99)


def test_info_bar_is_found_by_the_ingestion_detector():
    io = pytest.importorskip("shapekit.io")
    for seed in (0, 1, 2):
        img, t = render_micrograph(210.0, 10.0, size=128, seed=seed, info_bar=True)
        rows = t["info_bar_rows"]
        assert 16 <= rows <= int(0.16 * 128) + 1
        bar = img[-rows:]
        assert np.mean(bar < 0.05) > 0.7 and np.mean(bar > 0.9) > 0.01  # black band, white ink
        assert abs(io.detect_info_bar(img) - rows) <= 2


def test_measure_known_discs():
    img = np.full((120, 120), 0.25, np.float32)
    yy, xx = np.mgrid[:120, :120]
    centres = [(20, 20), (20, 60), (20, 100), (60, 40), (60, 80), (100, 20), (100, 60), (100, 100)]
    for cy, cx in centres:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 8**2] = 0.85
    img += np.random.default_rng(0).normal(0, 0.02, img.shape).astype(np.float32)
    s = measure_structure(img, um_per_px=0.01)
    area = np.count_nonzero(img > 0.55) / img.size
    assert s["n_particles"] == 8
    assert s["mean_radius_px"] == pytest.approx(8.0, abs=0.4)
    assert s["mean_radius_nm"] == pytest.approx(s["mean_radius_px"] * 10.0)
    assert s["area_fraction"] == pytest.approx(area, rel=0.06)
    assert s["number_density_per_um2"] == pytest.approx(8 / (120 * 120 * 1e-4))


def test_measure_border_particles_count_half_and_skip_radius():
    img = np.zeros((100, 100), np.float32)
    yy, xx = np.mgrid[:100, :100]
    img[(yy - 50) ** 2 + (xx - 50) ** 2 <= 49] = 1.0
    img[(yy - 50) ** 2 + (xx - 0) ** 2 <= 100] = 1.0  # cut by the left edge
    s = measure_structure(img, background_sigma=0)
    assert s["n_particles"] == 2
    assert s["number_density_per_px2"] == pytest.approx(1.5 / 1e4)
    assert s["mean_radius_px"] == pytest.approx(7.0, abs=0.4)  # the cut particle is left out


def test_measure_fixed_threshold_and_degenerate_images():
    flat = np.full((32, 32), 0.4, np.float32)
    s = measure_structure(flat)
    assert s["n_particles"] == 0 and s["area_fraction"] == 0.0 and np.isnan(s["mean_radius_px"])
    img = np.zeros((40, 40), np.float32)
    img[10:20, 10:20] = 0.5
    assert measure_structure(img, threshold=0.6, background_sigma=0)["n_particles"] == 0
    assert measure_structure(img, threshold=0.2, background_sigma=0, smooth_sigma=0)["area_fraction"] \
        == pytest.approx(100 / 1600)


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((10, 10, 3)),
                                 np.full((20, 20), np.nan)])
def test_measure_rejects_bad_images(bad):
    with pytest.raises(InputError):
        measure_structure(bad)


def test_render_rejects_bad_arguments():
    with pytest.raises(InputError, match="size"):
        render_micrograph(200.0, 1.0, size=16)
    with pytest.raises(InputError, match="um_per_px"):
        render_micrograph(200.0, 1.0, size=64, um_per_px=0.0)
    with pytest.raises(InputError):
        render_micrograph(200.0, -1.0, size=64)


def test_measure_pure_noise_is_empty():
    rng = np.random.default_rng(0)
    for _ in range(3):
        img = (0.4 + rng.normal(0, 0.05, (128, 128))).astype(np.float32)
        s = measure_structure(img)
        assert s["n_particles"] <= 1 and s["area_fraction"] < 0.002


def test_grain_density_sets_the_number_of_grains():
    from shapekit.errors import InputError

    base, t = render_micrograph(200.0, 10.0, size=256, seed=4)
    same, _ = render_micrograph(200.0, 10.0, size=256, seed=4, grain_density_per_um2=12.0)
    assert np.array_equal(base, same)       # the default is the documented 12 grains per um^2
    # 256^2 px at 2 nm: 0.262 um^2; Poisson-Voronoi seeds inside plus cells reaching in
    few = render_micrograph(200.0, 10.0, size=256, seed=4, grain_density_per_um2=0.001)[1]
    many = render_micrograph(200.0, 10.0, size=256, seed=4, grain_density_per_um2=200.0)[1]
    assert few["n_grains"] == 1 and 2 <= t["n_grains"] <= 15 and many["n_grains"] >= 40
    # one grain: no boundary, so no boundary particles and no precipitate-free zone
    assert few["n_gb_particles"] == 0
    for bad in (0.0, -1.0, float("nan"), 5000.0):
        with pytest.raises(InputError, match="grain_density_per_um2"):
            render_micrograph(200.0, 10.0, size=64, grain_density_per_um2=bad)


def test_grain_geometry_is_the_same_in_any_number_of_row_chunks(monkeypatch):
    from shapekit.synth import microstructure

    whole = microstructure._grains((96, 80), 2e-3, np.random.default_rng(3), 10)
    monkeypatch.setattr(microstructure, "_CHUNK_BYTES", 1)       # one row at a time
    rows = microstructure._grains((96, 80), 2e-3, np.random.default_rng(3), 10)
    assert len(np.unique(whole[0])) > 10
    assert np.array_equal(whole[0], rows[0]) and np.array_equal(whole[1], rows[1])
    # the boundary distance is the distance to the perpendicular bisector of the two nearest seeds
    assert float(whole[1].min()) >= 0.0 and np.isfinite(whole[1]).all()
