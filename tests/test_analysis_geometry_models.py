"""Known-answer tests: neural frames, stitching and intertwiner groups (shapekit.analysis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shapekit.analysis import (StitchedModel, accuracy, align_units, apply_group_element,
                               fit_stitch, fourier_shift, frame_statistics, frame_vectors,
                               group_for_activation, intertwiner_similarity, linear_cka,
                               neural_frames, perturbation_directions, principal_angles,
                               random_group_element, rotation_tangent, secant_frame,
                               stitching_report, translation_tangent)
from shapekit.errors import InputError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_cnn(act: type[nn.Module] = nn.ReLU, padding_mode: str = "zeros", n_out: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1, padding_mode=padding_mode), act(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1, padding_mode=padding_mode), act(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 16), act(), nn.Linear(16, n_out))


# -------------------------------------------------------------------------------- neural frames
def test_jvp_equals_central_finite_differences():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, padding=1),
                        nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).double()
    x = torch.rand(1, 10, 10, dtype=torch.float64)
    names, V = perturbation_directions(x, ("rotation", "translation", "blur", "scale", "noise"),
                                       n_noise=2)
    U = frame_vectors(net, x, V, ["1", "3", "6"], chunk_size=3)
    h = 1e-5
    for layer, upto in (("1", 2), ("3", 4), ("output", 7)):
        for i in range(len(V)):
            with torch.no_grad():
                fd = (net[:upto]((x + h * V[i])[None]) - net[:upto]((x - h * V[i])[None])) / (2 * h)
            u = U[layer][i]
            assert float((fd.flatten() - u).norm() / u.norm()) < 1e-6, (layer, names[i])


def test_linear_layer_frame_is_weight_times_direction():
    lin = nn.Linear(5, 3).double()
    V = torch.randn(4, 5, dtype=torch.float64)
    U = frame_vectors(lin, torch.randn(5, dtype=torch.float64), V)
    assert torch.allclose(U["output"], V @ lin.weight.detach().T)


def test_tangents_match_their_transforms():
    x = torch.rand(1, 12, 12, dtype=torch.float64)
    h = 1e-5
    fd = (fourier_shift(x, h, -1) - fourier_shift(x, -h, -1)) / (2 * h)
    assert torch.allclose(fd, translation_tangent(x, -1), atol=1e-8)
    # rotation tangent vs finite differences of scipy's spline rotation (central-difference gradients)
    ndimage = pytest.importorskip("scipy.ndimage")
    yy, xx = np.meshgrid(np.arange(32.0) - 15.5, np.arange(32.0) - 15.5, indexing="ij")
    img = np.exp(-((xx - 5) ** 2 + (yy + 3) ** 2) / 18) + 0.5 * np.exp(-((xx + 6) ** 2 + (yy - 4) ** 2) / 10)
    a = 0.5
    fd = (ndimage.rotate(img, a, reshape=False, order=3)
          - ndimage.rotate(img, -a, reshape=False, order=3)) / (2 * np.radians(a))
    v = rotation_tangent(torch.as_tensor(img)).numpy()
    assert np.linalg.norm(fd - v) / np.linalg.norm(fd) < 0.1
    # a radially symmetric image barely moves compared with a shift
    r2 = torch.as_tensor(xx ** 2 + yy ** 2)
    radial = torch.exp(-r2 / 50)
    assert rotation_tangent(radial).norm() < 0.05 * translation_tangent(radial).norm()


def test_circular_cnn_shift_frame_vanishes_after_pooling():
    torch.manual_seed(0)
    # linear shift-equivariant trunk (circular convs) -> global pooling -> nonlinear head
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"),
                        nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 8), nn.ReLU(),
                        nn.Linear(8, 2)).double()
    x = torch.rand(1, 12, 12, dtype=torch.float64)
    names, V = perturbation_directions(x, ("translation", "noise"), n_noise=4)
    U = frame_vectors(net, x, V, ["1", "3", "5"])
    assert float(U["1"][:2].abs().max()) > 1e-3  # the conv maps move with the shift
    assert float(U["3"][:2].abs().max()) < 1e-12
    assert float(U["output"][:2].abs().max()) < 1e-12
    assert float(U["output"][2:].abs().max()) > 1e-4  # noise directions do not vanish
    # the conv-map frame is the spatial derivative of the map (conv commutes with the shift)
    with torch.no_grad():
        fmap = net[:2](x[None])[0]
    expected = translation_tangent(fmap, -1) / translation_tangent(x, -1).norm()
    assert torch.allclose(U["1"][0], expected.flatten(), atol=1e-10)
    stats = {r["layer"]: r for r in frame_statistics(U, names)}
    assert stats["3"]["rank"] == 0 and stats["1"]["rank"] == 2
    assert stats["output"]["relative_norms"]["translation_x"] < 1e-9


def test_secant_frame_of_circular_shift_nonlinear_cnn():
    torch.manual_seed(0)
    net = small_cnn(padding_mode="circular")
    net[2] = nn.Identity()
    U = secant_frame(net, torch.rand(1, 8, 8), [lambda t: torch.roll(t, 1, -1),
                                              lambda t: torch.roll(t, 3, -2)], ["1", "5"])
    assert float(U["1"].abs().max()) > 1e-3
    assert float(U["5"].abs().max()) < 1e-5 and float(U["output"].abs().max()) < 1e-5


def test_neural_frames_report_and_angles():
    torch.manual_seed(0)
    rows = neural_frames(small_cnn(), torch.rand(1, 12, 12), ["1", "4", "8"], n_noise=4)
    assert [r["layer"] for r in rows] == ["input", "1", "4", "8", "output"]
    inp = rows[0]
    assert all(v == pytest.approx(1.0) for v in inp["relative_norms"].values())
    assert all(0 <= a <= 90 for r in rows for a in r["angles_to_noise"])
    assert principal_angles(np.eye(3)[:2], np.eye(3)[1:]).round(6).tolist() == [0.0, 90.0]
    with pytest.raises(InputError):
        perturbation_directions(torch.rand(1, 4, 4), ["shear"])


# ------------------------------------------------------------------------------------ stitching
def _trained_cnn(seed: int, x: torch.Tensor, y: torch.Tensor) -> nn.Module:
    torch.manual_seed(seed)
    net = small_cnn()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def toy_task():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (240,), generator=g)
    x = torch.randn(240, 1, 12, 12, generator=g) * 0.3
    x[:, :, :6, :6] += (y == 0).float().reshape(-1, 1, 1, 1)  # class = which quadrant is bright
    x[:, :, 6:, 6:] += (y == 1).float().reshape(-1, 1, 1, 1)
    return x, y


@pytest.fixture(scope="module")
def trained_pair(toy_task):
    x, y = toy_task
    return _trained_cnn(0, x, y), _trained_cnn(1, x, y)


def test_self_stitch_from_identity_has_zero_penalty(toy_task, trained_pair):
    x, y = toy_task
    net = trained_pair[0]
    st = StitchedModel(net, net, "4", "4", x[:8])
    with torch.no_grad():
        assert torch.equal(st(x), net(x))
    r = stitching_report(net, net, "4", "4", (x, y), (x, y), epochs=2, lr=1e-4)
    assert r["acc_b"] > 0.8
    assert r["penalty"] == pytest.approx(0.0, abs=1e-9)


def test_stitch_two_models_recovers_accuracy(toy_task, trained_pair):
    x, y = toy_task
    a, b = trained_pair
    tr, te = (x[:160], y[:160]), (x[160:], y[160:])
    torch.manual_seed(0)  # the random stitch: it relied on an earlier test reseeding via fit_stitch
    st = StitchedModel(a, b, "1", "1", x[:8], init="random")
    before = accuracy(st, *te)
    fit_stitch(st, *tr, epochs=15, lr=1e-2, batch_size=32)
    after = accuracy(st, *te)
    assert after > max(0.8, before)
    r = stitching_report(a, b, "4", "4", tr, te, init="lstsq", epochs=5, lr=1e-2)
    assert r["acc_stitched"] > 0.8 and set(r) >= {"acc_a", "acc_b", "penalty", "penalty_vs_a"}
    assert r["penalty"] < 0.1
    with pytest.raises(InputError):
        StitchedModel(a, b, "4", "nope", x[:4])
    with pytest.raises(InputError):
        StitchedModel(a, b, "4", "7", x[:4])  # a feature map cannot feed a vector layer


# --------------------------------------------------------------------------------- intertwiners
@pytest.mark.parametrize("act", [nn.ReLU, nn.LeakyReLU, nn.Tanh])
def test_group_element_leaves_mlp_unchanged(act):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 32), act(), nn.Linear(32, 16), act(), nn.Linear(16, 3))
    x = torch.randn(64, 5)
    with torch.no_grad():
        y0, h0 = net(x), net[:2](x)
    group = group_for_activation(act())
    g = random_group_element(32, group, seed=1)
    apply_group_element(net[0], net[2], g)
    apply_group_element(net[2], net[4], random_group_element(16, group, seed=2))
    with torch.no_grad():
        assert float((net(x) - y0).abs().max()) < 1e-5
        assert torch.allclose(net[:2](x), g.act(h0), atol=1e-5)  # the hidden units moved by A


def test_group_element_leaves_cnn_unchanged():
    torch.manual_seed(0)
    net = small_cnn()
    x = torch.randn(8, 1, 12, 12)
    with torch.no_grad():
        y0 = net(x)
    apply_group_element(net[0], net[3], random_group_element(6, seed=3))  # across ReLU + max-pool
    apply_group_element(net[3], net[7], random_group_element(8, seed=4))  # across ReLU + GAP
    apply_group_element(net[7], net[9], random_group_element(16, seed=5))
    with torch.no_grad():
        assert float((net(x) - y0).abs().max()) < 1e-5


def test_negative_scales_break_relu_but_not_tanh():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    x = torch.randn(32, 4)
    with torch.no_grad():
        y0 = net(x)
    apply_group_element(net[0], net[2], random_group_element(16, "signed_permutation", seed=0))
    with torch.no_grad():
        assert float((net(x) - y0).abs().max()) > 1e-2
    with pytest.raises(InputError):
        group_for_activation("softmax")


def test_alignment_recovers_planted_permutation_and_similarity():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 24), nn.ReLU(), nn.Linear(24, 3))
    twin = nn.Sequential(nn.Linear(6, 24), nn.ReLU(), nn.Linear(24, 3))
    twin.load_state_dict(net.state_dict())
    g = random_group_element(24, seed=7, scale_range=(0.1, 10.0))
    apply_group_element(twin[0], twin[2], g)
    x = torch.randn(500, 6)
    with torch.no_grad():
        h1, h2 = net[:2](x), twin[:2](x)
    found = align_units(h1, h2)
    assert np.array_equal(found.perm, g.perm)
    assert np.allclose(found.scale, g.scale, rtol=1e-4)
    r = intertwiner_similarity(h1, h2)
    assert r["similarity"] == pytest.approx(1.0, abs=1e-6)
    assert r["aligned_cka"] == pytest.approx(1.0, abs=1e-6)
    assert r["cka"] < 0.98 and r["cka"] == pytest.approx(linear_cka(h1, h2))
    # signed permutations for tanh units
    t1 = torch.tanh(torch.randn(300, 12))
    gs = random_group_element(12, "signed_permutation", seed=2)
    fs = align_units(t1, gs.act(t1), group="signed_permutation")
    assert np.array_equal(fs.perm, gs.perm) and np.array_equal(fs.scale, gs.scale)
