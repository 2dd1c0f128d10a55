"""The dual (Lagrangian) fraction constraint: ``FractionDual`` and ``fraction_dual``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from shapekit.generate.dual import FractionDual  # noqa: E402


def test_dual_penalty_gradient_and_steps_follow_the_lagrangian() -> None:
    dual = FractionDual(n_classes=3, n_cond=2, eta=2.0)
    dual.a.copy_(torch.tensor([1.0, -2.0, 0.5]))
    dual.b.copy_(torch.tensor([0.25, 0.0]))
    f = torch.tensor([0.10, 0.20, 0.30, 0.40], requires_grad=True)
    real = torch.tensor([0.12, 0.20, 0.25, 0.40])
    label, cond = torch.tensor([0, 1, 2, 0]), torch.tensor([[1.0, 3.0], [0, 0], [-2, 1], [0, 0]])
    dual(f, real, label, cond).backward()
    # d/df_i = lambda_i / B with lambda = a[class] + b . cond
    assert f.grad.tolist() == pytest.approx([1.25 / 4, -2.0 / 4, 0.0, 1.0 / 4], abs=1e-6)
    # then a[k] += eta * sum of class k's gaps / B, b += eta * gaps . cond / B
    assert dual.a.tolist() == pytest.approx([1.0 + 2 * -0.02 / 4, -2.0, 0.5 + 2 * 0.05 / 4],
                                            abs=1e-6)
    assert dual.b.tolist() == pytest.approx([0.25 + 2 * (-0.02 - 0.10) / 4,
                                             2 * (-0.06 + 0.05) / 4], abs=1e-6)
    dual.eval()                                   # evaluation: the penalty, no step
    before = dual.a.clone()
    dual(f.detach(), real, label, cond)
    assert torch.equal(dual.a, before)
    with pytest.raises(ValueError, match="step size must be > 0"):
        FractionDual(2, 0, eta=0.0)


@pytest.mark.parametrize("per_class_pull", [(0.03, -0.02), (-0.01, 0.04)])
def test_dual_removes_the_bias_that_a_squared_penalty_leaves(per_class_pull) -> None:
    """Two classes, each 'generator' fraction pulled off its target by a constant force (the
    discriminator's stand-in). A squared penalty settles at target + pull / (2 W); the dual's
    multipliers grow until the mean gap is 0."""
    target = torch.tensor([0.14, 0.15])
    pull = torch.tensor(per_class_pull)
    label = torch.tensor([0, 1])

    def run(use_dual: bool, weight: float = 20.0) -> torch.Tensor:
        theta = target.clone().requires_grad_(True)
        opt = torch.optim.SGD([theta], lr=0.02)
        dual = FractionDual(2, 0, eta=2.0)
        for _ in range(4000):
            loss = -(pull * theta).sum() + weight * ((theta - target) ** 2).sum()
            if use_dual:
                loss = loss + 2 * dual(theta, target, label)   # its mean over the batch of 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        return theta.detach()

    squared = run(False)
    assert (squared - target).tolist() == pytest.approx((pull / 40).tolist(), rel=1e-3)
    assert (run(True) - target).abs().max().item() < 1e-4


def test_resume_switches_the_dual_on_and_off(tmp_path: Path) -> None:
    from shapekit.generate.train import train_gan

    from test_generate import TINY, make_tiny_dataset

    torch.set_num_threads(1)
    manifest = make_tiny_dataset(tmp_path / "data")
    run = tmp_path / "run"
    train_gan(manifest, run, condition="parameters", crop_size=32, max_steps=2, batch_size=4,
              seed=0, sample_every=0, n_up=2, d_blocks=2, **TINY)
    # an old checkpoint without multipliers: they start at 0 and move with the gaps
    train_gan(None, run, resume=True, max_steps=4, log_every=1, sample_every=0, fraction_dual=5.0)
    assert json.loads((run / "config.json").read_text())["model"]["fraction_dual"] == 5.0
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu",
                       weights_only=True)["state_dict"]
    assert state["dual.a"].shape == (2,) and state["dual.b"].shape == (1,)  # 2 classes, 1 condition
    assert state["dual.a"].abs().sum() > 0 and state["dual.b"].abs().sum() > 0
    with open(sorted((run / "logs").rglob("metrics.csv"))[-1]) as fh:
        rows = [m for m in csv.DictReader(fh) if m.get("fraction_dual")]
    assert [float(m["iteration"]) for m in rows][-2:] == [3.0, 4.0]
    # and switched off again: the multipliers are dropped, training goes on
    shutil.copytree(run, tmp_path / "off")
    train_gan(None, tmp_path / "off", resume=True, max_steps=5, sample_every=0, fraction_dual=0.0)
    state = torch.load(tmp_path / "off" / "checkpoints" / "last.ckpt", map_location="cpu",
                       weights_only=True)["state_dict"]
    assert not any(k.startswith("dual.") for k in state)
