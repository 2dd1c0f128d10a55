"""Scan descriptors and the outside-the-training-data check a TopTemp model fits: known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from toy import toy_dataset, toy_micrograph

from shapekit.errors import InputError
from shapekit.temper.descriptors import grey_levels, octave_shares, scan_descriptors
from shapekit.temper.outside import OutsideCheck, noise_part, scale_part, structure_share


def test_grey_levels_separate_acquisition_changes():
    rng = np.random.default_rng(0)
    img = toy_micrograph("spheroids", 128, rng)
    base = grey_levels(img)
    sat = grey_levels(np.clip((img - np.median(img)) * 8 + 0.5, 0, 1))
    assert sat[3] > base[3] + 0.25  # clipped fraction
    assert grey_levels(np.full((32, 32), 0.3) + 1e-3 * rng.random((32, 32)))[0] < base[0] - 3  # blank
    with pytest.raises(InputError):
        grey_levels(np.zeros((8, 8)))
    with pytest.raises(InputError, match="NaN"):
        grey_levels(np.full((32, 32), np.nan))


def test_octave_shares_of_known_spectra():
    rng = np.random.default_rng(1)
    # white noise: power proportional to each octave's area of the frequency plane (x4 per octave)
    s = np.exp(octave_shares(rng.normal(size=(512, 512))))
    np.testing.assert_allclose(s[1:5] / s[:4], 4.0, rtol=0.25)
    # a grating of wavelength 24 px puts its power in the 16-32 px octave (band 2)
    x = np.arange(256)
    grating = np.sin(2 * np.pi * x / 24)[None, :] * np.ones((256, 1))
    mid = np.exp(octave_shares(grating, keep=(1, 2, 3)))
    assert mid[1] > 0.95 and mid.sum() == pytest.approx(1.0)
    assert scan_descriptors(grating).shape == (9,)
    with pytest.raises(InputError, match="at least 64 px"):
        octave_shares(rng.random((48, 48)))
    with pytest.raises(InputError, match="bands"):
        octave_shares(grating, keep=(7,))


@pytest.fixture(scope="module")
def check():
    """An outside check fitted on 42 toy scans (TopTemp features of 2 scales)."""
    from shapekit.temper.presets import feature_params, toptemp_features
    from shapekit.temper.scans import scan_features

    images, labels = toy_dataset(14, 96, seed=4)
    feats = scan_features(images, 48, toptemp_features(feature_params("robust", scales=[1, 2])))
    y = np.unique(labels, return_inverse=True)[1]
    oof = np.full((len(y), 3), 0.05)
    oof[np.arange(len(y)), y] = 0.9
    return OutsideCheck().fit(feats, images, labels, oof_proba=oof), images, feats


def _features(img):
    from shapekit.temper.presets import feature_params, toptemp_features
    from shapekit.temper.scans import scan_features

    return scan_features([img], 48, toptemp_features(feature_params("robust", scales=[1, 2])))[0]


def test_outside_check_passes_training_like_scans_and_flags_foreign_ones(check):
    chk, images, feats = check
    labels = ["lamellae", "network", "spheroids"]
    fresh, _ = toy_dataset(4, 96, seed=11)
    inside = [chk.assess([0.8, 0.1, 0.1], labels, _features(im), im, None) for im in fresh]
    assert np.mean([r["in_distribution"] for r in inside]) >= 0.9
    r = inside[0]
    assert set(r["ood"]) == {"topology", "image", "noise"} and r["ood"]["noise"] == 0.5
    assert r["ood_score"] == pytest.approx(max(r["ood"].values()), abs=1e-4)
    # APS calibrated on out-of-fold scans whose true label always had mass 0.9: the set holds the
    # labels whose cumulative mass (ranked) stays within 0.9: 0.8 (lamellae), 0.9 (network, ties by order)
    assert r["prediction_set"] == ["lamellae", "network"]
    assert any("scale not checked" in n for n in r["notes"])       # the toy model has no pixel size
    # a blank scan (flat grey + faint noise), a saturated one, and a scan smaller than 64 px
    rng = np.random.default_rng(5)
    blank = np.clip(0.4 + 0.004 * rng.normal(size=(96, 96)), 0, 1)
    sat = np.clip((fresh[0] - np.median(fresh[0])) * 12 + 0.5, 0, 1)
    for img in (blank, sat, fresh[1][:48, :48]):
        out = chk.assess([0.8, 0.1, 0.1], labels, _features(img), img, None)
        assert out["temper"] == "unknown" and out["in_distribution"] is False
        assert out["prediction_set"] == [] and any(n.startswith("outside the training data") for n in out["notes"])
    # a model with a pixel size says when the scan's is unknown
    notes = chk.assess([0.8, 0.1, 0.1], labels, feats[0], images[0], None, model_um_per_px=0.05)["notes"]
    assert any(n.startswith("pixel size unknown") for n in notes)


def test_outside_check_flags_simulated_alloy_against_toy_textures(check):
    """The simulator's precipitates are another material for a model of the toy textures."""
    from shapekit.synth import render_micrograph

    chk, _, _ = check
    sims = [render_micrograph(220.0, 8.0, size=96, seed=s)[0] for s in range(6)]
    flagged = [not chk.assess([0.4, 0.3, 0.3], ["a", "b", "c"], _features(im), im, None)["in_distribution"]
               for im in sims]
    assert all(flagged)


