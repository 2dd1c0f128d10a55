"""The generator's detector (shot and read noise, drawn per image): its noise law, its start, its
gradient, export, fine-tuning and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shapekit.generate.detector import ShotNoise  # noqa: E402
from shapekit.generate.nets import Generator, generate_field  # noqa: E402

NET = dict(z_local=2, z_global=8, w_dim=8, channels=[16, 8, 8])


def test_shot_noise_has_the_poisson_variance_of_its_dose() -> None:
    torch.manual_seed(0)
    det = ShotNoise(4, dose=1000.0, read=0.02)
    with torch.no_grad():
        dose, read = det.parameters_of(torch.zeros(1, 4))
    assert float(dose) == pytest.approx(1000.0) and float(read) == pytest.approx(0.02)
    for u in (0.2, 0.5, 0.8):   # a flat field of grey level u: variance u / dose + read^2
        with torch.no_grad():   # (>= 5.8 sd from the clip at 0 and 1)
            y = (det(torch.full((1, 1, 256, 256), 2 * u - 1), torch.zeros(1, 4)) + 1) / 2
        assert float(y.mean()) == pytest.approx(u, abs=0.001)
        assert float(y.var()) == pytest.approx(u / 1000.0 + 0.02**2, rel=0.03)


def test_a_new_detector_leaves_a_trained_generator_nearly_noise_free() -> None:
    torch.manual_seed(1)
    plain = Generator(2, n_cond=1, **NET)
    det = Generator(2, n_cond=1, **NET, detector=True)
    missing = det.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["detector.head.bias", "detector.head.weight"]
    zl, zg = plain.latents(2, plain.field_cells((64, 64)))
    args = (zl, zg, torch.tensor([0, 1]), torch.zeros(2, 1), (64, 64))
    with torch.no_grad():
        torch.manual_seed(5)
        a = generate_field(plain, *args)
        torch.manual_seed(5)
        b = generate_field(det, *args)
    # dose 1e4, read 1e-3: sd <= sqrt(1 / 1e4 + 1e-6) = 0.01 in [0, 1], 0.02 in [-1, 1]
    d = (b - a).abs()
    assert 0 < float(d.mean()) < 0.02 and float(d.max()) < 0.15


def test_the_detector_learns_its_dose_from_a_loss() -> None:
    torch.manual_seed(2)
    g = Generator(1, **NET, detector=True)
    zl, zg = g.latents(4, g.field_cells((32, 32)))
    x = generate_field(g, zl, zg, torch.zeros(4, dtype=torch.long), None, (32, 32))
    # a loss that wants noisier images: the gradient lowers the dose (raises the noise)
    loss = -(x[:, :, 1:] - x[:, :, :-1]).pow(2).mean()
    loss.backward()
    assert g.detector.head.bias.grad is not None
    assert float(g.detector.head.bias.grad[0]) < 0   # descent raises 1 / sqrt(dose)
    assert float(g.detector.head.bias.grad[1]) < 0   # and the read noise


def test_export_round_trip_keeps_the_detector(tmp_path: Path) -> None:
    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator, load_generator

    torch.manual_seed(3)
    g = Generator(2, **NET, detector=True)
    with torch.no_grad():
        g.detector.head.bias.copy_(torch.tensor([80.0 ** -0.5, 0.015]))
    codec = ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0)))
    export_generator(g, codec, tmp_path / "m", crop_size=32, um_per_px=0.01)
    assert json.loads((tmp_path / "m" / "generator.json").read_text())["net"]["detector"] is True
    back = load_generator(tmp_path / "m", device="cpu")
    with torch.no_grad():
        dose, read = back.generator.detector.parameters_of(torch.zeros(1, 8))
    assert float(dose) == pytest.approx(80.0, rel=1e-5) and float(read) == pytest.approx(0.015)
    # an export from before the detector (no key) builds a generator without one
    export_generator(Generator(2, **NET), codec, tmp_path / "old", crop_size=32)
    cfg = json.loads((tmp_path / "old" / "generator.json").read_text())
    del cfg["net"]["detector"]
    (tmp_path / "old" / "generator.json").write_text(json.dumps(cfg))
    assert load_generator(tmp_path / "old", device="cpu").generator.detector is None


def test_fine_tuning_and_resume_switch_the_detector_on(tmp_path: Path) -> None:
    from test_generate import TINY, make_tiny_dataset

    from shapekit.generate.train import train_gan

    torch.set_num_threads(1)
    manifest = make_tiny_dataset(tmp_path / "data")
    common = dict(condition="parameters", crop_size=32, batch_size=4, seed=0,
                  checkpoint_every=2, sample_every=0, log_every=1, n_up=2, d_blocks=2, **TINY)
    train_gan(manifest, tmp_path / "base", max_steps=3, **common)
    # a fine-tuning from the plain model with a detector: it starts from the model's weights
    train_gan(manifest, tmp_path / "ft", max_steps=2, init_from=tmp_path / "base",
              detector=True, tune="late", **common)
    ft = json.loads((tmp_path / "ft" / "generator.json").read_text())
    assert ft["net"]["detector"] is True and ft["init_from"]["iterations"] == 3
    # a resumed run switches it on; the generator optimizer restarts over the tuned weights
    run = tmp_path / "run"
    shutil.copytree(tmp_path / "base", run)
    train_gan(None, run, resume=True, max_steps=5, sample_every=0, tune="late", detector=True)
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    bias = ck["state_dict"]["generator.detector.head.bias"]
    assert "g_ema.detector.head.bias" in ck["state_dict"]
    assert not torch.equal(bias, torch.tensor([0.01, 0.001]))  # it trained
    steps = {int(s["step"]) for s in ck["optimizer_states"][0]["state"].values()}
    assert steps == {2}     # the two resumed iterations, from a fresh optimizer
    assert json.loads((run / "config.json").read_text())["model"]["detector"] is True


def test_a_detector_model_samples_the_same_images_per_seed(tmp_path: Path) -> None:
    from shapekit.generate.codec import ConditionCodec
    from shapekit.generate.export import export_generator, load_generator

    torch.manual_seed(4)
    g = Generator(2, **NET, detector=True)
    with torch.no_grad():
        g.detector.head.bias.copy_(torch.tensor([0.1, 0.01]))   # dose 100: visible noise
    export_generator(g, ConditionCodec.fit(["a", "b"], [], np.zeros((2, 0))), tmp_path / "m",
                     crop_size=32)
    gen = load_generator(tmp_path / "m", device="cpu")
    a, b, c = (gen.sample(2, label="a", seed=s, size=48) for s in (7, 7, 8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
