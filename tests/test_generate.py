"""shapekit.generate: networks (size independence, seams, frames), DiffAugment, data, export and
sampling at any size, a short training (progress, quiet Lightning), CLI and its errors."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shapekit.errors import InputError, ModelFormatError  # noqa: E402
from shapekit.generate.checks import border_profile_ratio, lattice_peak_ratio  # noqa: E402
from shapekit.generate.codec import ConditionCodec  # noqa: E402
from shapekit.generate.data import (CropDataset, GANDataModule, holdout_split,  # noqa: E402
                                    to_common_scale)
from shapekit.generate.diffaug import diff_augment  # noqa: E402
from shapekit.generate.discriminator import Discriminator  # noqa: E402
from shapekit.generate.nets import Generator, cells_for, generate_field  # noqa: E402

TINY = dict(z_local=2, z_global=8, w_dim=8, g_channels=4, d_channels=4)
TINY_NET = dict(z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8, 4])


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


def _noisy(g: Generator, strength: float = 0.1) -> Generator:
    """Switch on the per-pixel noise of an untrained generator (it starts at zero)."""
    with torch.no_grad():
        for m in g.modules():
            if hasattr(m, "noise") and isinstance(m.noise, torch.nn.Parameter):
                m.noise.fill_(strength)
    return g.eval()


# ---------------------------------------------------------------- networks
@pytest.mark.parametrize("hw", [(32, 32), (40, 24), (64, 96)])
def test_generator_any_size_and_patch_discriminator(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    g = Generator(3, n_cond=2, **TINY_NET).eval()
    d = Discriminator(3, n_cond=2, channels=[4, 8, 8])
    zl, zg = g.latents(5, cells_for(hw, g.period))
    with torch.no_grad():
        x = generate_field(g, zl, zg, torch.tensor([0, 1, 2, 0, 1]), torch.randn(5, 2), hw)
    assert x.shape == (5, 1, *hw) and float(x.abs().max()) <= 1.0
    logits = d(x, torch.zeros(5, dtype=torch.long), torch.randn(5, 2))
    assert logits.shape == (5, hw[0] // 8, hw[1] // 8)  # one logit per patch


def test_generator_is_translation_equivariant_so_size_does_not_matter() -> None:
    """A sub-map of the latent map gives the same pixels as the full map, away from the edges
    (no global operation: what one latent cell draws does not depend on the image size)."""
    torch.manual_seed(0)
    g = Generator(2, 0, **TINY_NET).eval()  # noise off (its strengths start at 0)
    zl, zg = g.latents(1, (22, 24))
    lab = torch.tensor([1])
    with torch.no_grad():
        big = g(zl, zg, lab)
        small = g(zl[:, :, 4:20, 5:21], zg, lab)
    p = g.period
    assert small.shape[-2:] == (16 * p, 16 * p)
    # receptive field: 3 cells (24 px) on the latent grid, then 3 px at each of the three
    # resolutions (12 + 6 + 3 px): 45 px
    m = 6 * p
    want = big[:, :, 4 * p + m:20 * p - m, 5 * p + m:21 * p - m]
    got = small[:, :, m:16 * p - m, m:16 * p - m]
    assert want.shape[-1] == 4 * p and torch.allclose(want, got, atol=1e-5)
    # and nearer the edge the padding does matter: the equality is not trivial
    assert not torch.allclose(big[:, :, 4 * p:5 * p, 5 * p:21 * p], small[:, :, :p], atol=1e-3)


def test_no_lattice_peaks_and_no_frame_in_large_images() -> None:
    """Whole images of an untrained generator carry no periodic pattern at the latent period
    and no frame at the border (the checks are shown to fire on a planted grid and frame)."""
    for seed in range(2):
        torch.manual_seed(seed)
        g = _noisy(Generator(2, 0, **TINY_NET))
        zl, zg = g.latents(6, cells_for((192, 192), g.period), torch.Generator().manual_seed(seed))
        with torch.no_grad():
            x = ((generate_field(g, zl, zg, torch.zeros(6, dtype=torch.long), None, (192, 192))
                  + 1) / 2)[:, 0].numpy()
        assert lattice_peak_ratio(x, g.period) < 1.5
        assert border_profile_ratio(x) < 0.5
        planted = x + 2 * x.std() * (np.arange(192) % g.period == 0)[None, None, :]
        assert lattice_peak_ratio(planted, g.period) > 4
        framed = x.copy()
        framed[:, :, :3] += 2 * x.std()
        assert border_profile_ratio(framed) > 1


def test_conditioning_changes_generator_output() -> None:
    torch.manual_seed(0)
    g = Generator(2, n_cond=1, **TINY_NET).eval()
    zl, zg = g.latents(2, (4, 4))

    def run(label: int, c: float) -> torch.Tensor:
        return g(zl, zg, torch.full((2,), label), torch.full((2, 1), c))

    base = run(0, 0.0)
    assert torch.equal(base, run(0, 0.0))
    assert (base - run(1, 0.0)).abs().mean() > 1e-4
    assert (base - run(0, 2.0)).abs().mean() > 1e-4


def test_discriminator_projection_aux_heads_and_pool_first_skip() -> None:
    from torch.nn import functional as F

    torch.manual_seed(0)
    d = Discriminator(3, n_cond=2, channels=[4, 8]).eval()
    x, y, c = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 0]), torch.randn(4, 2)
    out, cls, reg = d(x, y, c, aux=True)
    assert torch.equal(out, d(x, y, c)) and cls.shape == (4, 3) and reg.shape == (4, 2)
    assert not torch.allclose(out, d(x, torch.tensor([1, 2, 0, 1]), c))
    assert not torch.allclose(out, d(x, y, c + 1))
    _, cls1, reg1 = Discriminator(1, 0, [4, 8])(x, torch.zeros(4, dtype=torch.long), aux=True)
    assert cls1 is None and reg1 is None
    blk = d.blocks[1]
    h = torch.randn(2, 4, 16, 16)
    assert torch.allclose(blk.skip(F.avg_pool2d(h, 2)), F.avg_pool2d(blk.skip(h), 2), atol=1e-6)


def test_mode_seeking_pairs_share_conditions() -> None:
    from shapekit.generate.module import ConditionalGAN

    m = ConditionalGAN(crop_size=16, n_classes=3, n_cond=1, n_up=2, d_blocks=2, ms_weight=1.0,
                       **TINY)
    label, cond = torch.tensor([0, 1, 2, 1, 0]), torch.arange(5.0)[:, None]
    fl, fc, half, rows = m._fake_conditions(label, cond)
    assert half == 2 and len(fl) == 5
    # the real rows whose conditions each fake image was drawn with
    assert rows.tolist() == [0, 1, 2, 0, 1]
    assert torch.equal(fl, label[rows]) and torch.equal(fc, cond[rows])
    assert torch.equal(fl[:half], fl[-half:]) and torch.equal(fc[:half], fc[-half:])
    assert torch.equal(fl[:3], label[:3])
    with pytest.raises(ValueError, match="multiple of 8"):
        ConditionalGAN(crop_size=36, **TINY)


def test_bright_fraction_is_the_particle_area_at_half_maximum_and_steers_the_generator() -> None:
    from shapekit.generate.module import ConditionalGAN, bright_fraction

    # 16x16 particles (0.8) on backgrounds of three grey levels: the fraction is their area share
    # (less the corners the 1-px smoothing rounds off), whatever the background: a fixed grey
    # threshold would count a bright background too
    x = torch.empty(3, 1, 64, 64)
    want = []
    for b, (n, level) in enumerate([(1, -0.8), (2, -0.3), (4, 0.2)]):
        x[b] = level
        for k in range(n):
            r, c = divmod(k, 2)
            x[b, :, 8 + 32 * r:24 + 32 * r, 8 + 32 * c:24 + 32 * c] = 0.8
        want.append(n * 256 / 64 ** 2)
    assert torch.allclose(bright_fraction(x), torch.tensor(want), atol=0.005)
    # fainter particles on the same background stay the same size at half maximum
    assert torch.allclose(bright_fraction(0.5 * x), bright_fraction(x), atol=0.01)
    # with a window, each blurred particle counts at half its own peak: a faint and a bright
    # Gaussian particle (variance 4 px^2: 21 pixel centres lie within the half-height radius
    # sqrt(8 ln 2)) count alike
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    bumps = torch.stack([-0.6 + a * torch.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / 8)
                         + 1.4 * torch.exp(-((yy - 44) ** 2 + (xx - 44) ** 2) / 8)
                         for a in (1.4, 0.7)])[:, None]
    local = bright_fraction(bumps, softness=0.01, sigma=0, window=7) * 64 ** 2
    assert torch.allclose(local, torch.full((2,), 2.0 * 21), atol=0.5)
    with pytest.raises(ValueError, match="odd"):
        bright_fraction(bumps, window=6)
    with pytest.raises(ValueError, match="odd"):
        ConditionalGAN(crop_size=16, fraction_window=4, **TINY)
    # differentiable through a generator: the term alone moves every image's fraction to 0.45
    torch.manual_seed(0)
    g = Generator(1, 0, channels=[16, 8, 8, 4], z_local=2, z_global=8, w_dim=8).train()
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    z, label = (torch.randn(4, 2, 5, 5), torch.randn(4, 8)), torch.zeros(4, dtype=torch.long)
    with torch.no_grad():
        start = bright_fraction(g(*z, label, None))
    assert float((start - 0.45).abs().min()) > 0.2
    for _ in range(60):
        loss = (bright_fraction(g(*z, label, None)) - 0.45).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        end = bright_fraction(g(*z, label, None))
    assert float((end - 0.45).abs().max()) < 0.03


def test_two_point_profile_holds_the_particle_size_that_the_fraction_does_not() -> None:
    from shapekit.generate.module import ConditionalGAN
    from shapekit.generate.terms import bright_fraction, bright_map, two_point_profile

    # the same area fraction (1/4) as one 32x32 particle or sixteen 8x8 ones on a 64x64 field
    big = torch.full((1, 1, 64, 64), -0.6)
    big[..., 16:48, 16:48] = 0.8
    small = torch.full((1, 1, 64, 64), -0.6)
    for r in range(4):
        for c in range(4):
            small[..., 4 + 16 * r:12 + 16 * r, 4 + 16 * c:12 + 16 * c] = 0.8
    x = torch.cat([big, small])
    u = bright_map(x, sigma=0)
    assert torch.allclose(u.flatten(1).mean(1), bright_fraction(x, sigma=0))
    s2 = two_point_profile(u, 16)
    # lag 0 is the fraction of both; along a row, a particle of side a contributes a (a - d)
    # pairs per row it spans, over 64 (64 - d) pairs: big 32 (32 - d), small 16 * 8 (8 - d),
    # and at lag 8 the small particles' pairs all fall into the 8-px gaps between them; beyond,
    # pairs reach the next particle along (3 gaps per particle row, 4 rows of particles x 8 px)
    d = torch.arange(17.0)
    want_big = 32 * (32 - d) / (64 * (64 - d))
    want_small = 16 * 8 * (8 - d).clamp_min(0) / (64 * (64 - d))
    want_small[9:] = 4 * 8 * 3 * (d[9:] - 8) / (64 * (64 - d[9:]))
    assert torch.allclose(s2[0], want_big, atol=1e-3)
    assert torch.allclose(s2[1], want_small, atol=1e-3)
    assert float(s2[0, 0]) == pytest.approx(float(s2[1, 0]), abs=1e-3)
    with pytest.raises(ValueError, match="max_lag"):
        two_point_profile(u, 64)
    with pytest.raises(ValueError, match="two_point_lag"):
        ConditionalGAN(crop_size=16, two_point_weight=1.0, two_point_lag=16, **TINY)


# ---------------------------------------------------------------- DiffAugment
def test_diffaug_cutout_brightness_and_identity() -> None:
    x = torch.ones(4, 1, 16, 16, requires_grad=True)
    y = diff_augment(x, "cutout", generator=torch.Generator().manual_seed(0), cutout=0.5)
    zero = (y == 0).float().mean(dim=(1, 2, 3))
    assert bool((zero > 0).all()) and bool((zero <= 0.5 ** 2 * 1.3).all())
    y.sum().backward()
    assert x.grad is not None
    assert torch.equal(diff_augment(x, ""), x)
    with pytest.raises(ValueError, match="hue"):
        diff_augment(x, "hue")
    r = torch.rand(3, 1, 8, 8)
    dlt = (diff_augment(r, "brightness", generator=torch.Generator().manual_seed(0)) - r).flatten(1)
    assert torch.allclose(dlt, dlt[:, :1].expand_as(dlt), atol=1e-6)


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
    mixed = ConditionCodec.fit(["a"], ["T", "t"], np.array([[900.0, 5.0], [1100.0, 500.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centre = mixed.default_values()
    assert centre == pytest.approx({"T": 1000.0, "t": 50.0})


def test_common_scale_through_io_resample() -> None:
    imgs = [np.full((40, 40), 0.25, np.float32), np.full((80, 80), 0.75, np.float32)]
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)))
    dm = GANDataModule(imgs, np.array([0, 1]), np.zeros((2, 0)), codec, um_per_px=[0.2, 0.1],
                       crop_size=32, batch_size=2, steps=2)
    assert dm.target_um_per_px == pytest.approx(0.15)
    assert [im.shape for im in dm.images] == [(53, 53), (53, 53)]
    # no pixel size known: shrink by `downscale` in pixels; the scale stays unknown
    out, ump = to_common_scale(imgs, None, downscale=2)
    assert ump is None and [o.shape for o in out] == [(20, 20), (40, 40)]
    with pytest.raises(InputError, match="smaller than the 64px crop"):
        GANDataModule(imgs, np.array([0, 1]), np.zeros((2, 0)), codec, crop_size=64)
    with pytest.raises(InputError, match="pixel size unknown while other images have one"):
        to_common_scale(imgs, [0.1, float("nan")])
    for bad in ([0.1, -1.0], [1e-9, 1.0]):  # nonpositive, absurd factor: refused by io.resample
        with pytest.raises(InputError):
            to_common_scale(imgs, [0.1, 0.1], target_um_per_px=bad[1] if bad[1] < 0 else bad[0])
    with pytest.raises(InputError, match="downscale must be a positive number"):
        to_common_scale(imgs, None, downscale=0)


def test_resample_refuses_absurd_factor_and_pixel_budget() -> None:
    from shapekit.io import resample

    with pytest.raises(InputError, match="100000x100000 = 10000000000 pixels, over the limit"):
        resample(np.zeros((100, 100), np.float32), 1.0, 1e-3)   # nm typed as um
    with pytest.raises(InputError, match="over the limit of 1000000 pixels"):
        resample(np.zeros((100, 100), np.float32), 1.0, 1 / 11, max_pixels=10**6)
    assert resample(np.zeros((100, 100), np.float32), 1.0, 0.1, max_pixels=10**6).shape == (1000, 1000)
    with pytest.raises(InputError, match="positive"):
        resample(np.zeros((10, 10), np.float32), 0.0, 1.0)


def test_holdout_split_is_stratified_and_seeded() -> None:
    labels = np.repeat([0, 1, 2], 10)
    tr, te = holdout_split(labels, 0.2, seed=3)
    assert len(te) == 6 and np.bincount(labels[te]).tolist() == [2, 2, 2]
    assert set(tr) | set(te) == set(range(30)) and not set(tr) & set(te)
    assert np.array_equal(te, holdout_split(labels, 0.2, seed=3)[1])
    assert not np.array_equal(te, holdout_split(labels, 0.2, seed=4)[1])
    assert len(holdout_split(labels, 0.0)[1]) == 0
    with pytest.raises(InputError, match="holdout"):
        holdout_split(labels, 1.0)


def test_crop_dataset_deterministic_and_augmented_within_range() -> None:
    img = np.linspace(0, 1, 40 * 40, dtype=np.float32).reshape(40, 40)
    ds = CropDataset([img], np.array([1]), np.array([[0.5]]), 16, 10, seed=4)
    x1, y1, c1 = ds[3]
    assert torch.equal(x1, ds[3][0]) and int(y1) == 1 and c1.tolist() == [0.5]
    assert x1.shape == (1, 16, 16) and float(x1.min()) >= -1 and float(x1.max()) <= 1
    assert not torch.equal(ds[4][0], x1)


# ---------------------------------------------------------------- training + export
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from shapekit.generate.train import train_gan

    d = tmp_path_factory.mktemp("gan")
    manifest = make_tiny_dataset(d / "data")
    torch.set_num_threads(1)
    seen: list[tuple[int, int]] = []

    def metric(real: np.ndarray, fake: np.ndarray) -> float:
        seen.append((len(real), len(fake)))
        return float(abs(real.mean() - fake.mean()))

    summary = train_gan(manifest, d / "run", condition="parameters", crop_size=32, max_steps=4,
                        batch_size=4, seed=0, checkpoint_every=2, sample_every=4, log_every=1,
                        metric=metric, n_up=2, d_blocks=2, **TINY)
    summary["metric_calls"] = seen
    return d, summary


def test_training_writes_run_directory(tiny_run: tuple[Path, dict]) -> None:
    d, summary = tiny_run
    run = d / "run"
    assert summary["iterations"] == 4
    for f in ("generator.safetensors", "generator.json", "config.json", "conditions.json",
              "checkpoints/last.ckpt", "checkpoints/iter-0000002.ckpt",
              "samples/step_0000001.png", "samples/step_0000004.png"):
        assert (run / f).is_file(), f
    metrics = list(csv.DictReader(open(next((run / "logs").rglob("metrics.csv")))))
    assert {"loss_d", "loss_g", "r1", "aux_d", "aux_g", "mode_seeking"} <= set(metrics[0])
    assert len([m for m in metrics if m["loss_g"]]) == 4
    # the metric passed in is called at each sample grid (iterations 1 and 4) and logged
    # on as many real crops as samples: the grid's, 16 split evenly over the labels (rounded up)
    n_labels = len(json.loads((run / "generator.json").read_text())["conditions"]["label_names"])
    per = -(-16 // n_labels)
    assert summary["metric_calls"] == [(per * n_labels,) * 2] * 2
    assert len([m for m in metrics if m.get("realism")]) == 2
    cfg = json.loads((run / "generator.json").read_text())
    assert cfg["format_version"] == 2 and cfg["um_per_px"] == pytest.approx(0.1)
    assert cfg["crop_size"] == 32 and cfg["default_size"] == 128
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ck["global_step"] == 8  # Lightning counts the D and the G step
    assert [int(s["state"][0]["step"]) for s in ck["optimizer_states"]] == [4, 4]


def test_train_module_does_not_import_realism() -> None:
    import ast

    import shapekit.generate.train as tr

    tree = ast.parse(Path(tr.__file__).read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and m.startswith("shapekit.realism") for m in mods)


def test_export_and_sampling_at_any_size_deterministic(tiny_run) -> None:
    from safetensors.torch import load_file

    from shapekit.generate.export import load_generator

    run = tiny_run[0] / "run"
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    exported = load_file(str(run / "generator.safetensors"))
    ema = {k[len("g_ema."):]: v for k, v in ck["state_dict"].items() if k.startswith("g_ema.")}
    assert set(ema) == set(exported) and all(torch.equal(ema[k], exported[k]) for k in ema)

    gen = load_generator(run, device="cpu")
    assert gen.label_names == ["a", "b"] and gen.condition_names == ["T"]
    a = gen.sample(3, label="a", conditions={"T": 120}, seed=5)
    assert a.shape == (3, 128, 128) and a.dtype == np.float32 and 0 <= a.min() <= a.max() <= 1
    assert gen.sample(2, label="a", seed=1, size="96x40").shape == (2, 40, 96)
    assert gen.sample(1, label="a", seed=1, size=(50, 70)).shape == (1, 50, 70)
    assert np.array_equal(a, gen.sample(3, label="a", conditions={"T": 120}, seed=5))
    assert not np.array_equal(a, gen.sample(3, label="a", conditions={"T": 120}, seed=6))
    assert not np.array_equal(a, gen.sample(3, label="a", conditions={"T": 200}, seed=5))
    assert not np.array_equal(a, gen.sample(3, label="b", conditions={"T": 120}, seed=5))
    with pytest.raises(InputError, match="unknown condition 'X'"):
        gen.sample(1, conditions={"X": 1.0})
    with pytest.warns(UserWarning, match=r"training range \[100, 200\]"):
        gen.sample(1, conditions={"T": 900.0})
    for bad, msg in [("10x", "WIDTHxHEIGHT"), ("4", "at least 8x8"), ("50000x50000", "over the limit")]:
        with pytest.raises(InputError, match=msg):
            gen.sample(1, size=bad)


def test_sample_from_a_training_checkpoint(tiny_run) -> None:
    from shapekit.generate.export import load_generator

    run = tiny_run[0] / "run"
    final = load_generator(run, device="cpu")
    last = load_generator(run, device="cpu", checkpoint="last")
    early = load_generator(run, device="cpu", checkpoint="iter-0000002")
    kw = dict(n=2, label="a", conditions={"T": 150}, seed=2, size=48)
    assert np.array_equal(final.sample(**kw), last.sample(**kw))
    assert early.config["iterations"] == 2 and last.config["iterations"] == 4
    assert not np.array_equal(final.sample(**kw), early.sample(**kw))
    with pytest.raises(ModelFormatError, match="available: iter-0000002"):
        load_generator(run, checkpoint="iter-9")


def test_format_1_export_and_run_give_a_version_error(tiny_run, tmp_path: Path) -> None:
    import shutil

    from shapekit.generate.export import load_generator
    from shapekit.generate.train import train_gan

    old = tmp_path / "old"
    shutil.copytree(tiny_run[0] / "run", old)
    cfg = json.loads((old / "generator.json").read_text())
    (old / "generator.json").write_text(json.dumps({**cfg, "format_version": 1}))
    with pytest.raises(ModelFormatError, match="64-px tile generator .format 1.*retrain"):
        load_generator(old)
    run_cfg = json.loads((old / "config.json").read_text())
    del run_cfg["run_format"]
    (old / "config.json").write_text(json.dumps(run_cfg))
    with pytest.raises(InputError, match="earlier 64-px tile GAN"):
        train_gan(None, old, resume=True, max_steps=5)
    with pytest.raises(ModelFormatError, match="not found"):
        load_generator(tmp_path / "missing")
    with pytest.raises(ModelFormatError, match="no exported generator"):
        load_generator(tmp_path)


def test_resume_switches_the_fraction_term_on_and_records_it(tiny_run, tmp_path: Path) -> None:
    import shutil

    from shapekit.generate.train import train_gan

    run = tmp_path / "run"
    shutil.copytree(tiny_run[0] / "run", run)
    assert json.loads((run / "config.json").read_text())["model"]["fraction_weight"] == 0
    summary = train_gan(None, run, resume=True, max_steps=6, log_every=1, sample_every=0,
                        fraction_weight=50.0, fraction_window=7)
    assert summary["iterations"] == 6
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["fraction_weight"] == 50.0 and cfg["max_steps"] == 6
    assert cfg["model"]["fraction_window"] == 7
    rows = [m for m in csv.DictReader(open(sorted((run / "logs").rglob("metrics.csv"))[-1]))
            if m.get("fraction")]
    # logged per resumed iteration: the squared gap between fake and real phase fractions
    assert [float(m["iteration"]) for m in rows][-2:] == [5.0, 6.0]
    assert all(0 < float(m["fraction"]) < 1 for m in rows[-2:])
    # a resume that does not name the weight keeps the run's
    train_gan(None, run, resume=True, max_steps=7, sample_every=0)
    assert json.loads((run / "config.json").read_text())["model"]["fraction_weight"] == 50.0


def test_init_from_fine_tunes_a_trained_generator_after_a_discriminator_warmup(
        tiny_run, tmp_path: Path) -> None:
    import torch

    from shapekit.errors import InputError
    from shapekit.generate import load_generator
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    src = load_generator(d / "run")
    want = src.sample(2, seed=5, size=40)
    args = dict(condition="parameters", crop_size=32, batch_size=4, seed=1, sample_every=0,
                log_every=1, n_up=2, d_blocks=2, init_from=d / "run")
    # warm-up only: the discriminator trains, the generator (and its EMA) stay the source's
    train_gan(d / "data" / "m.yaml", tmp_path / "warm", max_steps=3, d_warmup=3, **args, **TINY)
    assert np.array_equal(load_generator(tmp_path / "warm").sample(2, seed=5, size=40), want)
    rows = list(csv.DictReader(open(sorted((tmp_path / "warm" / "logs").rglob("metrics.csv"))[-1])))
    assert [float(m["loss_g"]) for m in rows if m.get("loss_g")] == [0.0, 0.0, 0.0]
    assert all(float(m["loss_d"]) > 0 for m in rows if m.get("loss_d"))
    # after the warm-up the generator moves on from the source, and the export says where from
    train_gan(d / "data" / "m.yaml", tmp_path / "tuned", max_steps=3, d_warmup=1, **args, **TINY)
    tuned = load_generator(tmp_path / "tuned")
    assert not np.array_equal(tuned.sample(2, seed=5, size=40), want)
    rec = tuned.config["init_from"]
    assert rec["iterations"] == 4 and rec["model"] == str(d / "run") and len(rec["sha256"]) == 64
    assert json.loads((tmp_path / "tuned" / "config.json").read_text())["init_from"] == rec
    # fine-tuned again, the record counts the whole chain: 4 + 3 iterations
    train_gan(d / "data" / "m.yaml", tmp_path / "again", max_steps=1, d_warmup=1,
              **{**args, "init_from": tmp_path / "tuned"}, **TINY)
    assert load_generator(tmp_path / "again").config["init_from"]["iterations"] == 7
    # the margin cuts fields and holds no weight: another margin fine-tunes the same weights
    assert src.generator.margin > 1
    train_gan(d / "data" / "m.yaml", tmp_path / "narrow", max_steps=1, d_warmup=1,
              margin_cells=1, **args, **TINY)
    narrow = load_generator(tmp_path / "narrow")
    assert narrow.generator.margin == 1
    assert all(torch.equal(a, b) for a, b in zip(narrow.generator.state_dict().values(),
                                                 src.generator.state_dict().values()))
    # another network or other conditions cannot be fine-tuned from it
    with pytest.raises(InputError, match="differs from this run"):
        train_gan(d / "data" / "m.yaml", tmp_path / "x", max_steps=1,
                  **{**args, **TINY, "g_channels": 2 * TINY["g_channels"]})
    with pytest.raises(InputError, match="other conditions"):
        train_gan(d / "data" / "m.yaml", tmp_path / "y", max_steps=1,
                  **{**args, "condition": "class"}, **TINY)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_condition_tuning_without_a_discriminator_moves_only_the_condition_encoder(
        tiny_run, tmp_path: Path) -> None:
    from shapekit.errors import InputError
    from shapekit.generate import load_generator
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    src = load_generator(d / "run").generator.state_dict()
    train_gan(d / "data" / "m.yaml", tmp_path / "cal", condition="parameters", crop_size=32,
              max_steps=3, batch_size=4, seed=1, sample_every=0, log_every=1, n_up=2,
              d_blocks=2, init_from=d / "run", fraction_weight=100.0, adv_weight=0.0,
              tune="condition", ema_decay=0.0, **TINY)
    tuned = load_generator(tmp_path / "cal").generator.state_dict()
    moved = {k for k in src if not np.array_equal(src[k].numpy(), tuned[k].numpy())}
    assert moved and all(k.startswith("cond.") for k in moved), moved
    # the discriminator took no part: nothing of it was computed or logged
    rows = list(csv.DictReader(open(sorted((tmp_path / "cal" / "logs").rglob("metrics.csv"))[-1])))
    logged = [m for m in rows if m.get("loss_d")]
    assert [float(m["iteration"]) for m in logged] == [1.0, 2.0, 3.0]
    assert all(float(m["loss_d"]) == float(m["d_real"]) == 0.0 for m in logged)
    assert all(float(m["loss_g"]) > 0 for m in logged)
    with pytest.raises(InputError, match="tune must be one of all, condition, late"):
        train_gan(d / "data" / "m.yaml", tmp_path / "bad", condition="parameters", crop_size=32,
                  max_steps=1, batch_size=4, n_up=2, d_blocks=2, tune="style", **TINY)
    assert not (tmp_path / "bad").exists()


def test_resume_switches_the_count_term_on(tiny_run, tmp_path: Path) -> None:
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(d / "run", run)
    train_gan(None, run, resume=True, max_steps=7, log_every=1, sample_every=0,
              count_weight=5.0)
    assert json.loads((run / "config.json").read_text())["model"]["count_weight"] == 5.0
    logs = sorted((run / "logs").rglob("metrics.csv"))[-1]
    rows = [m for m in csv.DictReader(open(logs)) if m.get("count")]
    counts = {float(m["iteration"]): float(m["count"]) for m in rows}
    assert set(counts) >= {5.0, 6.0, 7.0}
    # the squared relative count gap of generated against real crops: the tiny generator's
    # crops are no simulator fields, so the gap is not 0
    assert all(np.isfinite(v) and v >= 0 for v in counts.values())
    assert max(counts[i] for i in (5.0, 6.0, 7.0)) > 0


def test_resume_with_late_tuning_trains_the_last_block_and_the_shape_term(
        tiny_run, tmp_path: Path) -> None:
    from shapekit.generate import load_generator
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(d / "run", run)
    src = load_generator(run).generator

    def live() -> dict[str, torch.Tensor]:   # the trained (not the averaged) generator
        ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
        return {k[len("generator."):]: v for k, v in ck["state_dict"].items()
                if k.startswith("generator.")}

    before = live()
    last = f"blocks.{len(src.blocks) - 1}."
    # a run trained with tune="all" continues with the encoder and the last block alone, at
    # another rate, with the shape term on: the generator's optimizer starts afresh
    train_gan(None, run, resume=True, max_steps=7, log_every=1, sample_every=0,
              tune="late", lr_g=1e-3, shape_weight=3.0)
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["tune"], model["lr_g"], model["shape_weight"]) == ("late", 1e-3, 3.0)
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    opt_g = state["optimizer_states"][0]
    n_late = sum(p.numel() > 0 for m in (src.cond, src.blocks[-1], src.to_img)
                 for p in m.parameters())
    assert len(opt_g["param_groups"][0]["params"]) == n_late
    assert opt_g["param_groups"][0]["lr"] == 1e-3
    assert {int(s["step"]) for s in opt_g["state"].values()} == {3}   # the 3 resumed iterations
    after = live()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith(("cond.", last, "to_img.")) for k in moved), moved
    assert any(k.startswith(last) for k in moved) and any(k.startswith("cond.") for k in moved)
    rows = [m for m in csv.DictReader(open(sorted((run / "logs").rglob("metrics.csv"))[-1]))
            if m.get("shape")]
    shapes = [float(m["shape"]) for m in rows if float(m["iteration"]) > 4]
    assert len(shapes) == 3 and all(np.isfinite(v) and v >= 0 for v in shapes)


def test_a_copied_run_resumes_and_keeps_last_ckpt_current(tiny_run, tmp_path: Path) -> None:
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    run = tmp_path / "copy"
    shutil.copytree(d / "run", run)   # moved elsewhere: the checkpoint's directory differs
    train_gan(None, run, resume=True, max_steps=6, checkpoint_every=1, sample_every=0)
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("last*.ckpt"))
    assert ckpts == ["last.ckpt"]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["global_step"] == 12   # two optimiser steps per iteration


def test_training_is_deterministic_per_seed(tiny_run, tmp_path: Path) -> None:
    from shapekit.generate import load_generator
    from shapekit.generate.train import train_gan

    d, _ = tiny_run
    train_gan(d / "data" / "m.yaml", tmp_path / "again", condition="parameters", crop_size=32,
              max_steps=4, batch_size=4, seed=0, checkpoint_every=2, sample_every=4, log_every=1,
              n_up=2, d_blocks=2, **TINY)
    first = load_generator(d / "run").sample(2, seed=5, size=40)
    assert np.array_equal(first, load_generator(tmp_path / "again").sample(2, seed=5, size=40))


def test_missing_condition_columns_is_input_error(tmp_path: Path) -> None:
    from shapekit.generate.train import train_gan
    from shapekit.io import write_manifest

    manifest = make_tiny_dataset(tmp_path / "d", n=2)
    write_manifest(manifest, {"name": "tiny", "root": ".", "table": "labels.csv", "image": "file",
                              "label": "temper"})
    with pytest.raises(InputError, match="needs `properties` columns"):
        train_gan(manifest, tmp_path / "run", condition="properties", crop_size=32, max_steps=1)


# ---------------------------------------------------------------- CLI
def test_cli_train_progress_lines_and_no_library_noise(run_cli, tmp_path: Path,
                                                       monkeypatch) -> None:
    monkeypatch.setenv("SHAPEKIT_PROGRESS", "")  # not a terminal: timed lines, not a bar
    monkeypatch.delenv("SHAPEKIT_PROGRESS")
    manifest = make_tiny_dataset(tmp_path / "d", n=4)
    code, out, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--crop-size", "32",
                             "--max-steps", "3", "--batch-size", "2", "--channels", "4",
                             "--progress-every", "0", "--sample-every", "0", "--json")
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith("training ")]
    assert [ln.split()[1] for ln in lines[-3:]] == ["1/3", "2/3", "3/3"]
    assert "it/s ETA" in lines[-1] and "loss_d" in lines[-1]
    for noise in ("max_steps=", "litlogger", "GPU available", "LeafSpec", "Trainer.fit"):
        assert noise not in err, noise
    assert json.loads(out)["iterations"] == 3


def test_cli_generate_tiff_scale_sweep_and_errors(tiny_run, run_cli, tmp_path: Path) -> None:
    from shapekit.io import read_image

    run = tiny_run[0] / "run"
    code, out, err = run_cli("generate", run, "--n", "2", "--out", tmp_path / "g", "--label", "b",
                             "--sweep", "T=100:200:3", "--size", "64x48", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["n_images"] == 6 and payload["um_per_px"] == pytest.approx(0.1)
    rows = list(csv.DictReader(open(tmp_path / "g" / "conditions.csv")))
    assert [float(r["T"]) for r in rows] == [100.0, 100.0, 150.0, 150.0, 200.0, 200.0]
    assert {r["label"] for r in rows} == {"b"}
    assert (tmp_path / "g" / "preview" / "sweep_grid.png").stat().st_size > 0
    img, meta = read_image(tmp_path / "g" / "gen_00000.tif")
    assert img.shape == (48, 64) and meta.um_per_px == pytest.approx(0.1)
    # `shapekit score` reads the folder at the generated images' own scale
    from shapekit.realism import load_image_set

    ims, um, _ = load_image_set(tmp_path / "g")
    assert len(ims) == 6 and np.allclose(um, 0.1)

    code, _, err = run_cli("generate", run, "--n", "1", "--out", tmp_path / "t", "--set", "T=500",
                           "--format", "png")
    assert code == 0 and "training range [100, 200]" in err
    assert (tmp_path / "t" / "gen_00000.png").is_file()

    for args, msg in [(["--label", "zz"], "unknown label 'zz'"),
                      (["--set", "Q=1"], "unknown condition 'Q'"),
                      (["--set", "T"], "NAME=VALUE"),
                      (["--size", "axb"], "WIDTHxHEIGHT"),
                      (["--sweep", "Q=0:1:3"], "unknown sweep condition 'Q'")]:
        code, _, err = run_cli("generate", run, "--n", "1", "--out", tmp_path / "e", *args)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "e").exists()



def test_cli_generate_failure_leaves_nothing_half_written(run_cli, tmp_path: Path, monkeypatch) -> None:
    """A sweep whose last value is refused (a log-scaled condition at 0) writes no image, and a
    write that fails midway removes the images already written (session 24: two files were left)."""
    from shapekit.generate.export import export_generator

    torch.manual_seed(0)
    gen = Generator(2, 1, **TINY_NET)
    codec = ConditionCodec.fit(["a", "b"], ["t_h"], np.array([[0.5], [50.0], [5.0]]),
                               mode="parameters")                  # t_h spans 100x: log-scaled
    export_generator(gen, codec, tmp_path / "run", crop_size=8, um_per_px=0.05)
    out = tmp_path / "g"
    code, _, err = run_cli("generate", tmp_path / "run", "--n", "1", "--size", "16", "--out", out,
                           "--sweep", "t_h=10:0:3")
    assert code == 2 and "log-scaled and must be > 0" in err and len(err.strip().splitlines()) == 1
    assert "condition t_h=0: it is log-scaled" in err       # the value refused, named once
    assert not out.exists()

    import shapekit.generate.grid as grid

    calls = []

    def failing(image, path, metadata=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(image, path, metadata)

    real = grid.save_image
    monkeypatch.setattr(grid, "save_image", failing)
    code, _, _ = run_cli("generate", tmp_path / "run", "--n", "2", "--size", "16", "--out", out,
                         "--sweep", "t_h=1:10:2")
    assert code != 0 and len(calls) == 3 and not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("kept")                 # a folder the user made stays, with its files
    calls.clear()
    code, _, _ = run_cli("generate", tmp_path / "run", "--n", "4", "--size", "16", "--out", out)
    assert code != 0 and sorted(f.name for f in out.iterdir()) == ["mine.txt"]

def test_cli_train_gan_errors(run_cli, tmp_path: Path) -> None:
    manifest = make_tiny_dataset(tmp_path / "d", n=2)
    code, _, err = run_cli("train-gan", tmp_path / "missing.yaml", "--out", tmp_path / "r")
    assert code == 2 and "manifest not found" in err
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--crop-size", "36")
    assert code == 2 and "multiple of 8" in err
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--resume")
    assert code == 2 and "cannot resume" in err
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "r", "--holdout", "1.5")
    assert code == 2 and "--holdout" in err


def test_strategy_names_match_lightning_and_wrong_ones_are_refused_fast(run_cli, tmp_path) -> None:
    """The CLI's list of strategy names is Lightning's registry (so a name Lightning adds or drops
    fails here), and a wrong name is refused before Lightning is imported."""
    import subprocess
    import sys

    from pytorch_lightning.strategies import StrategyRegistry

    from shapekit.cli.gan import STRATEGIES

    assert STRATEGIES == set(StrategyRegistry) | {"auto"}
    code = ("import sys, time; t = time.perf_counter(); from shapekit.cli import main\n"
            "try:\n    main(['train-gan', 'm.yaml', '--out', 'o', '--strategy', 'banana'])\n"
            "except SystemExit as e:\n"
            "    print(e.code, 'pytorch_lightning' in sys.modules, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.split() == ["2", "False", "False"], (r.stdout, r.stderr)
    assert "unknown strategy 'banana'" in r.stderr and r.stderr.count("\n") == 1


def test_sample_refuses_feature_maps_over_the_budget_before_allocating(tmp_path: Path,
                                                                       monkeypatch) -> None:
    """The budget counts the network's largest feature map, not only the output: an image whose
    feature maps exceed it is refused with one line before any is made (session 24: --size 8192
    passed the output check and needed about 31 GB)."""
    from shapekit.generate.export import export_generator, load_generator

    torch.manual_seed(0)
    gen = Generator(2, 0, margin=None, **TINY_NET)      # widths 16, 8, 8, 4; period 8; reach 6
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)), mode="class")
    export_generator(gen, codec, tmp_path / "run", crop_size=8)
    s = load_generator(tmp_path / "run")
    c, h, w = s.generator.largest_map((40, 24))
    assert (c, h, w) == (8, 40 + 2 * 6 * 8, 24 + 2 * 6 * 8)   # the last block's upsampled input
    assert c * h * w > 40 * 24 * 4                               # far above the output's size
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", str(c * h * w - 1))
    with pytest.raises(InputError, match=r"feature maps of the generator for images of 24x40 px: "
                                         rf"1x{c}x{h}x{w} = {c * h * w} pixels, over the limit"):
        s.sample(1, size="24x40")
    monkeypatch.setenv("SHAPEKIT_MAX_PIXELS", str(c * h * w))
    assert s.sample(1, size="24x40").shape == (1, 40, 24)


def test_cli_generate_into_a_used_folder_replaces_the_earlier_run(tiny_run, run_cli, tmp_path: Path) -> None:
    """A second run into the same OUT removes the first run's images that it did not overwrite
    (listed in the first conditions.csv), so `score OUT` reads this run's images only; files it
    did not write stay; a condition both --set and swept is refused (session 24)."""
    from shapekit.realism import load_image_set

    run, out = tiny_run[0] / "run", tmp_path / "g"
    assert run_cli("generate", run, "--n", "4", "--size", "16", "--out", out)[0] == 0
    (out / "mine.tif").write_bytes((out / "gen_00003.tif").read_bytes())
    code, _, err = run_cli("generate", run, "--n", "2", "--size", "16", "--out", out)
    assert code == 0 and "removed 2 images of an earlier run" in err
    assert sorted(f.name for f in out.iterdir()) == ["conditions.csv", "gen_00000.tif",
                                                     "gen_00001.tif", "mine.tif"]
    assert len(load_image_set(out)[0]) == 3
    code, _, err = run_cli("generate", run, "--n", "1", "--out", tmp_path / "s", "--set", "T=150",
                           "--sweep", "T=100:200:3")
    assert code == 2 and "given both by --set and by --sweep" in err and not (tmp_path / "s").exists()


def test_sample_grid_has_one_captioned_row_per_label(tmp_path: Path) -> None:
    """The training sample grid draws the same number of training conditions per label and
    captions each row with its label (it drew 16 at random, unlabelled: 0 d and 180 d could not be
    told apart)."""
    from types import SimpleNamespace

    from shapekit.generate.progress import SampleWriter

    labels = np.array([0] * 9 + [1] * 3)
    dm = SimpleNamespace(images=[None] * 12, labels=labels,
                         codec=SimpleNamespace(label_names=["0d", "180d"]))
    w = SampleWriter(tmp_path, dm, seed=0, size=16, n=16)
    assert w.rows == ["0d", "180d"] and w.n == 16
    assert list(labels[w.idx]) == [0] * 8 + [1] * 8
    many = SimpleNamespace(images=[None] * 20, labels=np.arange(20) % 10,
                           codec=SimpleNamespace(label_names=[str(k) for k in range(10)]))
    assert SampleWriter(tmp_path, many, seed=0, size=16, n=16).rows is None   # > 8 labels: as before