def test_outside_check_state_round_trip_and_refusals(check):
    chk, images, feats = check
    state, arrays = chk.to_state()
    back = OutsideCheck.from_state(json.loads(json.dumps(state)), arrays)
    a = chk.assess([0.2, 0.5, 0.3], ["a", "b", "c"], feats[3], images[3], None)
    b = back.assess([0.2, 0.5, 0.3], ["a", "b", "c"], feats[3], images[3], None)
    assert a == b
    with pytest.raises(InputError, match="outside-check state"):
        OutsideCheck.from_state({**state, "version": 99}, arrays)
    with pytest.raises(InputError, match="retrain"):
        OutsideCheck.from_state({**state, "descriptors": "grey_levels"}, arrays)
    with pytest.raises(InputError, match="at least 10"):
        OutsideCheck().fit(feats[:5], images[:5], ["a", "b"] * 2 + ["a"])
    with pytest.raises(InputError, match="at least 64 px"):
        OutsideCheck().fit(feats[:12], [im[:48, :48] for im in images[:12]], ["a", "b"] * 6)


def test_scale_part_flags_magnifications_beyond_the_training_range(check):
    chk, images, feats = check
    labels = ["lamellae", "network", "spheroids"]
    assert scale_part(0.05, (0.02, 0.1)) == 0.5 and scale_part(0.2, (0.02, 0.1)) == 1.0
    assert scale_part(0.4, (0.02, 0.1)) == pytest.approx(2.0) and scale_part(0.0025, (0.02, 0.1)) == pytest.approx(4.0)
    with pytest.raises(InputError, match="positive"):
        scale_part(0.1, (0.2, 0.1))
    kw = dict(model_um_per_px=0.05, training_um_per_px=(0.02, 0.1))
    inside = chk.assess([0.8, 0.1, 0.1], labels, feats[0], images[0], 0.05, source_um_per_px=0.08, **kw)
    assert inside["in_distribution"] is True and inside["ood"]["scale"] == 0.5
    assert not any("magnification" in n for n in inside["notes"])
    for src, word in ((0.4, "4x coarser than the coarsest of the training range (0.1 um)"),
                      (0.004, "5x finer than the finest of the training range (0.02 um)")):
        out = chk.assess([0.8, 0.1, 0.1], labels, feats[0], images[0], 0.05, source_um_per_px=src, **kw)
        assert out["temper"] == "unknown" and out["in_distribution"] is False and out["prediction_set"] == []
        assert out["ood_score"] == pytest.approx(src / 0.1 / 2 if src > 0.1 else 0.02 / src / 2, rel=1e-3)
        assert any(n.startswith("outside the training data: magnification") and word in n for n in out["notes"])
    # a model that has a pixel size but no stored range says the magnification was not checked
    old = chk.assess([0.8, 0.1, 0.1], labels, feats[0], images[0], 0.05, model_um_per_px=0.05,
                     source_um_per_px=0.4)
    assert "scale" not in old["ood"] and any(n.startswith("magnification not checked") for n in old["notes"])


