"""shapekit.analysis on a user's own torch model: layers chosen by name, modes, dtypes, known answers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shapekit.analysis import (collect_activations, equivariance_deviation, layerwise_cka,
                               neural_frames, secant_frame)
from shapekit.errors import InputError


class Net(nn.Module):
    """A small CNN with a nested block, a layer defined but never called and a module used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                      nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()))
        self.unused = nn.Linear(5, 5)
        self.act = nn.Tanh()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.features(x))
        return self.head(self.act(self.pool(h).flatten(1)))  # self.act runs twice


@pytest.fixture()
def net() -> Net:
    torch.manual_seed(0)
    return Net()


X = torch.rand(8, 1, 12, 12)


def test_a_named_layer_that_never_runs_is_an_error_everywhere(net):
    # it used to vanish from the results (CKA matrix one row short, rows shifted against the
    # names) or crash with torch.cat's "expected a non-empty list of Tensors" / a KeyError
    calls = [lambda: collect_activations(net, X, ["unused", "head"]),
             lambda: layerwise_cka(net, net, X, layers_a=["unused", "head"], layers_b=["head"],
                                   batch_size=4),
             lambda: equivariance_deviation(net, X, "rot90", layers=["unused"]),
             lambda: neural_frames(net, X[0], ["unused"], n_noise=2),
             lambda: secant_frame(net, X[0], [lambda t: t.flip(-1)], ["unused"])]
    for call in calls:
        with pytest.raises(InputError, match=r"\['unused'\] never ran"):
            call()


def test_default_layers_are_the_leaves_that_run(net):
    acts = collect_activations(net, X, ["features.2.0", "head"])
    assert list(acts) == ["features.2.0", "head"]
    eed = equivariance_deviation(net, X, "rot90", layers=None)  # crashed on the unused leaf
    assert "unused" not in eed and "features.2.0" in eed and "output" in eed
    rows = neural_frames(net, X[0], None, n_noise=2)  # KeyError: 'unused'
    assert "unused" not in [r["layer"] for r in rows]


def test_a_module_run_twice_per_forward_is_refused(net):
    # two outputs per input cannot be paired with the inputs (CKA, ID per group)
    with pytest.raises(InputError, match="'act' ran 4 times in 2 forward"):
        collect_activations(net, X, ["act"], batch_size=4)


def test_a_single_string_is_one_layer_name(net):
    # "head" was read as the layers ['h', 'e', 'a', 'd']
    assert list(collect_activations(net, X, "head")) == ["head"]
    assert "head" in equivariance_deviation(net, X, "flips", layers="head")


