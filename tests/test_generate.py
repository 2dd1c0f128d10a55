"""shapekit.generate: networks, DiffAugment, data, export/sampling, a short training, CLI errors."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shapekit.errors import InputError, ModelFormatError  # noqa: E402
from shapekit.generate.data import ConditionCodec, GANDataModule, TileDataset, rescale_to  # noqa: E402
from shapekit.generate.diffaug import diff_augment  # noqa: E402
from shapekit.generate.nets import Discriminator, Generator  # noqa: E402

TINY = dict(z_dim=16, g_channels=8, d_channels=8, max_channels=16)


def make_tiny_dataset(d: Path, n: int = 6, size: int = 48) -> Path:
    """Images of dark discs whose radius grows with parameter T; labels a/b; property HV."""
    import cv2

    from shapekit.io import write_manifest

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = ["file,temper,T,HV"]
    for i in range(n):
        t = 100.0 + 20 * i
        img = np.full((size, size), 200, np.uint8)
        for _ in range(6):
            c = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.circle(img, c, 2 + i, 40, -1)
        cv2.imwrite(str(d / f"im{i}.png"), img)
        rows.append(f"im{i}.png,{'ab'[i % 2]},{t},{300 - t / 2}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    write_manifest(d / "m.yaml", {"name": "tiny", "root": ".", "table": "labels.csv",
                                  "image": "file", "label": "temper", "parameters": ["T"],
                                  "properties": ["HV"], "um_per_px": 0.1})
    return d / "m.yaml"


# ---------------------------------------------------------------- networks
@pytest.mark.parametrize("size", [32, 64])
def test_generator_discriminator_shapes(size: int) -> None:
    g = Generator(size, n_classes=3, n_cond=2, z_dim=16, base_channels=4, max_channels=16)
    d = Discriminator(size, n_classes=3, n_cond=2, base_channels=4, max_channels=16)
    seen: dict[str, list] = {"g": [], "d": []}
    for name, blocks in (("g", g.blocks), ("d", d.blocks)):
        for b in blocks:
            b.register_forward_hook(lambda m, i, o, k=name: seen[k].append(tuple(o.shape[1:])))
    with torch.no_grad():
        x = g(torch.randn(5, 16), torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 2))
        logits = d(x, torch.zeros(5, dtype=torch.long), torch.randn(5, 2))
    assert x.shape == (5, 1, size, size) and logits.shape == (5,)
    # known layout: from 4x4, each generator block doubles the side, each critic block halves it
    n = int(np.log2(size // 4))
    assert [hw[1:] for hw in seen["g"]] == [(4 * 2 ** (k + 1),) * 2 for k in range(n)]
    assert [hw[1:] for hw in seen["d"]] == [(size // 2 ** (k + 1),) * 2 for k in range(n)]
    assert seen["g"][-1][0] == 4 and seen["d"][-1][0] == 16  # channels: base at full size, max at 4x4


def test_bad_image_size_refused() -> None:
    with pytest.raises(ValueError, match="power of two"):
        Generator(48, n_classes=1)


def test_conditioning_changes_generator_output() -> None:
    torch.manual_seed(0)
    g = Generator(32, n_classes=2, n_cond=1, z_dim=16, base_channels=4, max_channels=16).eval()
    z = torch.randn(2, 16)

    def run(label: int, c: float) -> torch.Tensor:
        torch.manual_seed(1)  # same block noise
        return g(z, torch.full((2,), label), torch.full((2, 1), c))

    base = run(0, 0.0)
    assert torch.equal(base, run(0, 0.0))
    assert (base - run(1, 0.0)).abs().mean() > 1e-4
    assert (base - run(0, 2.0)).abs().mean() > 1e-4


def test_projection_discriminator_uses_condition() -> None:
    torch.manual_seed(0)
    d = Discriminator(32, n_classes=2, n_cond=1, base_channels=4, max_channels=16).eval()
    x = torch.randn(2, 1, 32, 32)
    a = d(x, torch.tensor([0, 0]), torch.zeros(2, 1))
    assert not torch.allclose(a, d(x, torch.tensor([1, 1]), torch.zeros(2, 1)))
    assert not torch.allclose(a, d(x, torch.tensor([0, 0]), torch.ones(2, 1)))



def test_discriminator_aux_heads_and_pool_first_skip() -> None:
    from torch.nn import functional as F

    torch.manual_seed(0)
    d = Discriminator(32, n_classes=3, n_cond=2, base_channels=4, max_channels=16).eval()
    x, y, c = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 0]), torch.randn(4, 2)
    out, cls, reg = d(x, y, c, aux=True)
    assert torch.equal(out, d(x, y, c)) and cls.shape == (4, 3) and reg.shape == (4, 2)
    # class mode with one class: no heads to train
    _, cls1, reg1 = Discriminator(32, 1, 0, 4, 16)(x, torch.zeros(4, dtype=torch.long), aux=True)
    assert cls1 is None and reg1 is None
    # the residual skip pools before its 1x1 conv: the same as pooling after it
    blk = d.blocks[1]
    h = torch.randn(2, 4, 16, 16)
    assert torch.allclose(blk.skip(F.avg_pool2d(h, 2)), F.avg_pool2d(blk.skip(h), 2), atol=1e-6)


def test_fast_upsample_equals_nearest_interpolation() -> None:
    from torch.nn import functional as F

    from shapekit.generate.nets import _upsample2

    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(_upsample2(x), F.interpolate(x, scale_factor=2, mode="nearest"))


def test_bilinear_upsampling_is_default_and_smooth() -> None:
    """The default generator upsamples bilinearly: no 2x2 blocks of equal values between blocks."""
    from shapekit.generate.nets import _upsample2

    x = torch.randn(1, 2, 6, 6)
    up = _upsample2(x, "bilinear")
    assert up.shape == (1, 2, 12, 12)
    # nearest repeats each value in a 2x2 block; bilinear does not (and keeps constants constant)
    assert not torch.equal(up[..., 0::2, 0::2], up[..., 1::2, 1::2])
    assert torch.allclose(_upsample2(torch.full((1, 1, 4, 4), 0.3), "bilinear"),
                          torch.full((1, 1, 8, 8), 0.3))
    g = Generator(16, 2, 0, z_dim=8, base_channels=4, max_channels=8)
    assert all(b.upsample == "bilinear" for b in g.blocks)
    with pytest.raises(ValueError, match="upsample must be one of"):
        Generator(16, 2, 0, z_dim=8, base_channels=4, max_channels=8, upsample="cubic")


def test_generator_exported_before_upsample_option_loads_as_nearest(tmp_path: Path) -> None:
    """A generator.json without ``upsample`` (written before the option) samples as trained."""
    from shapekit.generate.export import export_generator, load_generator

    torch.manual_seed(0)
    net = dict(image_size=16, n_classes=2, n_cond=0, z_dim=8, base_channels=4, max_channels=8)
    old = Generator(**net, upsample="nearest").eval()
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)))
    export_generator(old, codec, tmp_path, net=net)  # no "upsample" key: the old format
    assert "upsample" not in json.loads((tmp_path / "generator.json").read_text())["net"]
    loaded = load_generator(tmp_path, device="cpu")
    assert all(b.upsample == "nearest" for b in loaded.generator.blocks)
    z, lab = torch.randn(2, 8), torch.tensor([0, 1])
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(1)
        want = old(z, lab)
        torch.manual_seed(1)
        got = loaded.generator(z, lab)
    assert torch.equal(want, got)


def test_mode_seeking_pairs_share_conditions() -> None:
    from shapekit.generate.module import ConditionalGAN

    m = ConditionalGAN(image_size=16, n_classes=3, n_cond=1, z_dim=8, g_channels=4,
                       d_channels=4, max_channels=8, ms_weight=1.0)
    label, cond = torch.tensor([0, 1, 2, 1, 0]), torch.arange(5.0)[:, None]
    fl, fc, half = m._fake_conditions(label, cond)
    assert half == 2 and len(fl) == 5
    assert torch.equal(fl[:half], fl[-half:]) and torch.equal(fc[:half], fc[-half:])
    assert torch.equal(fl[:3], label[:3])  # the first images keep the batch's conditions
    m0 = ConditionalGAN(image_size=16, n_classes=3, n_cond=1, z_dim=8, g_channels=4,
                        d_channels=4, max_channels=8, ms_weight=0.0)
    assert m0._fake_conditions(label, cond)[2] == 0


# ---------------------------------------------------------------- DiffAugment
def test_diffaug_translation_shifts_content() -> None:
    x = torch.zeros(1, 1, 16, 16)
    x[0, 0, 8, 8] = 1.0
    g = torch.Generator().manual_seed(3)
    y = diff_augment(x, "translation", generator=g, translation=0.25)
    (r, c), = torch.nonzero(y[0, 0] == 1.0).tolist()
    assert abs(r - 8) <= 4 and abs(c - 8) <= 4
    assert float(y.sum()) == 1.0  # a pure shift keeps the single bright pixel


def test_diffaug_cutout_and_identity() -> None:
    x = torch.ones(4, 1, 16, 16, requires_grad=True)
    y = diff_augment(x, "cutout", generator=torch.Generator().manual_seed(0), cutout=0.5)
    zero = (y == 0).float().mean(dim=(1, 2, 3))
    assert bool((zero > 0).all()) and bool((zero <= 0.5 ** 2 * 1.3).all())
    y.sum().backward()
    assert x.grad is not None
    assert torch.equal(diff_augment(x, ""), x)
    with pytest.raises(ValueError, match="hue"):
        diff_augment(x, "hue")


def test_diffaug_brightness_is_a_constant_shift_per_image() -> None:
    x = torch.rand(3, 1, 8, 8)
    y = diff_augment(x, "brightness", generator=torch.Generator().manual_seed(0))
    d = (y - x).flatten(1)
    assert torch.allclose(d, d[:, :1].expand_as(d), atol=1e-6)


# ---------------------------------------------------------------- data
def test_codec_roundtrip_and_labels() -> None:
    c = ConditionCodec.fit(["a", "b"], ["T", "t"], np.array([[100.0, 1], [200, 3]]), "parameters")
    assert np.allclose(c.encode(np.array([[150.0, 2.0]])), 0)
    assert c.ranges == {"T": (100.0, 200.0), "t": (1.0, 3.0)}
    c2 = ConditionCodec.from_dict(json.loads(json.dumps(c.to_dict())))
    assert np.allclose(c2.encode(np.array([[200.0, 3.0]])), 1)
    assert c2.label_index("b") == 1
    with pytest.raises(InputError, match="unknown label 'z'"):
        c2.label_index("z")
    lg = ConditionCodec.fit(["a"], ["t"], np.array([[0.1], [1.0], [10.0], [100.0]]))
    assert lg.log.tolist() == [True]
    assert np.allclose(lg.encode(np.array([[0.1], [100.0]])).ravel(), [-1.3416408, 1.3416408])
    assert lg.default_values()["t"] == pytest.approx(10 ** 0.5)
    with pytest.raises(InputError, match="row 1"):
        ConditionCodec.fit(["a"], ["T"], np.array([[1.0], [np.nan]]))
    # a linear condition with a large mean beside a log-scaled one: no overflow warning, right centre
    mixed = ConditionCodec.fit(["a"], ["T", "t"], np.array([[900.0, 5.0], [1100.0, 500.0]]))
    assert mixed.log.tolist() == [False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centre = mixed.default_values()
    assert centre == pytest.approx({"T": 1000.0, "t": 50.0})


def test_rescale_and_tiles_at_common_scale() -> None:
    assert rescale_to(np.zeros((40, 60), np.float32), 0.2, 0.1).shape == (80, 120)
    imgs = [np.full((40, 40), 0.25, np.float32), np.full((80, 80), 0.75, np.float32)]
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)))
    dm = GANDataModule(imgs, np.array([0, 1]), np.zeros((2, 0)), codec, um_per_px=[0.2, 0.1],
                       image_size=32, batch_size=2, steps=2)
    assert dm.target_um_per_px == pytest.approx(0.15)
    assert [im.shape for im in dm.images] == [(53, 53), (53, 53)]
    with pytest.raises(InputError, match="smaller than the 64px tile"):
        GANDataModule(imgs, np.array([0, 1]), np.zeros((2, 0)), codec, image_size=64)


def test_tile_dataset_deterministic_and_augmented_within_range() -> None:
    img = np.linspace(0, 1, 40 * 40, dtype=np.float32).reshape(40, 40)
    ds = TileDataset([img], np.array([1]), np.array([[0.5]]), 16, 10, seed=4)
    x1, y1, c1 = ds[3]
    x2, _, _ = ds[3]
    assert torch.equal(x1, x2) and int(y1) == 1 and c1.tolist() == [0.5]
    assert x1.shape == (1, 16, 16) and float(x1.min()) >= -1 and float(x1.max()) <= 1
    assert not torch.equal(ds[4][0], x1)


# ---------------------------------------------------------------- training + export
def _has_realism() -> bool:
    try:
        from shapekit.realism import TopologicalRealism  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from shapekit.generate.train import train_gan

    d = tmp_path_factory.mktemp("gan")
    manifest = make_tiny_dataset(d / "data")
    torch.set_num_threads(1)
    summary = train_gan(manifest, d / "run", condition="parameters", image_size=32, max_steps=4,
                        batch_size=4, seed=0, checkpoint_every=2, sample_every=4, log_every=1,
                        **TINY)
    return d, summary


def test_training_writes_run_directory(tiny_run: tuple[Path, dict]) -> None:
    d, summary = tiny_run
    run = d / "run"
    assert summary["iterations"] == 4
    for f in ("generator.safetensors", "generator.json", "config.json", "conditions.json",
              "checkpoints/last.ckpt", "checkpoints/iter-0000002.ckpt", "samples/step_0000004.png"):
        assert (run / f).is_file(), f
    metrics = list(csv.DictReader(open(next((run / "logs").rglob("metrics.csv")))))
    assert {"loss_d", "loss_g", "r1", "aux_d", "aux_g", "mode_seeking"} <= set(metrics[0])
    aux = [float(m["aux_d"]) for m in metrics if m["aux_d"]]
    assert len(aux) == 4 and all(np.isfinite(aux)) and min(aux) > 0  # CE + MSE on real tiles
    assert all(float(m["mode_seeking"]) > 0 for m in metrics if m["mode_seeking"])
    assert len([m for m in metrics if m["loss_g"]]) == 4
    realism = [float(m["realism"]) for m in metrics if m.get("realism")]
    if _has_realism():
        assert len(realism) == 1 and realism[0] >= 0
    cond = json.loads((run / "conditions.json").read_text())
    assert cond["names"] == ["T"] and cond["min"] == [100.0] and cond["max"] == [200.0]
    assert cond["label_names"] == ["a", "b"]
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ck["global_step"] == 8  # Lightning counts the D and the G step
    assert [int(s["state"][0]["step"]) for s in ck["optimizer_states"]] == [4, 4]


def test_export_matches_ema_weights_and_sampling_is_deterministic(tiny_run) -> None:
    from safetensors.torch import load_file

    from shapekit.generate.export import load_generator

    d, _ = tiny_run
    run = d / "run"
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    exported = load_file(str(run / "generator.safetensors"))
    ema = {k[len("g_ema."):]: v for k, v in ck["state_dict"].items() if k.startswith("g_ema.")}
    assert set(ema) == set(exported)
    assert all(torch.equal(ema[k], exported[k]) for k in ema)

    gen = load_generator(run, device="cpu")
    assert gen.label_names == ["a", "b"] and gen.condition_names == ["T"]
    assert gen.ranges == {"T": (100.0, 200.0)}
    a = gen.sample(3, label="a", conditions={"T": 120}, seed=5)
    assert a.shape == (3, 32, 32) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, gen.sample(3, label="a", conditions={"T": 120}, seed=5))
    assert not np.array_equal(a, gen.sample(3, label="a", conditions={"T": 120}, seed=6))
    assert not np.array_equal(a, gen.sample(3, label="a", conditions={"T": 200}, seed=5))
    assert not np.array_equal(a, gen.sample(3, label="b", conditions={"T": 120}, seed=5))
    with pytest.raises(InputError, match="unknown condition 'X'"):
        gen.sample(1, conditions={"X": 1.0})
    with pytest.warns(UserWarning, match=r"training range \[100, 200\]"):
        gen.sample(1, conditions={"T": 900.0})


def test_sample_from_a_training_checkpoint(tiny_run, run_cli, tmp_path: Path) -> None:
    """``checkpoint=`` samples the EMA generator of a chosen checkpoint; ``last`` = the export."""
    from shapekit.generate.export import load_generator

    run = tiny_run[0] / "run"
    final = load_generator(run, device="cpu")
    last = load_generator(run, device="cpu", checkpoint="last")
    early = load_generator(run, device="cpu", checkpoint="iter-0000002")
    path = load_generator(run, device="cpu", checkpoint=run / "checkpoints" / "iter-0000002.ckpt")
    kw = dict(n=3, label="a", conditions={"T": 150}, seed=2)
    assert np.array_equal(final.sample(**kw), last.sample(**kw))
    assert early.config["iterations"] == 2 and last.config["iterations"] == 4
    assert not np.array_equal(final.sample(**kw), early.sample(**kw))
    assert np.array_equal(early.sample(**kw), path.sample(**kw))
    with pytest.raises(ModelFormatError, match="available: iter-0000002"):
        load_generator(run, checkpoint="iter-9")

    code, _, err = run_cli("generate", run, "--n", "2", "--out", tmp_path / "c",
                           "--checkpoint", "iter-0000002")
    assert code == 0, err
    assert len(list((tmp_path / "c").glob("gen_*.png"))) == 2
    code, _, err = run_cli("generate", run, "--n", "1", "--out", tmp_path / "e",
                           "--checkpoint", "nope")
    assert code == 2 and "checkpoint nope not found" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e").exists()


def test_load_generator_errors(tmp_path: Path) -> None:
    from shapekit.generate.export import load_generator

    with pytest.raises(ModelFormatError, match="not found"):
        load_generator(tmp_path / "missing")
    with pytest.raises(ModelFormatError, match="no exported generator"):
        load_generator(tmp_path)


def test_missing_condition_columns_is_input_error(tmp_path: Path) -> None:
    from shapekit.generate.train import train_gan
    from shapekit.io import write_manifest

    manifest = make_tiny_dataset(tmp_path / "d", n=2)
    write_manifest(manifest, {"name": "tiny", "root": ".", "table": "labels.csv", "image": "file",
                              "label": "temper"})
    with pytest.raises(InputError, match="needs `properties` columns"):
        train_gan(manifest, tmp_path / "run", condition="properties", image_size=32, max_steps=1)


# ---------------------------------------------------------------- CLI
def test_cli_generate_sweep_and_errors(tiny_run, run_cli, tmp_path: Path) -> None:
    d, _ = tiny_run
    run = d / "run"
    code, out, err = run_cli("generate", run, "--n", "2", "--out", tmp_path / "g", "--label", "b",
                             "--sweep", "T=100:200:3", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["n_images"] == 6
    rows = list(csv.DictReader(open(tmp_path / "g" / "conditions.csv")))
    assert [float(r["T"]) for r in rows] == [100.0, 100.0, 150.0, 150.0, 200.0, 200.0]
    assert {r["label"] for r in rows} == {"b"}
    assert (tmp_path / "g" / "sweep_grid.png").stat().st_size > 0
    assert len(list((tmp_path / "g").glob("gen_*.png"))) == 6

    code, _, err = run_cli("generate", run, "--n", "1", "--out", tmp_path / "t", "--set", "T=500",
                           "--format", "tif")
    assert code == 0 and "training range [100, 200]" in err
    assert (tmp_path / "t" / "gen_00000.tif").is_file()

    for args, msg in [(["--label", "zz"], "unknown label 'zz'"),
                      (["--set", "Q=1"], "unknown condition 'Q'"),
                      (["--set", "T"], "NAME=VALUE"),
                      (["--sweep", "Q=0:1:3"], "unknown sweep condition 'Q'")]:
        code, _, err = run_cli("generate", run, "--n", "1", "--out", tmp_path / "e", *args)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_cli("generate", tmp_path / "nope", "--n", "1", "--out", tmp_path / "e")
    assert code == 2 and "run directory not found" in err


def test_cli_train_gan_errors(run_cli, tmp_path: Path) -> None:
    manifest = make_tiny_dataset(tmp_path / "d", n=2)
    code, _, err = run_cli("train-gan", tmp_path / "missing.yaml", "--out", tmp_path / "r")
    assert code == 2 and "manifest not found" in err
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--image-size", "48")
    assert code == 2 and "power of two" in err
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--resume")
    assert code == 2 and "cannot resume" in err


def test_training_is_deterministic_per_seed(tiny_run, tmp_path: Path) -> None:
    """A second run with the same seed reproduces the first generator exactly."""
    from shapekit.generate import load_generator
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    train_gan(d / "data" / "m.yaml", tmp_path / "again", condition="parameters", image_size=32,
              max_steps=4, batch_size=4, seed=0, checkpoint_every=2, sample_every=4, log_every=1,
              **TINY)
    first = load_generator(d / "run").sample(3, seed=5)
    again = load_generator(tmp_path / "again").sample(3, seed=5)
    assert np.array_equal(first, again)


def test_resume_run_saved_before_aux_heads(tmp_path: Path) -> None:
    """A run whose config predates aux_weight/ms_weight/upsample resumes as it was trained."""
    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "data")
    torch.set_num_threads(1)
    run = tmp_path / "run"
    train_gan(manifest, run, condition="parameters", image_size=32, max_steps=2, batch_size=4,
              checkpoint_every=2, sample_every=0, aux_weight=0.0, ms_weight=0.0,
              upsample="nearest", **TINY)
    cfg = json.loads((run / "config.json").read_text())
    del cfg["model"]["aux_weight"], cfg["model"]["ms_weight"], cfg["model"]["upsample"]
    (run / "config.json").write_text(json.dumps(cfg))
    out = train_gan(manifest, run, resume=True, max_steps=3)
    assert out["iterations"] == 3
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert not any(".aux_" in k for k in ck["state_dict"])
    # and with the nearest-neighbour upsampling it was trained with
    assert ck["hyper_parameters"]["upsample"] == "nearest"
    assert json.loads((run / "generator.json").read_text())["net"]["upsample"] == "nearest"
