"""A generator's imaging stage: its noise law and probe blur, determinism and sweeps, the export
block and its errors, the fit's known answer, and ``shapekit calibrate-imaging``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from shapekit.errors import ModelFormatError  # noqa: E402
from shapekit.generate.imaging import ImagingStage  # noqa: E402


def _stage(blur: float = 0.0, noise: tuple[float, ...] = (0.05, 0.05), resid: float = 0.0):
    return ImagingStage({"a": {"blur_px": blur, "noise": list(noise), "residual_noise": resid}})


def test_the_noise_is_shot_noise_at_the_drawn_level() -> None:
    x = torch.full((1, 128, 256), 0.2)
    x[..., 64:] = 0.8                        # a quarter dark, three quarters bright
    y = _stage().apply(x, ["a"], torch.Generator().manual_seed(0))[0]
    # the level is set at the image's median grey (0.8), and the variance follows the
    # signal: sd ratio sqrt(0.8 / 0.2) = 2
    dark, bright = float(y[:, :64].std()), float(y[:, 64:].std())
    assert bright == pytest.approx(0.05, rel=0.05)
    assert bright / dark == pytest.approx(2.0, rel=0.08)
    assert float(y[:, :64].mean()) == pytest.approx(0.2, abs=0.002)


def test_the_residual_noise_is_topped_up_not_added_twice() -> None:
    x = torch.full((1, 128, 128), 0.5)
    y = _stage(noise=(0.05, 0.05), resid=0.04).apply(x, ["a"], torch.Generator().manual_seed(1))
    assert float(y.std()) == pytest.approx(0.03, rel=0.05)          # sqrt(0.05^2 - 0.04^2)
    y = _stage(noise=(0.05, 0.05), resid=0.07).apply(x, ["a"], torch.Generator().manual_seed(1))
    assert float(y.std()) == 0.0                                    # already noisier: none added


def test_the_probe_blur_is_opencvs_gaussian() -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((40, 50)) > 0.5).astype(np.float32)
    st = _stage(blur=1.3, noise=(0.0, 0.0))
    y = st.apply(torch.from_numpy(img)[None], ["a"], torch.Generator().manual_seed(0))[0].numpy()
    ref = cv2.GaussianBlur(img, (0, 0), 1.3)   # mirrored borders (BORDER_REFLECT_101)
    assert np.abs(y - ref).max() < 2e-3


def test_same_stream_same_images_and_classes_without_a_stage_pass() -> None:
    x = torch.rand(3, 32, 32)
    st = _stage(noise=(0.02, 0.08))
    a = st.apply(x, ["a", "b", "a"], torch.Generator().manual_seed(7))
    b = st.apply(x, ["a", "b", "a"], torch.Generator().manual_seed(7))
    c = st.apply(x, ["a", "b", "a"], torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[1], x[1])
    with pytest.raises(ValueError):
        st.apply(x, ["a"], torch.Generator())


@pytest.mark.parametrize("block", [
    {"version": 4, "labels": {}},
    {"version": 1, "labels": {"a": {"blur_px": 1, "noise": [0.1, 0.2], "residual_noise": 0,
                                    "zoom": [1.0, 2.0]}}},
    {"version": 2, "labels": {"a": {"blur_px": 1, "noise": [0.1, 0.2], "residual_noise": 0,
                                    "zoom": [2.0, 1.0]}}},
    {"version": 2, "labels": {"a": {"blur_px": 1, "noise": [0.1, 0.2], "residual_noise": 0,
                                    "zoom": [1.0, 9.0]}}},
    {"version": 1, "labels": {"a": {"blur_px": -1, "noise": [0.1, 0.2], "residual_noise": 0}}},
    {"version": 1, "labels": {"a": {"blur_px": 1, "noise": [0.2, 0.1], "residual_noise": 0}}},
    {"version": 1, "labels": {"a": {"blur_px": 1, "noise": [0.1, 0.2]}}},
])
def test_bad_blocks_are_model_format_errors(block: dict) -> None:
    with pytest.raises(ModelFormatError):
        ImagingStage.from_dict(block)


def test_export_applies_the_stage_with_the_same_noise_along_a_sweep(tmp_path: Path) -> None:
    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator, load_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    g = Generator(2, n_cond=1, z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8])
    codec = ConditionCodec.fit(["a", "b"], ["T"], np.array([[100.0], [200.0]]),
                               mode="parameters")
    export_generator(g, codec, tmp_path / "m", crop_size=32)
    cfg_path = tmp_path / "m" / "generator.json"
    plain = load_generator(tmp_path / "m", device="cpu").sample(2, label="a", conditions={"T": 120},
                                                                seed=3, size=48)
    cfg = json.loads(cfg_path.read_text())
    cfg["imaging"] = {"version": 1, "labels": {"a": {"blur_px": 0.0, "noise": [0.06, 0.06],
                                                     "residual_noise": 0.0}}}
    cfg_path.write_text(json.dumps(cfg))
    gen = load_generator(tmp_path / "m", device="cpu")
    raw = gen.sample(2, label="a", conditions={"T": 120}, seed=3, size=48, raw=True)
    assert np.array_equal(raw, plain)          # raw: the network's output as before the block
    noisy = gen.sample(2, label="a", conditions={"T": 120}, seed=3, size=48)
    assert np.array_equal(noisy, gen.sample(2, label="a", conditions={"T": 120}, seed=3, size=48))
    assert 0.02 < float(np.std(noisy - raw)) < 0.1
    # another condition, same seed: the same normal field (noise / sqrt(signal) correlates)
    raw2 = gen.sample(2, label="a", conditions={"T": 180}, seed=3, size=48, raw=True)
    noisy2 = gen.sample(2, label="a", conditions={"T": 180}, seed=3, size=48)
    ok = (raw > 0.05) & (raw2 > 0.05) & (noisy > 0) & (noisy < 1) & (noisy2 > 0) & (noisy2 < 1)
    e1 = ((noisy - raw) / np.sqrt(raw.clip(1e-6)))[ok]
    e2 = ((noisy2 - raw2) / np.sqrt(raw2.clip(1e-6)))[ok]
    assert np.corrcoef(e1, e2)[0, 1] > 0.95
    # the block is checked when the model loads
    cfg["imaging"]["version"] = 9
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ModelFormatError):
        load_generator(tmp_path / "m", device="cpu")


def _fields(rng: np.random.Generator, n: int, blur: float, noise: tuple[float, float]):
    out = []
    for _ in range(n):
        x = cv2.GaussianBlur((rng.random((96, 96)) > 0.8).astype(np.float32), (0, 0), 2.0)
        x = cv2.GaussianBlur((x > 0.3).astype(np.float32), (0, 0), blur) if blur else (x > 0.3)
        s = rng.uniform(*noise)
        out.append(np.clip(0.25 + 0.5 * x + rng.normal(0, s, x.shape), 0, 1).astype(np.float32))
    return out


def test_the_fit_finds_the_missing_probe_and_the_noise_range() -> None:
    from shapekit.cli.calibrate import fit_imaging_stage

    rng = np.random.default_rng(0)
    real = {"a": _fields(rng, 24, 1.5, (0.02, 0.06))}
    sharp = {"a": _fields(rng, 24, 0.0, (0.0, 0.0)), "b": _fields(rng, 4, 0.0, (0.0, 0.0))}
    block = fit_imaging_stage(sharp, real)
    assert set(block["labels"]) == {"a"}       # "b" has no real images: no stage
    p = block["labels"]["a"]
    assert 1.1 <= p["blur_px"] <= 1.9           # the real probe, 1.5 px
    assert 0.015 < p["noise"][0] < p["noise"][-1] < 0.07
    assert p["fit"]["gap"] < 0.5 * p["fit"]["gap_raw"]


def test_cli_calibrate_imaging_writes_the_block(run_cli, tmp_path: Path) -> None:
    from test_generate import TINY, make_tiny_dataset

    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "d", n=6)
    torch.set_num_threads(1)
    train_gan(manifest, tmp_path / "run", condition="parameters", crop_size=32, max_steps=2,
              batch_size=4, seed=0, n_up=2, d_blocks=2, **TINY)
    code, out, err = run_cli("calibrate-imaging", tmp_path / "run", manifest, "--size", "48",
                             "--json")
    assert code == 0, err
    block = json.loads(out)
    assert set(block["labels"]) == {"a", "b"}
    cfg = json.loads((tmp_path / "run" / "generator.json").read_text())
    assert cfg["imaging"]["labels"]["a"]["blur_px"] == block["labels"]["a"]["blur_px"]
    code, _, err = run_cli("generate", tmp_path / "run", "--n", "2", "--out", tmp_path / "g",
                           "--raw")
    assert code == 0, err
    code, _, err = run_cli("calibrate-imaging", tmp_path / "nothing", manifest)
    assert code == 2 and f"run directory not found: {tmp_path / 'nothing'}" in err, err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("calibrate-imaging", tmp_path / "empty", manifest)
    assert code == 2 and "no exported generator" in err
    code, _, err = run_cli("calibrate-imaging", "uhcs3-class", manifest)   # a shipped name
    assert code == 2 and "uhcs3-class is a shipped model" in err and "copy" in err, err
    # another dataset's labels: refused, nothing written
    d = manifest.parent
    (d / "other.csv").write_text((d / "labels.csv").read_text().replace(",a,", ",x,"))
    (d / "other.yaml").write_text(manifest.read_text().replace("labels.csv", "other.csv"))
    before = (tmp_path / "run" / "generator.json").read_text()
    code, _, err = run_cli("calibrate-imaging", tmp_path / "run", d / "other.yaml")
    assert code == 2 and "not this model's training data" in err
    assert (tmp_path / "run" / "generator.json").read_text() == before
    # at most N images per class: one of each of the two classes here
    from shapekit.cli.calibrate import calibrate_generator

    block = calibrate_generator(tmp_path / "run", manifest, size=48, max_per_class=2, write=False)
    assert block["fitted_on"].startswith("4 training images")
    # a model with a physical pixel size never draws magnifications
    block = calibrate_generator(tmp_path / "run", manifest, size=48, max_per_class=2,
                                magnify=True, write=False)
    assert block["version"] == 1 and not any("zoom" in p for p in block["labels"].values())


def test_cli_calibrate_magnify_without_a_pixel_size(run_cli, tmp_path: Path, monkeypatch) -> None:
    import yaml
    from test_generate import TINY, make_tiny_dataset

    from shapekit.generate.train import train_gan
    from shapekit.realism import structure

    manifest = make_tiny_dataset(tmp_path / "d", n=6)
    spec = yaml.safe_load(manifest.read_text())
    del spec["um_per_px"]                      # a dataset that mixes magnifications
    manifest.write_text(yaml.safe_dump(spec))
    torch.set_num_threads(1)
    train_gan(manifest, tmp_path / "run", condition="class", crop_size=32, max_steps=2,
              batch_size=4, seed=0, n_up=2, d_blocks=2, **TINY)
    assert json.loads((tmp_path / "run" / "generator.json").read_text())["um_per_px"] is None
    calls = []

    def spacing(images):   # per class: the network's sizes (narrow), then the real ones (wide)
        calls.append(len(images))
        k = np.linspace(-1, 1, len(images))
        return np.exp(np.log(10.0) + 0.02 * k) if len(calls) % 2 else np.exp(np.log(20.0) + 0.4 * k)

    monkeypatch.setattr(structure, "image_spacing", spacing)
    code, out, err = run_cli("calibrate-imaging", tmp_path / "run", manifest, "--size", "48",
                             "--magnify", "--json")
    assert code == 0, err
    block = json.loads(out)
    assert block["version"] == 2 and len(calls) == 4
    for p in block["labels"].values():
        assert p["zoom"][len(p["zoom"]) // 2] == pytest.approx(2.0, rel=0.02)   # 20 px / 10 px
        assert p["fit"]["magnification"]["median_real_px"] == pytest.approx(20.0, rel=0.02)
    assert "magnification drawn per image" in err
    code, _, err = run_cli("generate", tmp_path / "run", "--n", "2", "--label", "a", "--size", "40",
                           "--out", tmp_path / "g")
    assert code == 0, err


def _grad_energy(x: np.ndarray) -> float:
    return float(np.mean(np.diff(x, axis=-1) ** 2) + np.mean(np.diff(x, axis=-2) ** 2))


def _tiny_model_with_stage(tmp_path: Path):
    """An untrained two-class export in tmp_path/m, and a loader of it with an imaging stage of
    the given version in which class "a" has the given keys (no blur, no noise)."""
    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator, load_generator
    from shapekit.generate.nets import Generator

    torch.manual_seed(0)
    g = Generator(2, z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8])
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)), mode="class")
    export_generator(g, codec, tmp_path / "m", crop_size=32)
    cfg_path = tmp_path / "m" / "generator.json"
    cfg = json.loads(cfg_path.read_text())
    flat = {"blur_px": 0.0, "noise": [0.0, 0.0], "residual_noise": 0.0}

    def with_stage(version: int, a: dict):
        cfg["imaging"] = {"version": version, "labels": {"a": {**flat, **a}, "b": flat}}
        cfg_path.write_text(json.dumps(cfg))
        return load_generator(tmp_path / "m", device="cpu")

    return with_stage


def test_a_magnifying_stage_draws_each_image_at_its_zoom(tmp_path: Path) -> None:
    stage = _tiny_model_with_stage(tmp_path)

    def with_zoom(zoom: list[float] | None):
        return stage(2, {"zoom": zoom} if zoom else {})

    plain = with_zoom(None)
    x1 = plain.sample(6, label="a", seed=4, size=(48, 40))
    big, small = with_zoom([2.0, 2.0]), with_zoom([0.5, 0.5])
    x2 = big.sample(6, label="a", seed=4, size=(48, 40))
    x05 = small.sample(6, label="a", seed=4, size=(48, 40))
    assert x2.shape == x05.shape == (6, 48, 40) and x2.dtype == np.float32
    assert np.array_equal(x2, big.sample(6, label="a", seed=4, size=(48, 40)))   # seeded
    assert not np.array_equal(x2, big.sample(6, label="a", seed=5, size=(48, 40)))
    # features twice as large: about a quarter of the gradient energy; half as large: more
    assert _grad_energy(x2) < 0.5 * _grad_energy(x1) < 0.5 * _grad_energy(x05)
    # a class without a zoom is generated exactly as before; raw skips the magnification
    assert np.array_equal(big.sample(3, label="b", seed=4, size=40),
                          plain.sample(3, label="b", seed=4, size=40))
    assert np.array_equal(big.sample(3, label="a", seed=4, size=40, raw=True),
                          plain.sample(3, label="a", seed=4, size=40, raw=True))
    # drawn zooms follow the stored quantiles
    spread = with_zoom([0.5, 2.0]).imaging.zooms(["a"] * 2000 + ["b"], seed=0)
    assert spread[-1] == 1.0 and 0.5 <= spread.min() < 0.55 and 1.95 < spread[:-1].max() <= 2.0
    assert np.median(spread[:-1]) == pytest.approx(1.25, abs=0.05)


def test_fit_zoom_only_where_the_network_spreads_too_little() -> None:
    from shapekit.cli.calibrate import fit_zoom

    rng = np.random.default_rng(1)
    real = np.exp(np.log(20.0) + 0.35 * rng.standard_normal(300))
    assert fit_zoom(np.exp(np.log(12.0) + 0.3 * rng.standard_normal(300)), real) is None
    z = fit_zoom(np.exp(np.log(10.0) + 0.1 * rng.standard_normal(300)), real)
    assert z["zoom"] == sorted(z["zoom"]) and len(z["zoom"]) == 21
    assert z["zoom"][10] == pytest.approx(2.0, rel=0.1)
    assert z["fit"]["shrink"] == pytest.approx((1 - (0.1 / 0.35) ** 2) ** 0.5, abs=0.05)
    # never beyond what the stage accepts
    z = fit_zoom(np.exp(np.log(1.0) + 0.01 * rng.standard_normal(300)), real)
    assert 0.25 <= z["zoom"][0] and z["zoom"][-1] == 4.0


def test_a_turn_is_read_only_from_version_3_and_only_as_0_or_1() -> None:
    flat = {"blur_px": 0.0, "noise": [0.0, 0.0], "residual_noise": 0.0}
    st = ImagingStage({"a": {**flat, "turn": 1}, "b": {**flat, "turn": 0}})
    assert st.turns(["a", "b", "c"]).tolist() == [1, 0, 0]
    assert st.to_dict()["version"] == 3 and "turn" not in st.to_dict()["labels"]["b"]
    assert ImagingStage.from_dict(st.to_dict()).turns(["a"]).tolist() == [1]
    with pytest.raises(ModelFormatError, match="version 2 has no turn"):
        ImagingStage.from_dict({"version": 2, "labels": {"a": {**flat, "turn": 1}}})
    for bad in (2, -1, True, "1"):
        with pytest.raises(ModelFormatError, match="turn must be 0 or 1"):
            ImagingStage({"a": {**flat, "turn": bad}})


def test_a_turned_class_is_drawn_transposed_and_turned_a_quarter(tmp_path: Path) -> None:
    with_stage = _tiny_model_with_stage(tmp_path)

    # each image: the per-image stream of its seed drawn upright at 40x56, turned a quarter
    st = with_stage(3, {"turn": 1})
    turned = st.sample(3, label="a", seed=2, size=(56, 40))
    assert turned.shape == (3, 56, 40)
    _, zg = st.generator.latents(3, st.generator.field_cells((56, 40)),
                                 torch.Generator().manual_seed(2))
    for i in range(3):
        upright = st._magnified(zg[i:i + 1], torch.tensor([0]), None, (40, 56), 1.0, (2, 3, i))
        assert np.array_equal(turned[i], np.rot90(upright))
    # a class without a turn is drawn as before
    plain = with_stage(1, {})
    assert np.array_equal(with_stage(3, {"turn": 1}).sample(2, label="b", seed=2, size=40),
                          plain.sample(2, label="b", seed=2, size=40))
    assert np.array_equal(with_stage(3, {"turn": 1}).sample(2, label="a", seed=2, size=40,
                                                            raw=True),
                          plain.sample(2, label="a", seed=2, size=40, raw=True))


def test_fit_turn_only_where_a_quarter_turn_brings_the_sets_together() -> None:
    from shapekit.generate.imaging import fit_turn

    y, x = np.mgrid[:64, :64]

    def stripes(deg: float, k: int) -> np.ndarray:   # elongated along deg, as displayed
        t = np.radians(deg + 90.0)
        return np.sin(2 * np.pi * (x * np.cos(t) - y * np.sin(t) + k) / 9)

    rows = [stripes(0, k) for k in range(12)]
    t = fit_turn([stripes(60, k) for k in range(12)], rows)
    assert t["turn"] == 1 and t["fit"]["angle_before_deg"] == pytest.approx(60, abs=3)
    assert t["fit"]["angle_after_deg"] == pytest.approx(30, abs=3)
    assert fit_turn([stripes(40, k) for k in range(12)], rows)["turn"] == 0     # 40 deg: closer
    mixed = [stripes(a, 0) for a in np.linspace(0, 180, 12, endpoint=False)]   # no direction
    assert fit_turn(mixed, rows)["turn"] == 0 and fit_turn(rows[::-1], mixed)["turn"] == 0


def test_cli_calibrate_orient_turns_the_classes_that_lean_across(run_cli, tmp_path: Path,
                                                                 monkeypatch) -> None:
    from test_generate import TINY, make_tiny_dataset

    from shapekit.generate import checks
    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "d", n=6)
    torch.set_num_threads(1)
    train_gan(manifest, tmp_path / "run", condition="class", crop_size=32, max_steps=2,
              batch_size=4, seed=0, n_up=2, d_blocks=2, **TINY)
    calls = []

    def bias(images, sigma=3.0):  # per class: generated, then real; class a across, b along
        calls.append(len(images))
        gen = len(calls) % 2 == 1
        d = (80.0 if len(calls) <= 2 else 5.0) if gen else 0.0
        return {"coherence": 0.5, "shared": 0.9, "p": 1e-6, "direction_deg": d, "n": len(images)}

    monkeypatch.setattr(checks, "orientation_bias", bias)
    code, out, err = run_cli("calibrate-imaging", tmp_path / "run", manifest, "--size", "48",
                             "--orient", "--json")
    assert code == 0, err
    block = json.loads(out)
    assert len(calls) == 4 and block["version"] == 3
    assert block["labels"]["a"]["turn"] == 1 and "turn" not in block["labels"]["b"]
    assert block["labels"]["a"]["fit"]["orientation"]["angle_after_deg"] == 10.0
    assert "a: generated set leans at 80 deg" in err and "turned a quarter" in err
    code, _, err = run_cli("generate", tmp_path / "run", "--n", "2", "--label", "a", "--size",
                           "48x32", "--out", tmp_path / "g")
    assert code == 0, err
    import tifffile

    assert tifffile.imread(tmp_path / "g" / "gen_00000.tif").shape == (32, 48)
