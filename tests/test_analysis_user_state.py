"""shapekit.analysis leaves the user's models and random state as found; input dtypes and shapes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from shapekit.analysis import stitching


class MetaTolerant(nn.Sequential):
    """A net that treats an input on the "meta" device as zeros on the CPU (see the test below)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.zeros(x.shape) if x.is_meta else x)


def test_stitching_puts_the_users_models_back_on_their_device(monkeypatch):
    # accuracy, fit_stitch and stitching_report moved the models to the default device (CUDA when
    # present) and left them there. A CPU-only stand-in: the default device is "meta", and a spy
    # on nn.Module._apply records where each module was last sent (moves to meta are recorded,
    # not done, so the net keeps computing on the CPU).
    where: dict[int, str] = {}
    real_apply = nn.Module._apply

    def spy(self, fn, *args, **kwargs):
        target = fn(torch.zeros(())).device.type
        for m in self.modules():
            where[id(m)] = target
        return self if target == "meta" else real_apply(self, fn, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "_apply", spy)
    monkeypatch.setattr(stitching, "default_device", lambda device=None: torch.device("meta"))
    torch.manual_seed(0)
    a, b = (MetaTolerant(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)) for _ in range(2))
    a.train()
    b.eval()
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    stitching.accuracy(a, x, y)
    assert where[id(a)] == "cpu" and a.training  # was left on "meta" (CUDA)
    st = stitching.StitchedModel(a, b, "1", "1", x[:4])
    stitching.fit_stitch(st, x, y, epochs=0)
    assert [where[id(m)] for m in (a, b, st.stitch)] == ["cpu"] * 3
    assert a.training and not b.training
    where.clear()
    stitching.stitching_report(a, b, "1", "1", (x, y), (x, y), epochs=0)
    assert where[id(a)] == where[id(b)] == "cpu" and a.training and not b.training


def test_stitching_with_a_model_stitched_to_itself_restores_its_mode():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).train()
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    st = stitching.StitchedModel(net, net, "1", "1", x[:4])
    stitching.fit_stitch(st, x, y, epochs=1)
    assert net.training and st.stitch.training
    stitching.accuracy(st, x, y)
    assert net.training


def _dropout_net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))


def test_fit_stitch_is_seeded_without_touching_the_global_rng():
    # torch.manual_seed(seed) reset the caller's random stream
    torch.manual_seed(0)
    a, b = _dropout_net(), _dropout_net()
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    stitched = [stitching.StitchedModel(a, b, "1", "1", x[:4]) for _ in range(2)]  # identity
    torch.manual_seed(123)
    state = torch.get_rng_state()
    runs = [stitching.fit_stitch(st, x, y, epochs=2, batch_size=8, seed=3, init="lstsq")
            for st in stitched]
    assert torch.equal(torch.get_rng_state(), state)
    assert runs[0] == runs[1]
    # stitching_report's random stitch came from the global stream: results varied with it
    reports = []
    for outer in (1, 2):
        torch.manual_seed(outer)
        reports.append(stitching.stitching_report(a, b, "1", "1", (x, y), (x, y), init="random",
                                                  epochs=1, seed=3))
        assert torch.equal(torch.get_rng_state(), torch.manual_seed(outer).get_state())
    assert reports[0] == reports[1]


def test_fit_dna_is_seeded_without_touching_the_global_rng():
    from shapekit.analysis.dna import DynamicAugmentation, GlobalAugmentation, fit_dna

    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 2
    torch.manual_seed(123)
    state = torch.get_rng_state()
    weights = []
    for _ in range(2):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            clf = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 2))
        m = fit_dna(DynamicAugmentation(clf, GlobalAugmentation()), x, y, epochs=2, seed=5)
        weights.append(m.classifier[2].weight.detach().clone())
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(weights[0], weights[1])


def test_float32_inputs_to_a_float64_model_are_cast_as_frames_and_frequency_do():
    from shapekit.analysis import collect_activations, equivariance_deviation

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 1)).double()
    x = torch.rand(4, 1, 8, 8)
    # "Input type (float) and bias type (double) should be the same"
    acts = collect_activations(net, x, ["2"])
    with torch.no_grad():
        want = net(x.double())
    assert torch.allclose(acts["2"].double(), want, atol=1e-6)
    r = equivariance_deviation(net, x, [lambda t: t.flip(-1)])["output"]
    with torch.no_grad():
        assert r.raw == pytest.approx(float((net(x.double().flip(-1)) - want).abs().mean()),
                                      rel=1e-5)
    emb = nn.Embedding(10, 3)  # integer inputs stay integers
    assert collect_activations(emb, torch.tensor([[1], [2]]), include_output=True)["output"] \
        .shape == (2, 3)


def test_a_batch_passed_to_frame_vectors_is_a_one_line_error():
    from shapekit.analysis import frame_vectors
    from shapekit.errors import InputError

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    x = torch.rand(4, 1, 8, 8)
    # the model's own "Expected 3D (unbatched) or 4D (batched) input to conv2d"
    with pytest.raises(InputError, match=r"model failed on x\[None\] \(x of shape "
                                         r"\(4, 1, 8, 8\)\): Expected .*; x is one input "
                                         r"without its batch dim"):
        frame_vectors(net, x, torch.randn(2, *x.shape))
    # was "directions must have shape (m, (4, 1, 8, 8))": a batch of directions
    with pytest.raises(InputError, match=r"fit one input of shape \(1, 8, 8\), but x has shape "
                                         r"\(4, 1, 8, 8\): pass one input .*\(x\[i\]\)"):
        frame_vectors(net, x, torch.randn(2, 1, 8, 8))
    assert frame_vectors(net, x[0], torch.randn(2, 1, 8, 8))["output"].shape == (2, 72)


@pytest.mark.parametrize("kw", [{"n_train": 0}, {"n_train": 1}, {"oversample": 0}])
def test_inverse_design_refuses_empty_sample_counts(kw):
    # n_train=0: numpy's "Probabilities do not sum to 1"; oversample=0: an acceptance of NaN
    from shapekit.analysis.fibres_design import inverse_design, simulator_hardness
    from shapekit.errors import InputError

    with pytest.raises(InputError, match=r"oversample must be >= 1 and n_train >= 2"):
        inverse_design(140.0, simulator_hardness(), steps=1, **kw)


def test_fit_bundle_and_train_tiny_cnn_keep_the_global_rng():
    # both called torch.manual_seed(seed): the caller's random stream was reset
    import numpy as np

    from shapekit.analysis.fibres import fit_bundle
    from shapekit.analysis.topo_vs_raw import train_tiny_cnn

    x = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype("float32")
    imgs = np.random.default_rng(1).random((12, 1, 16, 16)).astype("float32")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    nets = [fit_bundle(x, x[:, :1] + x[:, 1:], n_neighbourhoods=2, n_blocks=1, steps=3, seed=4)
            for _ in range(2)]
    cnns = [train_tiny_cnn(imgs, np.arange(12) % 2, width=2, epochs=1, seed=4) for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in (nets, cnns):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                     b.state_dict().values()))
