"""A generator's condition map: interpolation and its edges, the export block and its errors,
the same images as the network given the shifted input, and the fit's known answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shapekit.errors import InputError, ModelFormatError  # noqa: E402
from shapekit.generate.conditionmap import ConditionMap, fit_condition_map  # noqa: E402
from shapekit.generate.codec import ConditionCodec  # noqa: E402


def test_shifts_interpolate_linearly_per_class_and_hold_at_the_edges() -> None:
    axes = [np.array([0.0, 1.0, 2.0]), np.array([-1.0, 1.0])]
    s = np.zeros((3, 2, 2))
    s[..., 0] = np.array([0.0, 0.2, 0.6])[:, None]      # first input: shift grows along axis 0
    s[..., 1] = np.array([-0.1, 0.3])[None, :]          # second: along axis 1
    m = ConditionMap(axes, {"a": s})
    z = np.array([[0.5, 0.0], [1.5, 1.0], [9.0, -9.0], [0.5, 0.0]])
    out = m.apply(z, ["a", "a", "a", "b"])
    np.testing.assert_allclose(out[0], [0.5 + 0.1, 0.0 + 0.1])
    np.testing.assert_allclose(out[1], [1.5 + 0.4, 1.0 + 0.3])
    np.testing.assert_allclose(out[2], [9.0 + 0.6, -9.0 - 0.1])   # beyond the grid: edge shift
    np.testing.assert_allclose(out[3], z[3])                      # no map for class b
    back = ConditionMap.from_dict(json.loads(json.dumps(m.to_dict())))
    np.testing.assert_allclose(back.apply(z, ["a"] * 4), m.apply(z, ["a"] * 4))


@pytest.mark.parametrize("block", [
    {"version": 2, "axes": [[0, 1]], "labels": {}},
    {"version": 1, "axes": [[1, 0]], "labels": {}},
    {"version": 1, "axes": [[0, 1]], "labels": {"a": [[0.0]]}},
    {"version": 1, "axes": [[0, 1]], "labels": {"a": [[0.0], [float("nan")]]}},
    {"version": 1, "labels": {}},
])
def test_bad_blocks_are_model_format_errors(block: dict) -> None:
    with pytest.raises(ModelFormatError):
        ConditionMap.from_dict(block)


def test_decode_inverts_encode_with_log_conditions() -> None:
    v = np.array([[120.0, 0.1], [180.0, 3.0], [220.0, 100.0]])
    codec = ConditionCodec.fit(["a"], ["T", "t"], v, mode="parameters")
    assert codec.log.tolist() == [False, True]
    np.testing.assert_allclose(codec.decode(codec.encode(v)), v, rtol=1e-5)


def _tiny_export(tmp_path: Path):
    """A tiny untrained parameters-mode export (classes a/b, condition T over 100-200): its
    codec, the path of its generator.json and the model loaded without a map."""
    from shapekit.generate.export import export_generator, load_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    g = Generator(2, n_cond=1, z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8])
    codec = ConditionCodec.fit(["a", "b"], ["T"], np.array([[100.0], [200.0]]),
                               mode="parameters")
    export_generator(g, codec, tmp_path / "m", crop_size=32)
    return codec, tmp_path / "m" / "generator.json", load_generator(tmp_path / "m", device="cpu")


def test_an_export_feeds_the_network_the_shifted_input(tmp_path: Path) -> None:
    from shapekit.generate.export import load_generator

    codec, cfg_path, plain = _tiny_export(tmp_path)
    shift = 0.4                                      # encoded units: T moves by 0.4 std
    moved = float(codec.decode(codec.encode([[120.0]]) + shift)[0, 0])
    cfg = json.loads(cfg_path.read_text())
    cfg["condition_map"] = ConditionMap([np.array([-5.0, 5.0])],
                                        {"a": np.full((2, 1), shift)}).to_dict()
    cfg_path.write_text(json.dumps(cfg))
    gen = load_generator(tmp_path / "m", device="cpu")
    kw = {"seed": 3, "size": 48}
    got = gen.sample(2, label="a", conditions={"T": 120}, **kw)
    assert np.allclose(got, plain.sample(2, label="a", conditions={"T": moved}, **kw), atol=1e-5)
    assert not np.allclose(got, plain.sample(2, label="a", conditions={"T": 120}, **kw), atol=1e-3)
    # raw: the network at the request; class b has no map
    assert np.array_equal(gen.sample(2, label="a", conditions={"T": 120}, raw=True, **kw),
                          plain.sample(2, label="a", conditions={"T": 120}, **kw))
    assert np.array_equal(gen.sample(2, label="b", conditions={"T": 120}, **kw),
                          plain.sample(2, label="b", conditions={"T": 120}, **kw))
    cfg["condition_map"]["version"] = 7
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError, match="version"):
        load_generator(tmp_path / "m", device="cpu")


class _Biased:
    """A stand-in generator: images of grey level 0.3 + 0.1 (z + 0.5) at encoded input z, so it
    draws at every request what its training images show half a unit further on."""

    def __init__(self, codec: ConditionCodec) -> None:
        self.codec, self.condition_map = codec, "own map"

    def sample(self, n, label=None, conditions=None, seed=0, size=None, raw=False):
        z = float(self.codec.encode([[conditions["T"]]])[0, 0])
        rng = np.random.default_rng(seed)
        return 0.3 + 0.1 * (z + 0.5) + rng.normal(0, 0.002, (n, 8, 8))


def test_the_fit_finds_the_known_shift() -> None:
    rng = np.random.default_rng(0)
    T = rng.uniform(100, 200, 60)
    codec = ConditionCodec.fit(["a"], ["T"], T[:, None], mode="parameters")
    z = codec.encode(T[:, None])[:, 0]
    measured = (0.3 + 0.1 * z + rng.normal(0, 0.002, len(z)))[:, None]   # the training images
    fake = _Biased(codec)
    m = fit_condition_map(fake, T[:, None], ["a"] * len(T), measured,
                          lambda im: np.array([im.mean()]), scales=[0.01], steps=9, n_images=2)
    assert fake.condition_map == "own map"        # restored after fitting without it
    two = fit_condition_map(fake, np.r_[T, T][:, None], ["a"] * len(T) + ["b"] * len(T),
                            np.r_[measured, measured], lambda im: np.array([im.mean()]),
                            scales=[0.01], steps=9, n_images=2, classes=["b"])
    assert set(two.shifts) == {"b"} and two.fitted["labels"]["a"]["skipped"] == "not asked for"
    with pytest.raises(InputError, match="no training images of"):
        fit_condition_map(fake, T[:, None], ["a"] * len(T), measured,
                          lambda im: np.array([im.mean()]), scales=[0.01], classes=["c"])
    s = m.shifts["a"][:, 0]
    np.testing.assert_allclose(s[2:], -0.5, atol=0.05)
    # near the low end the input it needs lies below the training box: it stops at the edge
    lo = m.axes[0][0]
    np.testing.assert_allclose(m.axes[0][:2] + s[:2], lo, atol=0.02)
    assert m.fitted["labels"]["a"]["grid_points_fitted"] == 9
    with pytest.raises(InputError):
        fit_condition_map(fake, T[:, None], ["a"] * 3, measured, lambda im: im.mean(), [0.01])


def test_cli_calibrate_conditions_writes_a_map_generate_uses(run_cli, tmp_path: Path) -> None:
    import cv2
    from test_generate import TINY

    from shapekit.generate.train import train_gan
    from shapekit.io import write_manifest

    d = tmp_path / "d"          # bright particles whose radius grows with T; classes a/b
    d.mkdir()
    rng = np.random.default_rng(0)
    rows = ["file,temper,T"]
    for i in range(20):
        img = np.full((40, 40), 40, np.uint8)
        for _ in range(6):
            cv2.circle(img, tuple(int(v) for v in rng.integers(4, 36, 2)), 2 + i // 5, 200, -1)
        cv2.imwrite(str(d / f"im{i}.png"), img)
        rows.append(f"im{i}.png,{'ab'[i % 2]},{100 + 5 * i}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    manifest = d / "m.yaml"
    write_manifest(manifest, {"name": "tiny", "root": ".", "table": "labels.csv", "image": "file",
                              "label": "temper", "parameters": ["T"], "um_per_px": 0.1})
    torch.set_num_threads(1)
    train_gan(manifest, tmp_path / "run", condition="parameters", crop_size=32, max_steps=2,
              batch_size=4, seed=0, n_up=2, d_blocks=2, **TINY)
    code, out, err = run_cli("calibrate-conditions", tmp_path / "run", manifest, "--size", "32",
                             "--n-images", "1", "--steps", "4", "--max-zoom", "1.5",
                             "--pull", "0.5", "--min-slope", "0.5", "--label", "a", "--json")
    assert code == 0, err
    assert "wrote the condition map into" in err and "grid points fitted" in err
    block = json.loads(out)
    cfg = json.loads((tmp_path / "run" / "generator.json").read_text())
    assert cfg["condition_map"] == block and set(block["fitted"]["labels"]) == {"a", "b"}
    for name, f in block["fitted"]["labels"].items():   # fitted, or skipped with the reason
        assert (name in block["labels"]) != ("skipped" in f)
    assert block["fitted"]["labels"]["b"]["skipped"] == "not asked for"
    assert block["labels"] and all(np.asarray(s).shape == (4, 1) for s in block["labels"].values())
    assert "20 training images of m.yaml" in block["fitted"]["fitted_on"]
    assert block["fitted"]["zoom_range"] == [1.0, 1.5] and set(block["zoom"]) == set(block["labels"])
    assert block["fitted"]["pull"] == 0.5 and block["fitted"]["min_slope"] == 0.5
    assert all(0.0 <= v <= np.log(1.5) + 1e-9 for z in block["zoom"].values() for v in np.ravel(z))
    code, _, err = run_cli("generate", tmp_path / "run", "--n", "2", "--out", tmp_path / "g",
                           "--label", "a", "--set", "T=150")
    assert code == 0, err
    code, _, err = run_cli("calibrate-conditions", "sim-parameters", manifest)
    assert code == 2 and "sim-parameters is a shipped model" in err, err
    code, _, err = run_cli("calibrate-conditions", tmp_path / "run", tmp_path / "no.yaml")
    assert code == 2 and "manifest not found" in err, err


class _Capped:
    """A stand-in generator whose log size follows its input up to 0 and stops there."""

    def __init__(self, codec: ConditionCodec) -> None:
        self.codec, self.condition_map = codec, None

    def sample(self, n, label=None, conditions=None, seed=0, size=None, raw=False):
        z = float(self.codec.encode([[conditions["T"]]])[0, 0])
        out = np.zeros((n, 2, 4))
        out[:, 0], out[:, 1] = 0.3, min(z, 0.0)
        return out


def test_the_fit_magnifies_where_the_size_is_out_of_reach() -> None:
    T = np.linspace(100, 200, 41)
    codec = ConditionCodec.fit(["a"], ["T"], T[:, None], mode="parameters")
    z = codec.encode(T[:, None])[:, 0].astype(float)
    measured = np.stack([np.full_like(z, 0.3), z], axis=1)     # training: log size = z
    m = fit_condition_map(_Capped(codec), T[:, None], ["a"] * len(T), measured,
                          lambda im: np.array([im[0].mean(), im[1].mean()]), [0.01, 0.01],
                          steps=11, n_images=1, zoom_range=(1.0, 2.0), log_size=1)
    g = m.axes[0]
    expect = np.exp(np.clip(g, 0.0, np.log(2.0)))     # none below 0, e^z above, at most 2
    # (within the smoothing of the forward Gaussian process over the cap's kink)
    np.testing.assert_allclose(np.exp(m.zoom["a"]), expect, atol=0.08)
    np.testing.assert_allclose(m.zooms(g[:, None], ["a"] * len(g)),
                               np.where(expect < 1.02, 1, expect), atol=0.08)
    assert np.all(m.zooms(g[g < -0.2, None], ["a"] * int(np.sum(g < -0.2))) == 1.0)
    assert m.fitted["zoom_range"] == [1.0, 2.0]
    back = ConditionMap.from_dict(json.loads(json.dumps(m.to_dict())))
    np.testing.assert_allclose(back.zoom["a"], m.zoom["a"], atol=1e-6)
    with pytest.raises(ModelFormatError):
        ConditionMap(m.axes, m.shifts, zoom={"a": np.full(len(g), 3.0)})   # 20x: refused


def test_a_zooming_map_magnifies_the_network_image(tmp_path: Path) -> None:
    from shapekit.generate.export import load_generator

    codec, cfg_path, plain = _tiny_export(tmp_path)
    cfg = json.loads(cfg_path.read_text())
    axes, none = [np.array([-5.0, 5.0])], {"a": np.zeros((2, 1))}
    for lz, same in ((np.log(1.01), True), (np.log(2.0), False)):
        cfg["condition_map"] = ConditionMap(axes, none, zoom={"a": np.full(2, lz)}).to_dict()
        cfg_path.write_text(json.dumps(cfg))
        got = load_generator(tmp_path / "m", device="cpu").sample(2, label="a", seed=1, size=48,
                                                                    conditions={"T": 150})
        want = plain.sample(2, label="a", seed=1, size=48, conditions={"T": 150})
        assert got.shape == want.shape == (2, 48, 48)
        assert np.array_equal(got, want) == same
    # magnified 2x: neighbouring pixels agree more than in the network's own image
    def lag1(x: np.ndarray) -> float:
        return float(np.corrcoef(x[:, :, 1:].ravel(), x[:, :, :-1].ravel())[0, 1])
    assert lag1(got) > lag1(want)


class _Flat:
    """A stand-in generator whose images do not change with the input (an ill-posed inverse)."""

    def __init__(self, codec: ConditionCodec) -> None:
        self.codec, self.condition_map = codec, None

    def sample(self, n, label=None, conditions=None, seed=0, size=None, raw=False):
        return 0.3 + np.random.default_rng(seed).normal(0, 0.01, (n, 4, 4))


def test_mapped_inputs_never_decrease_along_a_request() -> None:
    rng = np.random.default_rng(1)
    v = np.c_[rng.uniform(100, 200, 80), rng.uniform(0, 10, 80)]
    codec = ConditionCodec.fit(["a"], ["T", "t"], v, mode="parameters")
    measured = (0.3 + rng.normal(0, 0.01, 80))[:, None]
    m = fit_condition_map(_Flat(codec), v, ["a"] * 80, measured, lambda im: np.array([im.mean()]),
                          [0.001], steps=6, n_images=1, pull=0.01)
    mapped = np.stack(np.meshgrid(*m.axes, indexing="ij"), -1) + m.shifts["a"]
    for ax in (0, 1):                  # every input along every request: T's and t's
        assert np.all(np.diff(mapped, axis=ax) >= -1e-9)


def test_a_minimum_slope_keeps_each_input_moving_with_its_request() -> None:
    """On a flat generator the inverse is ill-posed: with min_slope s every input still rises
    along its own request at s times its rate or more (and never falls along the other one),
    and stays inside the training box; s = 0 lets a run of grid points share one input."""
    rng = np.random.default_rng(1)
    v = np.c_[rng.uniform(100, 200, 80), rng.uniform(0, 10, 80)]
    codec = ConditionCodec.fit(["a"], ["T", "t"], v, mode="parameters")
    measured = (0.3 + rng.normal(0, 0.01, 80))[:, None]
    kw = dict(steps=6, n_images=1, pull=0.01)
    fits = {s: fit_condition_map(_Flat(codec), v, ["a"] * 80, measured,
                                 lambda im: np.array([im.mean()]), [0.001], min_slope=s, **kw)
            for s in (0.0, 0.5)}
    m = fits[0.5]
    grid = np.stack(np.meshgrid(*m.axes, indexing="ij"), -1)
    mapped = grid + m.shifts["a"]
    step = [np.diff(a)[0] for a in m.axes]
    lo, hi = grid.min(axis=(0, 1)), grid.max(axis=(0, 1))
    for j in (0, 1):
        x = mapped[..., j]
        inside = (x > lo[j] + 1e-9) & (x < hi[j] - 1e-9)     # not clipped to the training box
        both = np.delete(inside, -1, axis=j) & np.delete(inside, 0, axis=j)
        assert both.sum() >= 10
        assert np.all(np.diff(x, axis=j)[both] >= 0.5 * step[j] - 1e-6)
        assert np.all(np.diff(x, axis=j) >= -1e-9) and np.all(np.diff(x, axis=1 - j) >= -1e-9)
    assert np.all(mapped >= lo - 1e-9) and np.all(mapped <= hi + 1e-9)
    assert m.fitted["min_slope"] == 0.5 and "min_slope" not in fits[0.0].fitted
    flat = grid + fits[0.0].shifts["a"]
    assert np.any(np.abs(np.diff(flat, axis=0)[..., 0]) < 1e-6)     # without it: held still


def test_a_class_mode_model_has_nothing_to_map(tmp_path: Path) -> None:
    from shapekit.generate.conditioncal import calibrate_conditions
    from shapekit.generate.export import export_generator
    from shapekit.generate.nets import Generator

    g = Generator(2, n_cond=0, z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8])
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)), mode="class")
    export_generator(g, codec, tmp_path / "m", crop_size=32)
    before = (tmp_path / "m" / "generator.json").read_text()
    with pytest.raises(InputError, match="class-mode generator"):
        calibrate_conditions(tmp_path / "m", tmp_path / "unused.yaml")
    assert (tmp_path / "m" / "generator.json").read_text() == before