class TupleBlock(nn.Module):
    """A block that returns ``(feature_map, pooled)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.relu(self.conv(h)), h.mean((2, 3))


class TupleNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.tblock = TupleBlock()
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.tblock(torch.relu(self.stem(x)))
        return self.head(h.mean((2, 3)))


def test_stitching_into_a_layer_that_returns_a_tuple():
    from shapekit.analysis import StitchedModel, stitching_report

    torch.manual_seed(0)
    net = TupleNet()
    x, y = torch.rand(8, 1, 10, 10), torch.randint(0, 3, (8,))
    st = StitchedModel(net, net, "tblock", "tblock", x)  # identity stitch: the same function
    # the stitch replaced the whole (h, pooled) tuple by h: "too many values to unpack"
    assert torch.allclose(st(x), net.eval()(x), atol=1e-6)
    assert stitching_report(net, net, "tblock", "tblock", (x, y), (x, y), epochs=0)["penalty"] == 0.0


def test_symmetry_similarity_is_1_for_a_reparametrised_net_with_dead_units():
    from shapekit.analysis import apply_group_element, intertwiner_similarity, random_group_element

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        net[0].bias[:3] = -100.0  # three dead ReLUs, as a trained net has
    twin = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    twin.load_state_dict(net.state_dict())
    apply_group_element(twin[0], twin[2], random_group_element(8, seed=1))
    x = torch.randn(200, 4)
    assert torch.allclose(net(x), twin(x), atol=1e-5)  # the same function
    h1 = collect_activations(net, x, ["1"])["1"]
    h2 = collect_activations(twin, x, ["1"])["1"]
    r = intertwiner_similarity(h1, h2)
    assert r["similarity"] == pytest.approx(1.0)  # was 5/8: dead units scored cosine 0
    assert r["aligned_cka"] == pytest.approx(1.0)


def test_layer_id_from_a_generator_of_batches_and_errors_name_the_group(net):
    from shapekit.analysis import intrinsic_dimension, layer_intrinsic_dimension

    x = torch.rand(40, 1, 12, 12)
    batches = (x[i:i + 10] for i in range(0, 40, 10))  # consumed once: the input ID crashed
    rows = layer_intrinsic_dimension(net, batches, ["head"], methods=["lpca"])
    assert [(r["layer"], r["n_points"]) for r in rows] == [("input", 40.0), ("head", 40.0)]
    with pytest.raises(InputError, match="layer 'input', group '1': .* at least 3 distinct"):
        layer_intrinsic_dimension(net, x[:6], ["head"], groups=[0, 0, 0, 0, 1, 1])
    with pytest.raises(InputError, match="k must be >= 2"):  # was an MLE of NaN
        intrinsic_dimension(torch.randn(50, 3), k=1)


def test_frequency_sensitivity_of_a_float64_model_is_the_linear_known_answer():
    from shapekit.analysis import sensitivity_map

    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(64, 1, bias=False)).double()
    beta = lin[1].weight.detach().reshape(1, 8, 8)
    # the inputs were cast to float32: "expected m1 and m2 to have the same dtype"
    s = sensitivity_map(lin, torch.rand(3, 1, 8, 8, dtype=torch.float64))
    assert torch.allclose(s.double(), torch.fft.fft2(beta, norm="ortho").abs(), atol=1e-6)


def test_activations_over_the_memory_budget_are_refused_after_one_batch(net):
    x = torch.rand(1000, 1, 12, 12)  # features.0: 4 x 12 x 12 floats = 2304 bytes per input
    passes = []
    net.register_forward_pre_hook(lambda *_: passes.append(1))
    net.train()
    with pytest.raises(InputError, match=r"would take 2\.2 MiB for 1000 inputs \(2\.2 KiB per "
                                         r"input\), over the 976\.6 KiB allowed \(max_bytes"):
        collect_activations(net, x, ["features.0"], batch_size=10, max_bytes=10**6)
    assert len(passes) == 1  # refused from the first batch's size, not after filling memory
    assert net.training and not net.features[0]._forward_hooks  # mode restored, hook removed
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=10)
    with pytest.raises(InputError, match="for 1000 inputs"):
        collect_activations(net, loader, ["features.0"], max_bytes=10**6)
    batches = (x[i:i + 10] for i in range(0, 1000, 10))  # size unknown: stops once over
    with pytest.raises(InputError, match="for the first 440 inputs"):
        collect_activations(net, batches, ["features.0"], max_bytes=10**6)
    assert collect_activations(net, x, ["features.0"], max_bytes=3 * 10**6)["features.0"].shape \
        == (1000, 576)


def test_layers_followed_by_an_inplace_relu_keep_their_own_values():
    # ReLU(inplace=True) (torchvision's ResNets) rewrote the stored output of the layer before it:
    # a Linear layer's activations came back with no negative value, its frame was W v clipped
    from shapekit.analysis import frame_vectors

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True), nn.Linear(8, 2))
    cnet = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten())
    x, xc = torch.randn(10, 4), torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(collect_activations(net, x, ["0"])["0"], net[0](x))
        conv = cnet[0](xc)
        flipped = [cnet[0](xc.flip(-1)), cnet[0](xc.flip(-2)), cnet[0](xc.flip(-2, -1))]
    eed = equivariance_deviation(cnet, xc, "flips", layers=["0"], equivariant=True)
    raw = sum(float((f - t(conv)).flatten(1).norm(dim=1).mean()) for f, t in
              zip(flipped, [lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.flip(-2, -1)]))
    assert eed["0"].raw == pytest.approx(raw / 3, rel=1e-5)
    U = frame_vectors(net, x[0], torch.eye(4), ["0"])
    assert torch.allclose(U["0"], net[0].weight.T.detach(), atol=1e-6)


def test_dedup_of_wide_activations_is_fast_and_keeps_first_occurrences():
    # np.unique(axis=0) grew super-linearly with the row width: 2.7 s for 300 conv activations of
    # 100000 values, paid twice per layer and group (intrinsic_dimension, then lpca_id again)
    import time

    import numpy as np

    from shapekit.analysis import dedup_points

    X = np.random.default_rng(0).normal(size=(200, 50000))
    X[[5, 9]] = X[2]
    X[7, 0] = -0.0
    X[8] = X[7]
    X[8, 0] = 0.0
    t = time.perf_counter()
    np.unique(X, axis=0)
    sort_s = time.perf_counter() - t
    t = time.perf_counter()
    d = dedup_points(X)
    hash_s = time.perf_counter() - t
    keep = [i for i in range(200) if i not in (5, 8, 9)]
    assert np.array_equal(d, X[keep])
    assert hash_s < sort_s / 3, (hash_s, sort_s)


def test_id_of_wide_activations_on_a_known_linear_subspace():
    import numpy as np

    from shapekit.analysis import intrinsic_dimension

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 6000)) + 7.0  # 5-dim, wider than long
    r = intrinsic_dimension(X)
    assert r["lpca"] == 5.0 and r["n_points"] == 400.0
    assert abs(r["twonn"] - 5) < 0.75 and abs(r["mle"] - 5) < 0.75


def test_flip_rate_of_a_binary_classifier_with_one_logit():
    from shapekit.analysis import prediction_flip_rate

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    x = torch.rand(50, 1, 8, 8) - 0.5
    with torch.no_grad():
        want = ((net(x) > 0) != (net(x.flip(-1)) > 0)).float().mean().item()
    assert want > 0.3
    # argmax of one logit is always 0: the rate was 0.0, "perfectly invariant"
    assert prediction_flip_rate(net, x, [lambda t: t.flip(-1)]) == pytest.approx(want)
    assert prediction_flip_rate(lambda t: net(t)[:, 0], x, [lambda t: t.flip(-1)]) \
        == pytest.approx(want)  # (N,) outputs: IndexError


class Regressor(nn.Module):
    """Predicts one number per image, returned with shape ``(N,)`` (a hardness, say)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))[:, 0]


