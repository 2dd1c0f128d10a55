"""Grouped resampling in the realism score: images of one sample are not independent evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shapekit.errors import InputError
from shapekit.realism import score
from shapekit.realism.prepared import prepare_set, set_groups
from shapekit.realism.resampling import Units, compare_pooled, permutation_test, real_vs_real
from shapekit.realism.setstats import PooledFeatures, set_statistics


def _pool(X: np.ndarray, n_real: int) -> PooledFeatures:
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(-1) / 2.0)
    return PooledFeatures(X, [f"c{j}" for j in range(X.shape[1])], X[:n_real].std(0) + 1e-12, K,
                          np.zeros((0, 0)), -np.ones(len(X), int), 0.0, n_real)


def _clustered(seed: int, n_groups: int = 6, per_group: int = 4, spread: float = 0.05):
    """Two sets from one distribution of groups: the images of a group are near-copies of it."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2 * n_groups, 2))
    X = np.repeat(centres, per_group, axis=0) + spread * rng.normal(size=(2 * n_groups * per_group, 2))
    g = np.repeat([f"g{i}" for i in range(2 * n_groups)], per_group)
    return _pool(X, n_groups * per_group), g


def test_units_members_and_take():
    u = Units(5, 8, ["b", "a", "b", "c", "a", "x", "y", "x"])
    assert (u.n_real_units, u.n_units) == (3, 5)
    assert [m.tolist() for m in u.members] == [[1, 4], [0, 2], [3], [5, 7], [6]]
    assert u.take([1, 1, 3]).tolist() == [0, 2, 0, 2, 5, 7]
    assert u.take([]).tolist() == []
    with pytest.raises(ValueError, match="one per image"):
        Units(5, 8, ["a"] * 7)


