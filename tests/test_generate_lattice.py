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