def test_a_model_with_one_number_per_input():
    # (N,) outputs raised "Dimension out of range" in flatten(1)
    torch.manual_seed(0)
    net, x = Regressor(), torch.rand(10, 1, 8, 8)
    acts = collect_activations(net, x, ["lin"], include_output=True)
    assert acts["output"].shape == (10, 1) and torch.allclose(acts["output"], acts["lin"])
    from shapekit.analysis.invariance import Transform

    flip = equivariance_deviation(net, x, [Transform("hflip", lambda t: t.flip(-1))])["output"]
    with torch.no_grad():
        y, yf = net(x), net(x.flip(-1))
    assert flip.raw == pytest.approx(float((yf - y).abs().mean()), rel=1e-5)
    assert flip.scale == pytest.approx(float((y[:, None] - y[None]).abs().sum() / 90), rel=1e-5)


def test_plain_functions_as_group_elements():
    # "'function' object has no attribute 'name'"
    torch.manual_seed(0)
    net, x = Regressor(), torch.rand(10, 1, 8, 8)
    r = equivariance_deviation(net, x, [lambda t: t.flip(-1), lambda t: t])["output"]
    assert list(r.per_element) == ["g0", "g1"] and r.per_element["g1"] == 0.0
    ident = equivariance_deviation(lambda t: t, x, [lambda t: t.flip(-1)], equivariant=True)
    assert ident["output"].score == 0.0
    with pytest.raises(InputError, match="group element 0 is a str"):
        equivariance_deviation(net, x, ["hflip"])


