"""The persistence device of `score` and `featurize`: --device cpu/cuda, auto, the torch path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from shapekit.realism import score
from shapekit.topology import backends

from toy import write_toy_manifest

TIMES = ("timings_s", "per_image_cpu_s")


def _textures(seed: int, sigma: float, n: int = 8, size: int = 40) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        im = ndimage.gaussian_filter(rng.random((size, size)), sigma)
        out.append(((im - im.min()) / (im.max() - im.min())).astype(np.float32))
    return out


def _numbers(res: dict, path: str = "") -> dict[str, object]:
    """Every leaf of a score result by its path, timings left out."""
    if isinstance(res, dict):
        return {k: v for key, val in res.items() if key not in TIMES
                for k, v in _numbers(val, f"{path}/{key}").items()}
    if isinstance(res, (list, tuple)):
        return {k: v for i, val in enumerate(res) for k, v in _numbers(val, f"{path}[{i}]").items()}
    return {path: res}


def test_score_on_the_cuda_path_equals_gudhi(monkeypatch):
    """auto -> torch as on a CUDA machine (the torch backend then runs on the CPU)."""
    import shapekit.topology.torch_batch as tb

    real, fake = _textures(0, 2.0), _textures(1, 3.5)
    ref = score(real, fake, n_boot=10, n_perm=10, device="cpu")
    calls = []
    run = tb.torch_diagrams
    monkeypatch.setattr(tb, "torch_diagrams", lambda *a, **k: calls.append(1) or run(*a, **k))
    monkeypatch.setattr(backends, "_cuda_present", lambda: True)
    got = score(real, fake, n_boot=10, n_perm=10)
    assert calls                                            # the torch backend did the work
    assert ref["settings"].pop("persistence_backend") == "gudhi"
    assert got["settings"].pop("persistence_backend") == "torch"
    a, b = _numbers(ref), _numbers(got)
    assert a.keys() == b.keys() and len(a) > 100
    for k, v in a.items():
        if isinstance(v, float) and not isinstance(v, bool):
            assert b[k] == pytest.approx(v, rel=1e-10, abs=1e-12, nan_ok=True), k
        else:
            assert b[k] == v, k                             # verdict lines, counts, p-value ranks
    assert got["verdict"]["lines"] == ref["verdict"]["lines"]


def test_score_device_none_and_cpu_identical():
    real, fake = _textures(2, 2.0, 6), _textures(3, 2.0, 6)
    a = score(real, fake, n_boot=5, n_perm=5)
    b = score(real, fake, n_boot=5, n_perm=5, device="cpu")
    for r in (a, b):
        for k in TIMES:
            r.pop(k)
    assert json.dumps(a, default=str) == json.dumps(b, default=str)


def _write_set(folder, ims):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(ims):
        cv2.imwrite(str(folder / f"im{i:02d}.png"), np.round(im * 255).astype(np.uint8))
    return folder


def test_cli_device_option(run_cli, tmp_path):
    man = write_toy_manifest(str(tmp_path / "toy"), 2, 64, seed=4)
    outs = []
    for extra in ((), ("--device", "cpu")):
        out = tmp_path / f"f{len(extra)}.npz"
        code, _, err = run_cli("featurize", man, "--out", out, "--tile-size", "32", "--scales", "1,2",
                               *extra)
        assert code == 0, err
        outs.append(np.load(out))
    assert outs[0]["X"].shape[0] == 24 and np.array_equal(outs[0]["X"], outs[1]["X"])

    a, b = _write_set(tmp_path / "a", _textures(5, 2.0, 6)), _write_set(tmp_path / "b", _textures(6, 3.0, 6))
    res = []
    for extra in ((), ("--device", "cpu")):
        code, out, err = run_cli("score", a, b, "--json", "--n-boot", "5", "--n-perm", "5", *extra)
        assert code == 0, err
        r = json.loads(out)
        for k in TIMES:
            r.pop(k)
        res.append(r)
    assert res[0] == res[1] and res[0]["settings"]["persistence_backend"] == "gudhi"

    for cmd in (("featurize", man, "--out", tmp_path / "x.npz"), ("score", a, b)):
        for bad, msg in (("nonsense", "not a torch device"), ("cuda", "not available")):
            code, out, err = run_cli(*cmd, "--device", bad)
            assert code == 2 and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.npz").exists()
    code, out, _ = run_cli("score", "--help")
    assert code == 0 and "--device" in out
