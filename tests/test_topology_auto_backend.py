"""backend="auto": torch on CUDA, GUDHI on the CPU; the same diagrams and features either way.

Resolution only is checked for CUDA (no GPU here); the torch path itself runs on the CPU.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from shapekit.errors import InputError
from shapekit.topology import backends
from shapekit.topology.persistence import BACKENDS, resolve_backend, sublevel_pairs
from shapekit.topology.transformers import CubicalDiagrams

from toy import toy_micrograph

#: the diagrams are equal as multisets; features sum over their pairs, whose row order differs
#: between backends, so they agree to rounding only (measured: <= 4e-15 absolute)
ROUNDING = dict(rtol=1e-12, atol=1e-12)


def _same(a, b) -> None:
    """Two lists of Diagrams: the same blocks and, per block, the same multiset of pairs."""
    assert len(a) == len(b)
    for da, db in zip(a, b):
        assert [blk for blk in da] == [blk for blk in db]
        for blk in da:
            assert sorted(map(tuple, da[blk])) == sorted(map(tuple, db[blk])), blk


def test_resolution_table(monkeypatch):
    assert BACKENDS == ("auto", "gudhi", "cripser", "torch")
    assert resolve_backend("auto", "cpu") == "gudhi"
    assert resolve_backend("auto", "cpu:0") == "gudhi"
    assert resolve_backend("auto", "cuda") == "torch"            # resolution only: no CUDA here
    assert resolve_backend("auto", "cuda:3") == "torch"
    assert resolve_backend("auto", None) == "gudhi"              # this machine has no CUDA
    assert resolve_backend("auto", "meta") == "gudhi"            # a torch device, not CUDA
    for b in ("gudhi", "cripser", "torch"):                      # explicit backends unchanged
        for dev in (None, "cpu", "cuda", "anything"):
            assert resolve_backend(b, dev) == b
    with pytest.raises(InputError, match="not one of"):
        resolve_backend("cuda")
    with pytest.raises(InputError, match="not a torch device"):
        resolve_backend("auto", "nonsense")
    # where CUDA is present, auto with no device is torch
    monkeypatch.setattr(backends, "_cuda_present", lambda: True)
    assert resolve_backend("auto", None) == "torch"
    assert resolve_backend("auto", "cpu") == "gudhi"


def test_cuda_question_asked_only_where_torch_or_a_driver_is(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_backend("auto", None) == "torch"              # torch loaded: it is asked
    code = ("import sys, os; from shapekit.topology.persistence import resolve_backend; "
            "assert os.path.exists('/proc/driver/nvidia/version') or "
            "(resolve_backend('auto') == 'gudhi' and 'torch' not in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_dispatch_resolves_auto():
    img = np.array([[[0., 2., 1.], [3., 3., 3.], [1., 0., 2.]]])
    for dev in ("cpu", None):
        got = sublevel_pairs(img, backend="auto", device=dev)[0]
        ref = sublevel_pairs(img, backend="gudhi")[0]
        assert all(np.array_equal(g, r) for g, r in zip(got, ref))   # GUDHI ran: same row order


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return ([rng.random((20, 20)) for _ in range(3)]
            + [rng.integers(0, 8, (17, 23)).astype(np.float32) for _ in range(3)]   # many ties
            + [np.zeros((5, 5)), np.eye(6)])


def test_cubical_diagrams_auto_equals_gudhi_exactly():
    assert CubicalDiagrams().backend == "auto"
    ims = _images()
    ref = CubicalDiagrams(backend="gudhi").fit_transform(ims)
    for dev in ("cpu", None):
        got = CubicalDiagrams(backend="auto", device=dev).fit_transform(ims)
        for g, r in zip(got, ref):       # GUDHI both times: equal arrays, rows in the same order
            assert list(g) == list(r) and all(np.array_equal(g[b], r[b]) for b in r)
    _same(CubicalDiagrams(backend="torch", device="cpu").fit_transform(ims), ref)


def test_auto_on_cuda_runs_the_torch_path(monkeypatch):
    """The code path of a CUDA machine (auto -> torch, tiles stacked), run on the CPU."""
    import shapekit.topology.torch_batch as tb

    calls = []
    real = tb.torch_diagrams
    monkeypatch.setattr(tb, "torch_diagrams", lambda batch, *a, **k: calls.append(
        type(batch)) or real(batch, *a, **k))
    monkeypatch.setattr(backends, "_cuda_present", lambda: True)
    rng = np.random.default_rng(3)
    tiles = rng.random((4, 16, 16)).astype(np.float32)
    got = CubicalDiagrams().fit_transform(tiles)
    assert calls and all(c is np.ndarray for c in calls)         # one (B, H, W) batch per call
    _same(got, CubicalDiagrams(backend="gudhi").fit_transform(tiles))
    with pytest.raises(InputError, match="not available"):      # device=cuda on a CPU machine
        CubicalDiagrams(device="cuda").fit_transform(tiles)


@pytest.mark.parametrize("preset", ["robust", "accurate"])
def test_toptemp_features_torch_equals_gudhi(preset):
    """Same-shape tiles of real-like micrographs through the classifier's feature pipeline."""
    from shapekit.temper.presets import feature_params, toptemp_features

    rng = np.random.default_rng(5)
    tiles = np.stack([toy_micrograph(k, 64, rng) for k in ("lamellae", "network", "spheroids")
                      for _ in range(2)]).astype(np.float32)
    params = feature_params(preset, scales=[1, 2])
    pipe = toptemp_features(params)
    assert pipe.named_steps["diagrams"].backend == "auto"
    ref = toptemp_features(params, device="cpu").fit_transform(tiles)
    torch_pipe = toptemp_features(params).set_params(diagrams__backend="torch", diagrams__device="cpu")
    np.testing.assert_allclose(torch_pipe.fit_transform(tiles), ref, **ROUNDING)
    assert np.array_equal(pipe.fit_transform(tiles), ref)          # auto on this CPU: GUDHI
    assert ref.shape[0] == 6 and np.isfinite(ref).all() and ref.std(0).max() > 0


