"""Known answers: empirical equivariance deviation (EED) and frequency sensitivity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shapekit.analysis.frequency import (fit_power_law, frequency_report, power_map,
                                         radial_power_spectrum, radial_profile, sensitivity_map,
                                         synthetic_power_law_image)
from shapekit.analysis.invariance import (GroupAveraged, equivariance_deviation,
                                          group_transforms, mean_pairwise_distance,
                                          prediction_flip_rate, rotate)
from shapekit.errors import InputError


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def test_group_elements_are_group_actions(images):
    x = images[:2]
    names = {g: [t.name for t in group_transforms(g)] for g in ("rot90", "flips", "d4")}
    assert len(names["d4"]) == 7 and len(set(names["d4"])) == 7
    # rot90 composed four times is the identity; every flip is an involution
    r = group_transforms("rot90")[0]
    assert torch.equal(r(r(r(r(x)))), x)
    for t in group_transforms("flips"):
        assert torch.equal(t(t(x)), x)
    # the 7 non-identity elements of D4 give 7 distinct images of a generic input
    outs = [t(x).flatten() for t in group_transforms("d4")] + [x.flatten()]
    assert len({tuple(o.tolist()) for o in outs}) == 8
    with pytest.raises(InputError, match="unknown group"):
        group_transforms("spin")


def test_identity_map_equivariant_zero_invariant_positive(images):
    ident = lambda t: t  # noqa: E731
    for g in ("rot90", "flips", "d4", "shift"):
        assert equivariance_deviation(ident, images, g, equivariant=True)["output"].score == 0.0
        inv = equivariance_deviation(ident, images, g)["output"].score
        # for i.i.d. pixels, moving an image is like swapping it for another: score near 1
        assert 0.8 < inv < 1.2, (g, inv)
    # intensity: rho = scaling, identity is exactly equivariant
    assert equivariance_deviation(ident, images, "intensity", equivariant=True)["output"].score < 1e-12


def test_group_averaged_model_is_invariant_random_linear_is_not(images):
    net = _cnn()
    for g in ("rot90", "flips", "d4"):
        avg = GroupAveraged(net, g)
        assert equivariance_deviation(avg, images, g)["output"].score < 1e-5
    torch.manual_seed(1)
    w = torch.randn(64, 16)
    lin = equivariance_deviation(lambda t: t.flatten(1) @ w, images, "rot90")["output"].score
    sorted_px = equivariance_deviation(lambda t: t.flatten(1).sort(1).values, images,
                                       "rot90")["output"].score
    assert sorted_px < 1e-12 and lin > 0.8
    assert prediction_flip_rate(GroupAveraged(net, "d4"), images, "d4") == 0.0


def test_layers_via_hooks_and_normalisation(images):
    net = _cnn()
    res = equivariance_deviation(net, images, "rot90", layers=["0", "2", "4"])
    assert list(res) == ["0", "2", "4", "output"]
    # a scaled copy of a layer scores the same: the normalisation divides the scale out
    scaled = nn.Sequential(net, nn.Identity())
    big = equivariance_deviation(lambda t: 100.0 * net(t), images, "rot90")["output"]
    assert big.score == pytest.approx(res["output"].score, rel=1e-6)
    assert big.raw == pytest.approx(100 * res["output"].raw, rel=1e-5)
    # conv feature maps of a random CNN are far from rot90-equivariant, the pooled output less so
    eq = equivariance_deviation(net, images, "rot90", layers=["0"], equivariant=True)
    assert eq["0"].score > 0.1
    assert net.training is True or net.training is False  # mode restored below
    net.train()
    equivariance_deviation(scaled, images, "flips", layers=["0.0"])
    assert net.training
    with pytest.raises(InputError, match="unknown layer"):
        equivariance_deviation(net, images, "rot90", layers=["nope"])
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        equivariance_deviation(net, images[:, 0], "rot90")
    assert mean_pairwise_distance(torch.tensor([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)


def test_continuous_rotation_close_to_rot90_and_interpolates():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    r90 = rotate(x, 90.0)
    # grid_sample at exactly 90 degrees lands on pixel centres: equals torch.rot90
    assert torch.allclose(r90, torch.rot90(x, 1, (-2, -1)), atol=1e-5)
    assert not torch.allclose(rotate(x, 30.0), x, atol=1e-2)
    ident = equivariance_deviation(lambda t: t, x, "rotation", equivariant=True)["output"].score
    assert ident == 0.0


def test_linear_model_sensitivity_is_fft_of_weights():
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(2 * 16 * 16, 1))
    x = torch.rand(6, 2, 16, 16)
    s = sensitivity_map(lin, x)
    ref = torch.fft.fft2(lin[1].weight.detach().reshape(2, 16, 16), norm="ortho").abs()
    assert s.shape == (2, 16, 16)
    assert np.corrcoef(s.flatten().numpy(), ref.flatten().numpy())[0, 1] > 0.999
    assert torch.allclose(s, ref, rtol=1e-4, atol=1e-6)
    # several outputs: the norm over outputs is sqrt(sum of squares) of the per-output maps
    lin2 = nn.Sequential(nn.Flatten(), nn.Linear(256, 2))
    s2 = sensitivity_map(lin2, x[:, :1])
    w = lin2[1].weight.detach().reshape(2, 1, 16, 16)
    ref2 = torch.fft.fft2(w, norm="ortho").abs().pow(2).sum(0).sqrt()
    assert torch.allclose(s2, ref2, rtol=1e-4, atol=1e-6)


def test_power_law_exponent_recovered():
    for a in (1.0, 2.0, 3.0):
        img = synthetic_power_law_image((256, 256), a, seed=int(a))
        f, p = radial_power_spectrum(img)
        assert abs(fit_power_law(f, p) - a) < 0.1, a


def test_radial_profile_and_power_map():
    f, v = radial_profile(np.ones((3, 8, 12)))
    assert f[0] == 0.0 and np.allclose(v, 1.0) and np.all(np.diff(f) > 0)
    # a pure cosine at 1/4 cycles/pixel puts all its power in the ring at 0.25
    yy, xx = np.mgrid[0:32, 0:32]
    imgs = np.stack([np.cos(2 * np.pi * 0.25 * xx + ph) for ph in np.linspace(0, 3, 8)])
    fr, pr = radial_profile(power_map(imgs)[0] ** 2)
    assert fr[np.argmax(pr)] == pytest.approx(0.25, abs=0.02)
    with pytest.raises(InputError):
        radial_profile(np.ones(5))
    with pytest.raises(InputError):
        fit_power_law(np.array([0.1, 0.2]), np.array([1.0, 2.0]))


def test_frequency_report_smooth_model_prefers_low_frequencies():
    # a blur (mean over a 4x4 window) passes low frequencies and removes high ones
    blur = nn.Conv2d(1, 1, 4, bias=False)
    nn.init.constant_(blur.weight, 1 / 16)
    model = nn.Sequential(blur, nn.Flatten())
    rep = frequency_report(model, torch.rand(4, 1, 16, 16))
    s = rep["sensitivity"]
    assert s[1] > 3 * s[-1]
    assert set(rep) >= {"freqs", "sensitivity", "power", "spearman", "power_exponent"}


def test_plot_frequency_maps_have_frequency_axes(tmp_path, monkeypatch):
    """The 2-D sensitivity and power maps of plot_frequency were drawn with their axes off: no
    frequency scale, no sign of where zero frequency lies (notebook 06). Both now carry k_x / k_y
    in cycles/pixel over [-0.5, 0.5), zero at the centre."""
    import shapekit.analysis.plots as plots
    from shapekit.analysis.frequency import frequency_report

    figs = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda plt, fig, path: (figs.append(fig), save(plt, fig, path))[1])
    rep = frequency_report(lambda t: t.mean((1, 2, 3)), torch.rand(3, 1, 8, 8))
    assert plots.plot_frequency(rep, tmp_path / "f.png").is_file()
    for ax in figs[0].axes[1:]:
        assert ax.axison and "cycles/pixel" in ax.get_xlabel() and "cycles/pixel" in ax.get_ylabel()
        left, right = ax.get_xlim()
        assert left < -0.5 < 0.4 < right < 0.5
