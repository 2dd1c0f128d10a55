"""The analysis tools take a numpy batch as they take the same batch as a tensor.

A notebook's images are numpy arrays: ``equivariance_deviation(net, x_numpy, "rot90")`` and the
other model-input tools failed with ``AttributeError: 'numpy.ndarray' object has no attribute
'split'`` (or ``'is_floating_point'``, ``'double'``, ``'to'``; stitching: a TypeError from
conv2d) from deep inside. A numpy array now gives the tensor's answer, and anything else is one
:class:`InputError` line naming the argument.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shapekit import analysis as A
from shapekit.errors import InputError


@pytest.fixture(scope="module")
def net_and_x():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(3, 2))
    x = np.random.default_rng(0).random((8, 1, 12, 12)).astype(np.float32)
    return net, x


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    elif hasattr(a, "score"):
        assert a.score == pytest.approx(b.score, rel=1e-6)
    elif isinstance(a, (torch.Tensor, np.ndarray)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-9)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-6, nan_ok=True)
    else:
        assert a == b


CALLS = {
    "collect_activations": lambda net, x: A.collect_activations(net, x, ["1", "4"]),
    "equivariance_deviation": lambda net, x: A.equivariance_deviation(net, x, "rot90",
                                                                     layers=["1"]),
    "prediction_flip_rate": lambda net, x: A.prediction_flip_rate(net, x, "flips"),
    "sensitivity_map": lambda net, x: A.sensitivity_map(net, x),
    "frequency_report": lambda net, x: {k: v for k, v in A.frequency_report(net, x).items()
                                        if k in ("spearman", "sensitivity", "power")},
    "neural_frames": lambda net, x: A.neural_frames(net, x[0], ["1"], n_noise=2),
    "layer_intrinsic_dimension": lambda net, x: A.layer_intrinsic_dimension(
        net, x, ["1"], methods=("twonn",), k=3),
    "layerwise_cka": lambda net, x: A.layerwise_cka(net, net, x, layers_a=["1"], layers_b=["4"],
                                                    batch_size=4),
    "accuracy": lambda net, x: A.accuracy(net, x, _labels(x)),
    "stitching_report": lambda net, x: A.stitching_report(net, net, "1", "1", (x, _labels(x)),
                                                          (x, _labels(x)), epochs=1),
}


def _labels(x):
    """0/1 labels of the same type as ``x`` (numpy for numpy, a tensor for a tensor)."""
    y = np.arange(len(x)) % 2
    return torch.from_numpy(y) if isinstance(x, torch.Tensor) else y


@pytest.mark.parametrize("name", sorted(CALLS))
def test_numpy_batch_gives_the_tensor_answer(net_and_x, name):
    net, x = net_and_x
    _same(CALLS[name](net, x), CALLS[name](net, torch.from_numpy(x)))


@pytest.mark.parametrize("name", ["equivariance_deviation", "sensitivity_map", "collect_activations"])
def test_other_inputs_are_one_clear_line(net_and_x, name):
    net, x = net_and_x
    with pytest.raises(InputError, match="must be a torch tensor or a numpy array, got list"):
        CALLS[name](net, x.tolist())