def test_real_uhcs3_tiles_torch_equals_gudhi(uhcs3_dir):
    from shapekit.io import read_image
    from shapekit.temper.presets import feature_params, toptemp_features

    path = sorted((uhcs3_dir / "images").iterdir())[0]
    img = np.asarray(read_image(path)[0], dtype=np.float32)
    tiles = np.stack([img[i:i + 96, j:j + 96] for i in (0, 96) for j in (0, 96, 192)])
    params = feature_params("robust", scales=[1, 2])
    ref = toptemp_features(params, device="cpu").fit_transform(tiles)
    got = toptemp_features(params).set_params(diagrams__backend="torch",
                                              diagrams__device="cpu").fit_transform(tiles)
    np.testing.assert_allclose(got, ref, **ROUNDING)


def test_saved_model_config_has_no_backend_and_loads(tmp_path):
    """Model configs carry feature parameters, not a backend: old and new dirs load alike."""
    from shapekit.temper.presets import FEATURE_DEFAULTS, feature_params, fitted_features

    assert "backend" not in FEATURE_DEFAULTS
    with pytest.raises(InputError, match="unknown feature parameter"):
        feature_params(backend="gudhi")
    pipe = fitted_features(feature_params("accurate", scales=[1]))
    assert pipe.named_steps["diagrams"].backend == "auto"
    assert fitted_features(feature_params("accurate", scales=[1]), device="cpu").named_steps[
        "diagrams"].device == "cpu"


def test_shipped_model_features_auto_equal_gudhi():
    """A model directory saved before "auto" existed: same features on the torch path."""
    from importlib.resources import files

    from shapekit.temper.modeldir import load_model

    model = load_model(files("shapekit") / "pretrained" / "uhcs3")
    pipe = model.features
    assert pipe.named_steps["diagrams"].backend == "auto"
    rng = np.random.default_rng(11)
    tiles = np.stack([toy_micrograph("network", 64, rng) for _ in range(2)]).astype(np.float32)
    ref = pipe.transform(tiles)
    pipe.set_params(diagrams__backend="torch", diagrams__device="cpu")
    try:
        np.testing.assert_allclose(pipe.transform(tiles), ref, **ROUNDING)
    finally:
        pipe.set_params(diagrams__backend="auto", diagrams__device=None)