def test_long_id_and_cka_passes_show_progress(net, monkeypatch, capsys):
    # 40 s of intrinsic dimension (1000 tiles, every layer, 3 groups) ran without a sign of life
    from shapekit.analysis import layer_intrinsic_dimension

    monkeypatch.setenv("SHAPEKIT_PROGRESS", "1")
    layer_intrinsic_dimension(net, X, ["head"], methods=["lpca"])
    layerwise_cka(net, net, X, layers_a=["head"], layers_b=["head"], batch_size=4)
    err = capsys.readouterr().err
    assert "intrinsic dimension: " in err and "0/2 " in err and "CKA: " in err
    monkeypatch.setenv("SHAPEKIT_PROGRESS", "0")
    layer_intrinsic_dimension(net, X, ["head"], methods=["lpca"])
    assert capsys.readouterr().err == ""


def test_a_mistyped_layer_name_gets_a_suggestion():
    deep = nn.Sequential(*[nn.Sequential(nn.Linear(2, 2), nn.ReLU()) for _ in range(30)])
    # was: the first 20 of 90 names (none near the typo) and a trailing "..."
    with pytest.raises(InputError, match=r"unknown layer\(s\) '27\.O' \(did you mean "
                                         r".*'27\.0'.*\?\).*\(90 in all\)"):
        collect_activations(deep, torch.randn(4, 2), ["27.O"])
    with pytest.raises(InputError, match=r"unknown layer\(s\) 'zzz'; the model's layers "
                                         r"\(named_modules\): 0, 0\.0, 0\.1, 1, "):
        collect_activations(deep, torch.randn(4, 2), ["zzz"])


def test_equivariance_features_over_the_memory_budget_are_refused_after_one_batch(net):
    # the features of x and of all 7 elements of d4 are held together, unbounded
    x = torch.rand(1000, 1, 12, 12)
    passes = []
    net.register_forward_pre_hook(lambda *_: passes.append(1))
    with pytest.raises(InputError, match=r"would take 17\.[0-9] MiB for 1000 inputs"):
        equivariance_deviation(net, x, "d4", layers=["features.0"], batch_size=100,
                               max_bytes=10**7)
    assert len(passes) == 1 and not net.features[0]._forward_hooks
    r = equivariance_deviation(net, x[:100], "d4", layers=["features.0"], max_bytes=10**7)
    assert set(r) == {"features.0", "output"}


def test_symmetry_figure_has_a_labelled_axis_and_a_legend_off_the_bars(run_cli, tmp_path,
                                                                       monkeypatch):
    from toy import write_toy_manifest

    import shapekit.cli.analysis_geometry as ag
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir

    torch.manual_seed(0)
    cnn = SmallResNet(n_classes=3, width=4).eval()
    cfg = {"kind": "cnn", "label_names": ["lamellae", "network", "spheroids"], "tile_size": 32,
           "target_um_per_px": None, "aggregation": "proba",
           "cnn": {"arch": cnn.config(), "input_scale": 1, "epochs": 0}}
    model = write_model_dir(tmp_path / "m", cfg, {"cnn.safetensors": {
        k: v.detach().numpy() for k, v in cnn.state_dict().items()}})
    manifest = write_toy_manifest(str(tmp_path / "toy"), n_per_class=1, size=64)
    figs = []
    monkeypatch.setattr(ag, "save_plot", lambda fig, path: figs.append(fig))
    code, _, err = run_cli("analyze", "symmetry", model, model, manifest, "--layer", "stem",
                           "--max-images", "3", "--plot", tmp_path / "s.png")
    assert code == 0, err
    ax = figs[0].axes[0]
    assert ax.get_ylabel()  # was unlabelled
    bars_top = max(p.get_height() for p in ax.patches)
    legend = ax.get_legend().get_window_extent()
    top = ax.transData.transform((0, bars_top))[1]
    assert legend.y0 >= top  # the legend sat on the bars at similarity 1


def test_batches_of_different_image_sizes(net):
    # torch.cat: "Sizes of tensors must match except in dimension 0"
    batches = [torch.rand(2, 1, 12, 12), torch.rand(2, 1, 16, 16)]
    with pytest.raises(InputError, match=r"'features.0' gave outputs of shapes \(576,\) and "
                                         r"\(1024,\) .* global pooling"):
        collect_activations(net, batches, ["features.0", "head"])
    assert collect_activations(net, batches, ["pool", "head"])["pool"].shape == (4, 4)