def test_too_few_scans_for_the_limit_are_announced():
    """With n calibration scans a conformal 99 % limit needs n >= 99; below that the limit is the
    most unusual training scan (a loose check): said at training time, not silently."""
    import warnings

    from shapekit.errors import ShapekitWarning

    rng = np.random.default_rng(0)
    imgs = [np.clip(0.5 + 0.6 * gaussian_filter(rng.normal(size=(96, 96)), 2), 0, 1) for _ in range(40)]
    feats = [rng.normal(size=(4, 3)) for _ in imgs]
    y = np.arange(40) % 2
    with pytest.warns(ShapekitWarning, match=r"40 training scans, too few for a 99 % limit \(99 needed\)"):
        chk = OutsideCheck().fit(feats, imgs, y)
    assert chk.level_ == pytest.approx(40 / 41)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapekitWarning)   # 40 scans support a 90 % limit
        assert OutsideCheck(level=0.9).fit(feats, imgs, y).level_ == 0.9


def test_a_model_trained_without_an_outside_check_says_so_at_training(run_cli, tmp_path):
    """Fewer than 10 training scans: the model is saved with no outside check (never "unknown"),
    which was said only in later verdicts' notes; training now warns of it (as it warns when the
    check is loose), on the CLI's stderr too."""
    from toy import write_toy_manifest

    from shapekit.errors import ShapekitWarning
    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(3, 64, seed=3)          # 9 scans
    with pytest.warns(ShapekitWarning, match="no outside-the-training-data check.*at least 10"):
        m = train_on_images(images, labels, model="logreg", tile_size=None, augment=0,
                            feature_params={"scales": [1]}, cv_folds=2, aggregation="proba")
    assert m.outside is None and "at least 10" in m.config["outside_skipped"]
    man = write_toy_manifest(str(tmp_path / "d"), 3, 64, seed=3)
    code, out, err = run_cli("train-classifier", man, "--out", tmp_path / "m", "--tile-size", "0",
                             "--scales", "1", "--augment", "0", "--model", "logreg")
    assert code == 0 and "warning: this model has no outside-the-training-data check" in err, err


@pytest.mark.parametrize("name, value", [("level", 1.0), ("level", "0.99"), ("level", float("nan")),
                                         ("coverage", 0), ("coverage", True), ("score", "raps"),
                                         ("seed", 1.5), ("seed", -1)])
def test_bad_params_fail_before_the_scans_are_described(monkeypatch, name, value):
    # before: level="0.99" crashed in float(), level=1.0 or seed=1.5 only after every scan was
    # described (or, for coverage/score, only when out-of-fold probabilities came along)
    import shapekit.temper.outside as outside

    def never(*a, **k):
        raise AssertionError("scans described before the parameters were checked")

    monkeypatch.setattr(outside.OutsideCheck, "row", staticmethod(never))
    imgs = [np.zeros((96, 96))] * 12
    with pytest.raises(InputError, match=rf"^{name}="):
        OutsideCheck(**{name: value}).fit([np.zeros((2, 3))] * 12, imgs, ["a", "b"] * 6)