def test_singleton_groups_give_the_image_level_numbers():
    pf, _ = _clustered(0)
    n = len(pf.X)
    ids = [f"{i:03d}" for i in range(n)]          # sorted like the images: the same draws
    a, boot_a = compare_pooled(pf, 30, 30, [np.random.default_rng(i) for i in range(3)])
    b, boot_b = compare_pooled(pf, 30, 30, [np.random.default_rng(i) for i in range(3)], groups=ids)
    same = {k: json.dumps(a[k]) == json.dumps(b[k]) for k in ("p_value", "ci", "real_vs_real", "distance")}
    assert all(same.values()), same
    assert np.array_equal(boot_a["topological_distance"], boot_b["topological_distance"])
    assert (a["units"]["grouped"], b["units"]["grouped"], b["units"]["real"]) == (False, True, n // 2)


def test_baseline_halves_never_split_a_group():
    pf, g = _clustered(1)
    u = Units(pf.n_real, len(pf.X), g)
    seen = []

    def spy(pf_, ia, ib, **kw):
        seen.append((set(g[ia]), set(g[ib])))
        return set_statistics(pf_, ia, ib, **kw)

    import shapekit.realism.resampling as rs
    orig, rs.set_statistics = rs.set_statistics, spy
    try:
        real_vs_real(pf, 20, np.random.default_rng(0), u)
        permutation_test(pf, 1.0, 20, np.random.default_rng(0), u)
    finally:
        rs.set_statistics = orig
    assert len(seen) == 40
    for a, b in seen:
        assert not a & b                           # a group is wholly on one side
    assert all(len(a) == len(b) == 3 for a, b in seen[:20])   # 6 groups: halves of 3 groups


def test_grouped_permutation_test_is_calibrated_where_image_level_is_not():
    """Both sets draw their groups from one distribution: the null is true. Treating the 24
    near-copies per set as independent images rejects it most of the time; exchanging whole
    groups rejects it about as often as the level says."""
    rej_img = rej_grp = 0
    n_sets = 40
    for seed in range(n_sets):
        pf, g = _clustered(seed)
        obs = set_statistics(pf, np.arange(pf.n_real), np.arange(pf.n_real, len(pf.X)))["topological_distance"]
        p_img, _ = permutation_test(pf, obs, 99, np.random.default_rng(seed))
        p_grp, _ = permutation_test(pf, obs, 99, np.random.default_rng(seed), Units(pf.n_real, len(pf.X), g))
        rej_img += p_img < 0.05
        rej_grp += p_grp < 0.05
    assert rej_img / n_sets > 0.6
    assert rej_grp / n_sets <= 0.15              # 5 % expected; binomial sd 3.4 % over 40 sets


def test_grouped_baseline_is_wider():
    pf, g = _clustered(3)
    img = real_vs_real(pf, 50, np.random.default_rng(0))["topological_distance"].mean()
    grp = real_vs_real(pf, 50, np.random.default_rng(0), Units(pf.n_real, len(pf.X), g))["topological_distance"].mean()
    assert grp > 1.5 * img


def test_set_groups_sources(tmp_path):
    assert set_groups(np.zeros((2, 4, 4))) is None
    assert set_groups(np.zeros((2, 4, 4)), None) is None
    with pytest.raises(InputError, match="one id per image"):
        set_groups(None, ["a", "b", "c"], 2)
    import tifffile

    rng = np.random.default_rng(0)
    (tmp_path / "im").mkdir()
    rows = ["image,label,spot"]
    for i in range(6):
        tifffile.imwrite(tmp_path / "im" / f"{i}.tif", (rng.random((32, 32)) * 255).astype(np.uint8))
        rows.append(f"{i}.tif,a,s{i // 2}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "m.yaml").write_text("name: spots\nroot: .\ntable: t.csv\nimages_dir: im\nimage: image\n"
                                     "label: label\ngroup: spot\n")
    assert set_groups(tmp_path / "m.yaml").tolist() == ["s0", "s0", "s1", "s1", "s2", "s2"]
    ps = prepare_set(tmp_path / "m.yaml", mode="imaging")
    assert ps.groups.tolist() == ["s0", "s0", "s1", "s1", "s2", "s2"]
    assert set_groups(ps).tolist() == ps.groups.tolist()


def test_score_reports_groups_and_refuses_a_baseline_from_three():
    rng = np.random.default_rng(0)
    real = [rng.random((32, 32)) for _ in range(8)]
    fake = [rng.random((32, 32)) for _ in range(6)]
    kw = dict(mode="imaging", n_boot=10, n_perm=10)
    res = score(real, fake, real_groups=np.repeat(["a", "b", "c", "d"], 2), **kw)
    assert res["groups"] == {"real": 4, "synthetic": None}
    assert res["imaging"]["units"] == {"grouped": True, "real": 4, "synthetic": 6}
    assert res["imaging"]["real_vs_real"]["n_rounds"] == 10
    assert res["verdict"]["groups"] == ("Groups: resampled in whole groups of images (4 in reference), so the "
                                        "images of one group counted as one piece of evidence.")
    assert res["verdict"]["lines"][-1] == res["verdict"]["groups"]
    res = score(real, fake, real_groups=np.repeat(["a", "b"], 4), **kw)
    assert res["imaging"]["real_vs_real"]["n_rounds"] == 0
    assert any("2 groups" in w for w in res["warnings"])
    plain = score(real, fake, **kw)
    assert plain["groups"] == {"real": None, "synthetic": None} and plain["verdict"]["groups"] is None
    with pytest.raises(InputError, match="one id per image"):
        score(real, fake, fake_groups=["a"], **kw)
    # one group per image (a `shapekit synth` set's sample ids): nothing to say; the sentence read
    # "resampled in whole groups of images (48 in synth)" as if each group held 48 images
    single = score(real, fake, real_groups=[f"s{i}" for i in range(8)], **kw)
    assert single["groups"] == {"real": 8, "synthetic": None} and single["verdict"]["groups"] is None
    assert not any(x.startswith("Groups:") for x in single["verdict"]["lines"])
