"""lattice_contrast: a generator's fixed pattern at its latent period, seen whole (a 2-D cell
pattern), where lattice_peak_ratio's median over single harmonics along one axis misses it."""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from shapekit.generate.checks import cell_pattern, lattice_contrast, lattice_peak_ratio


def test_a_faint_cell_pattern_is_seen_by_its_contrast_and_missed_by_the_harmonics_median() -> None:
    """A pattern of a few grey levels repeating every 8 px in 2-D (as the shipped generators'
    networks leave: RESULTS.md section 6, session 28) reads several times the contrast of the
    same images without it, and at periods 7 and 9 nothing changes."""
    rng = np.random.default_rng(0)
    clean = gaussian_filter(rng.random((4, 384, 512)), (0, 2, 2))
    clean = (clean - clean.mean()) / clean.std() * 0.15 + 0.5
    yy, xx = np.mgrid[:384, :512]
    pattern = 0.01 * np.cos(2 * np.pi * (xx - 3) / 8) * np.cos(2 * np.pi * yy / 8)  # +-2.5 grey levels
    planted = clean + pattern[None]
    assert 0.6 < lattice_contrast(clean, 8) < 1.6
    assert lattice_contrast(planted, 8) > 3 * lattice_contrast(clean, 8)
    for q in (7, 9):                                      # other periods: as good as unchanged
        before, after = np.ptp(cell_pattern(clean[0], q)), np.ptp(cell_pattern(planted[0], q))
        assert abs(after - before) < 0.2 * before
    assert lattice_peak_ratio(planted, 8) < 1.5          # the older check does not see it


def test_the_lattice_penalty_estimates_a_shared_pattern_and_ignores_what_images_draw_at_random() -> None:
    """The U-statistic over pairs of images: a pattern shared by independent noise fields reads
    its mean square (a per-image square would add the noise's own cell-phase variance, here as
    large as the pattern's); fields without one read about 0; a pattern that only one class draws counts
    for that class's group."""
    import torch

    from shapekit.generate.losses import lattice_penalty

    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(32, 1, 64, 64, generator=gen)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    pattern = 0.25 * torch.cos(2 * torch.pi * xx / 8) * torch.cos(2 * torch.pi * yy / 8)
    truth = float((pattern[:8, :8] - pattern[:8, :8].mean()).pow(2).mean())  # 0.25^2 / 4
    shared = lattice_penalty(noise + pattern, 8).item()
    assert abs(shared - truth) < 0.2 * truth
    per_image = float(np.mean([lattice_penalty(f[None].expand(2, -1, -1, -1), 8).item()
                               for f in noise + pattern]))
    assert per_image > 1.6 * truth                         # why pairs of different images
    assert abs(lattice_penalty(noise, 8).item()) < 0.1 * truth
    labels = torch.arange(32) % 2                         # only class 1 draws the pattern
    half = noise + pattern * (labels == 1).float()[:, None, None, None]
    assert abs(lattice_penalty(half, 8, labels).item() - truth / 2) < 0.2 * truth


def test_the_lattice_term_removes_a_generators_pattern_at_unchanged_contrast() -> None:
    """A tiny generator whose (scaled-up) weights draw a pattern at its 4-px period, trained on
    the lattice term with its contrast held: the pattern shared by fresh fields falls 100-fold
    while their variance stays."""
    import torch

    from shapekit.generate.losses import lattice_penalty
    from shapekit.generate.nets import Generator, generate_field

    torch.manual_seed(0)
    g = Generator(1, 0, z_local=2, z_global=4, w_dim=8, channels=[8, 8, 4])
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(3)

    def fields(seed: int, n: int = 32) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        zl = torch.randn(n, g.z_local, *g.field_cells((64, 64)), generator=gen)
        zg = torch.randn(n, g.z_global, generator=gen)
        return generate_field(g, zl, zg, torch.zeros(n, dtype=torch.long), None, (64, 64))

    with torch.no_grad():
        f = fields(123, 128)
        p0, v0 = lattice_penalty(f, g.period).item(), f.var().item()
    assert p0 > 1e-3 * v0 / 16          # the pattern is there: well above chance (~2e-5 v0)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    for step in range(20):
        f = fields(step)
        loss = lattice_penalty(f, g.period) / p0 + (f.var() / v0 - 1) ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        f = fields(123, 128)
        assert lattice_penalty(f, g.period).item() < 0.01 * p0
        assert abs(f.var().item() / v0 - 1) < 0.2


def test_train_gan_logs_the_lattice_term_and_a_resume_may_switch_it_on(tmp_path) -> None:
    """--lattice-weight is a model setting: off by default (logged as 0), recorded in the run's
    config, and changed on --resume like the other loss weights."""
    import csv
    import json

    from test_generate import make_tiny_dataset

    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    out = tmp_path / "run"
    kw = dict(crop_size=32, batch_size=4, g_channels=4, d_channels=4, sample_every=0,
              checkpoint_every=2, log_every=1)
    train_gan(manifest, out, max_steps=2, **kw)
    train_gan(manifest, out, max_steps=4, resume=True, lattice_weight=100.0,
              lattice_image_weight=50.0, **kw)
    model = json.loads((out / "config.json").read_text())["model"]
    assert (model["lattice_weight"], model["lattice_image_weight"]) == (100.0, 50.0)
    rows = []
    for f in sorted((out / "logs").rglob("metrics.csv")):
        rows += [r for r in csv.DictReader(f.open()) if r.get("lattice")]
    by_it = {int(float(r["iteration"])): (float(r["lattice"]), float(r["lattice_image"]))
             for r in rows if r.get("lattice_image")}
    assert by_it[1] == by_it[2] == (0.0, 0.0)          # off: not computed
    assert by_it[3][0] != 0.0 and by_it[4][0] != 0.0    # on from the resume (the excess term is
    assert by_it[3][1] >= 0.0 and by_it[4][1] >= 0.0    # 0 where no image is above chance)


def test_the_excess_term_sees_each_images_own_pattern_and_not_chance() -> None:
    """Patterns at each image's own phase (nothing shared across images) read as their mean
    square in lattice_excess and as nothing in lattice_penalty; fields of noise read little above
    chance (their own period-8 cell pattern is of chance size); and minimising the excess of a
    planted pattern takes the pattern out, not the noise's own lattice-frequency content."""
    import torch

    from shapekit.generate.losses import lattice_excess, lattice_penalty

    g = torch.Generator().manual_seed(0)
    noise = torch.randn(32, 1, 128, 128, generator=g)
    shift = torch.randint(0, 8, (32,), generator=g)
    rows = torch.stack([(torch.arange(128) - s) % 8 == 0 for s in shift]).float()
    amp = torch.tensor(0.5, requires_grad=True)
    planted = noise + amp * rows[:, None, :, None]
    truth = 0.25 * 7 / 64
    assert abs(lattice_excess(planted, 8).item() - truth) < 0.25 * truth
    assert abs(lattice_penalty(planted, 8).item()) < 0.1 * truth
    assert lattice_excess(noise, 8).item() < 0.15 / 256          # chance is 1/256 a phase
    lattice_excess(planted, 8).backward()
    assert amp.grad.item() > 0                                     # smaller pattern, smaller term
    pulls = []
    for field in (planted.detach(), noise):                        # per pixel, with and without
        field = field.clone().requires_grad_(True)
        lattice_excess(field, 8).backward()
        pulls.append(field.grad.abs().mean().item())
    assert pulls[1] < 0.3 * pulls[0]     # noise alone: a fraction (images above the reference)