def test_structure_share_of_white_noise_is_its_known_value():
    """White noise keeps 3 / (4 pi sigma^2) of its variance above the sigma-px scale, whatever
    its histogram; structure many pixels wide keeps nearly all of it."""
    rng = np.random.default_rng(3)
    for sigma in (1.0, 2.0):
        for noise in (rng.random((300, 400)), np.clip(0.5 + 0.15 * rng.normal(size=(300, 400)), 0, 1)):
            assert structure_share(noise, sigma) == pytest.approx(3 / (4 * np.pi * sigma ** 2), abs=0.01)
    assert structure_share(gaussian_filter(rng.random((300, 400)), 8)) > 0.95
    assert np.isnan(structure_share(np.full((64, 64), 0.3)))
    assert noise_part(0.3, 0.2) == 0.5 and noise_part(0.1, 0.2) == 1.0 and noise_part(0.05, 0.2) == 2.0


def test_a_scan_of_pure_noise_is_outside_the_training_data(check):
    """White noise got a confident verdict from a model of micrographs (the shipped uhcs3 model:
    spheroidite 0.93, inside): TopTemp features of smoothed noise look like round particles, and
    its grey levels are like a scan's. The noise part flags it and says why; models saved before
    the part have none."""
    chk, images, feats = check
    labels = ["lamellae", "network", "spheroids"]
    assert chk.structure_share_min_ == pytest.approx(min(structure_share(im) for im in images))
    rng = np.random.default_rng(9)
    noise = rng.random((96, 96))
    share = structure_share(noise)
    r = chk.assess([0.8, 0.1, 0.1], labels, _features(noise), noise, None)
    assert r["ood"]["noise"] == pytest.approx(max(1, chk.structure_share_min_ / share) / 2, abs=1e-4)
    inside = [chk.assess([0.8, 0.1, 0.1], labels, f, im, None)["ood"]["noise"] for f, im in zip(feats, images)]
    assert inside == [0.5] * len(images)                    # no training scan is flagged by it
    # the toy scans carry pixel noise of their own; a model of cleaner scans (the same textures
    # smoothed by 1 px) flags the noise scan by this part alone, with the reason
    smooth = [gaussian_filter(im, 1) for im in images]
    clean = OutsideCheck().fit(feats, smooth, np.arange(len(images)) % 3)
    assert clean.structure_share_min_ > 2 * share
    r = clean.assess([0.8, 0.1, 0.1], labels, _features(noise), noise, None)
    assert r["temper"] == "unknown" and r["ood"]["noise"] > 1
    assert any(n.startswith("outside the training data: mostly noise: 6 % of the scan's grey-level "
                            "variance lies above the 2-px scale") for n in r["notes"])
    state, arrays = clean.to_state()
    assert OutsideCheck.from_state(json.loads(json.dumps(state)), arrays).structure_share_min_ == \
        pytest.approx(clean.structure_share_min_)
    old = {k: v for k, v in state.items() if k != "structure_share_min"}
    assert "noise" not in OutsideCheck.from_state(old, arrays).assess(
        [0.8, 0.1, 0.1], labels, _features(noise), noise, None)["ood"]
    with pytest.raises(InputError, match="structure_share_min"):
        OutsideCheck.from_state({**state, "structure_share_min": 0.0}, arrays)


def test_the_score_is_rounded_as_its_parts_and_never_onto_the_limit(check):
    """ood_score was unrounded (0.3417938067128555) beside parts rounded to 4 digits; it is now
    the largest part as the verdict gives it, and a score just over 1 never reads as 1."""
    from shapekit.temper.outside import rounded_score

    chk, images, feats = check
    labels = ["lamellae", "network", "spheroids"]
    kw = dict(model_um_per_px=0.05, training_um_per_px=(0.02, 0.1))
    for img, f, src in ((images[0], feats[0], None), (images[3], feats[3], 0.08),
                        (images[5], feats[5], 0.3337)):
        r = chk.assess([0.8, 0.1, 0.1], labels, f, img, 0.05, source_um_per_px=src, **kw)
        assert r["ood_score"] == max(r["ood"].values()) == round(r["ood_score"], 4), r
    assert rounded_score(0.3417938067128555) == 0.3418 and rounded_score(0.99996) == 1.0
    assert rounded_score(1.00004) == 1.00004 and rounded_score(1.23456789) == 1.2346
    assert rounded_score(float("inf")) == float("inf")
