"""The particle map the generator's fraction and two-point terms match: drawn at the levels of the
simulator's measurement (``fraction_map="measure"``)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shapekit.generate.module import ConditionalGAN  # noqa: E402
from shapekit.generate.terms import (FRACTION_MAPS, bright_map, exact_map,  # noqa: E402
                                     measured_map, particle_map)
from shapekit.synth import (measure_structure, particle_labels, particle_levels,  # noqa: E402
                            render_micrograph)

TINY = dict(n_classes=2, n_cond=0, g_channels=4, d_channels=4, n_up=2, d_blocks=2, z_local=2,
            z_global=4, w_dim=8)


def _as_batch(img: np.ndarray) -> torch.Tensor:
    return torch.tensor(img, dtype=torch.float32)[None, None] * 2 - 1


def test_particle_levels_are_the_levels_measure_structure_thresholds_at() -> None:
    img = render_micrograph(150.0, 3.0, size=128, um_per_px=0.002, seed=3)[0]
    lv = particle_levels(img)
    np.testing.assert_allclose(lv["flattened"], lv["smoothed"] - lv["background"])
    # the measurement with the returned threshold given by hand detects the same particles,
    # before its own half-maximum redrawing, as with its automatic one and refine off
    auto = measure_structure(img, refine=False, min_snr=0.0)
    fixed = measure_structure(img, threshold=lv["threshold"])
    assert auto["n_particles"] == fixed["n_particles"]
    assert auto["area_fraction"] == pytest.approx(fixed["area_fraction"])
    assert lv["background_level"] < lv["threshold"] and lv["noise"] > 0


def test_measured_map_follows_the_measurement_where_the_half_maximum_map_does_not() -> None:
    # two under-aged fields (2-px particles; 140 C holds 0.018 more precipitate than 195 C), a
    # peak-aged and an over-aged one
    conds = [(140.0, 2.0), (195.0, 1.4), (170.0, 40.0), (215.0, 30.0)]
    measured, new, old = [], [], []
    for i, (temp, hours) in enumerate(conds):
        img = render_micrograph(temp, hours, size=128, um_per_px=0.002, seed=i)[0]
        measured.append(measure_structure(img)["area_fraction"])
        new.append(measured_map(_as_batch(img)).mean().item())
        old.append(bright_map(_as_batch(img), window=7).mean().item())
    measured, new, old = map(np.array, (measured, new, old))
    assert np.abs(new - measured).max() < 0.005
    gap = measured[0] - measured[1]
    assert gap > 0.01
    assert abs((new[0] - new[1]) - gap) < 0.005
    # the half-maximum map understates the faint particles: it sees barely half of the gap
    assert (old[0] - old[1]) < gap - 0.005


def test_exact_map_is_the_measured_mask_where_the_soft_map_overstates_a_merged_blob() -> None:
    # a bright particle with a fainter one fused to its side: the measurement draws the blob at
    # the bright peak's half maximum and cuts most of the faint lobe off; the soft map draws the
    # lobe at its own neighbourhood's peak and keeps it
    img = np.full((64, 64), 0.2, np.float32)
    yy, xx = np.mgrid[:64, :64]
    img[(yy - 32) ** 2 + (xx - 24) ** 2 <= 25] = 0.9
    img[(yy - 32) ** 2 + (xx - 36) ** 2 <= 25] = 0.45
    img[30:35, 28:33] = 0.45
    x = _as_batch(img).requires_grad_(True)
    measured = measure_structure(img)["area_fraction"]
    lab, _ = particle_labels(img)
    assert np.count_nonzero(lab) / lab.size == measured
    u = exact_map(x)
    assert set(u.detach().unique().tolist()) == {0.0, 1.0}
    assert u.mean().item() == pytest.approx(measured, abs=1e-6)
    assert (measured_map(x).mean().item() - measured) * img.size > 8   # px of the lobe
    u.mean().backward()   # the straight-through gradient is the soft map's
    soft = x.detach().clone().requires_grad_(True)
    measured_map(soft).mean().backward()
    assert torch.equal(x.grad, soft.grad)
    # on simulator fields the two agree with the measurement to within the soft map's error
    for i, (temp, hours) in enumerate([(140.0, 2.0), (215.0, 30.0)]):
        field = render_micrograph(temp, hours, size=128, um_per_px=0.002, seed=i)[0]
        assert exact_map(_as_batch(field)).mean().item() == pytest.approx(
            measure_structure(field)["area_fraction"], abs=1e-6)


def test_measured_map_steers_an_image_towards_more_measured_precipitate() -> None:
    x0 = torch.full((1, 1, 48, 48), -0.6)
    for cy, cx in [(12, 12), (12, 36), (36, 12), (36, 36)]:
        x0[..., cy - 3:cy + 3, cx - 3:cx + 3] = 0.6
    x0 = x0 + 0.02 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    x = x0.clone().requires_grad_(True)
    u = measured_map(x)
    u.mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the gradient raises the particles' flanks: a few steps up it, the *measurement* grows
    opt = torch.optim.Adam([x], lr=0.03)
    for _ in range(30):
        opt.zero_grad()
        (-measured_map(x).mean()).backward()
        opt.step()

    def frac(t: torch.Tensor) -> float:
        return measure_structure(((t.detach()[0, 0].clamp(-1, 1) + 1) / 2).numpy())[
            "area_fraction"]

    assert frac(x) > frac(x0) + 0.01


def test_measured_map_gradient_ignores_global_brightness_and_contrast() -> None:
    # The measurement's levels are image statistics: a brighter or stiffer image moves them
    # alike, and its measured fraction does not change. The map's gradient must not reward such
    # a change either (it did while the levels were constants in grey levels: a directional
    # derivative of about 0.18 along a global shift on this crop).
    img = render_micrograph(180.0, 1.0, size=96, um_per_px=0.002, seed=1)[0]
    x = _as_batch(img).requires_grad_(True)
    measured_map(x).mean().backward()
    g = x.grad
    shift, scale = (g * torch.ones_like(g)).sum().item(), (g * x.detach()).sum().item()
    assert abs(shift) < 1e-5 and abs(scale) < 1e-5
    assert g.norm().item() > 1e-3          # while the shapes still carry a gradient
    f = measure_structure(img)["area_fraction"]
    assert measure_structure(0.2 + 0.6 * img)["area_fraction"] == pytest.approx(f, abs=2e-3)


def test_particle_map_kinds_and_errors() -> None:
    assert FRACTION_MAPS == ("half_max", "measure", "exact")
    x = torch.full((2, 1, 32, 32), -0.6)
    x[..., 8:24, 8:24] = 0.8
    for kind in FRACTION_MAPS:
        assert particle_map(x, kind).shape == x.shape
    with pytest.raises(ValueError, match="half_max, measure, exact"):
        particle_map(x, "otsu")
    with pytest.raises(ValueError, match=">= 3"):
        measured_map(x, window=1)
    with pytest.raises(ValueError, match="fraction_map"):
        ConditionalGAN(crop_size=16, fraction_map="otsu", **TINY)


def test_measured_particles_count_is_the_measurements_edge_corrected_count() -> None:
    from shapekit.generate.terms import crop_statistics, measured_particles

    imgs = [render_micrograph(t, h, size=96, um_per_px=0.002, seed=s)[0]
            for t, h, s in ((140.0, 1.0, 1), (180.0, 20.0, 2), (215.0, 60.0, 3))]
    x = torch.cat([_as_batch(a) for a in imgs]).requires_grad_(True)
    u, n = measured_particles(x)
    for a, ui, ni in zip(imgs, u, n):
        ms = measure_structure(a)
        assert ni.item() == pytest.approx(ms["number_density_per_px2"] * a.size, abs=1e-9)
        assert ui[0].detach().numpy().tolist() == (particle_labels(a)[0] > 0).tolist()
    # more, smaller particles under-aged than over-aged, at similar fractions
    assert n[0].item() > 3 * n[2].item()
    # the count carries a gradient, and the statistics gather it with the exact map's fraction
    n.sum().backward()
    assert x.grad.abs().sum() > 0
    st = crop_statistics(x.detach(), "exact", lag=4, count=True)
    assert st["count"].tolist() == n.detach().tolist()
    assert st["fraction"].tolist() == u.detach().flatten(1).mean(dim=1).tolist()
    assert set(crop_statistics(x.detach(), "half_max")) == {"fraction"}


def test_count_term_weighs_each_particle_once() -> None:
    from shapekit.generate.terms import measured_particles

    # sharp-edged particles of 16 x 16 and 4 x 4 px: the soft map's gradient sits on their edges
    x = torch.full((1, 1, 48, 48), -0.6)
    x[..., 8:24, 8:24] = 0.8
    x[..., 34:38, 34:38] = 0.8
    x.requires_grad_(True)
    u, n = measured_particles(x)
    assert n.item() == 2.0
    n.sum().backward()
    g = x.grad[0, 0].abs()
    big, small = g[7:25, 7:25], g[33:39, 33:39]
    # each particle weighs once, spread over its pixels: the small one's are pulled harder
    assert small.max() > 3 * big.max()
    # while the map's own gradient (each pixel once) pulls the large one's edge pixels alike
    y = x.detach().clone().requires_grad_(True)
    measured_particles(y)[0].sum().backward()
    gm = y.grad[0, 0].abs()
    assert gm[33:39, 33:39].max() < 2 * gm[7:25, 7:25].max()


def test_measured_elongation_is_the_measured_particles_axis_ratio() -> None:
    from skimage.measure import regionprops

    from shapekit.generate.shape import measured_elongation

    imgs = [render_micrograph(t, h, size=96, um_per_px=0.002, seed=s)[0]
            for t, h, s in ((140.0, 1.0, 1), (180.0, 20.0, 2), (215.0, 60.0, 3))]
    x = torch.cat([_as_batch(a) for a in imgs]).requires_grad_(True)
    e = measured_elongation(x)
    for a, ei in zip(imgs, e):
        lab = particle_labels(a)[0]
        edge = set(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]).tolist())
        ratios = [p.axis_major_length / p.axis_minor_length for p in regionprops(lab)
                  if p.area >= 6 and p.label not in edge]
        assert len(ratios) >= 3
        assert ei.item() == pytest.approx(np.mean(ratios), rel=1e-4)
    e.sum().backward()
    assert x.grad.abs().sum() > 0


def test_elongation_gradient_rounds_a_streak() -> None:
    from shapekit.generate.shape import measured_elongation

    x = torch.full((1, 1, 48, 48), -0.6)
    x[..., 20:28, 8:40] = 0.8                      # a 32 x 8 streak: elongation 4
    start = measured_elongation(x).item()
    assert start == pytest.approx(4.0, abs=0.1)
    for _ in range(5):                             # plain descent on the straight-through value
        x = x.requires_grad_(True)
        (g,) = torch.autograd.grad(measured_elongation(x).sum(), x)
        x = (x - 2000 * g).clamp(-1, 1).detach()
    assert measured_elongation(x).item() < 0.6 * start
    # particles cut by the border or under 6 px are not measured: no value, no gradient
    y = torch.full((2, 1, 32, 32), -0.6)
    y[0, :, 0:10, 5:15] = 0.8
    y[1, :, 10:12, 10:12] = 0.8
    assert measured_elongation(y).isnan().tolist() == [True, True]
