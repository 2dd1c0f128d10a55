"""Scan descriptors and the outside-the-training-data check a TopTemp model fits: known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from toy import toy_dataset, toy_micrograph

from shapekit.errors import InputError
from shapekit.temper.descriptors import (descriptor_names, feature_size, grey_levels,
                                          scan_descriptors, texture, two_point_correlation)
from shapekit.temper.outside import OutsideCheck


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


def test_two_point_correlation_of_known_fields():
    rng = np.random.default_rng(1)
    white = rng.normal(size=(200, 200))
    c = two_point_correlation(white, 10, detrend=0)
    assert c[0] == pytest.approx(white.var(), rel=1e-6)
    assert np.abs(c[1:]).max() < 0.02                       # white noise: uncorrelated at any lag
    # a Gaussian-smoothed field: correlation exp(-r^2 / (4 s^2)) of its sd s
    s = 4.0
    field = gaussian_filter(rng.normal(size=(400, 400)), s, mode="wrap")
    c = two_point_correlation(field, 20, detrend=0)
    r = np.arange(21)
    np.testing.assert_allclose(c / c[0], np.exp(-r ** 2 / (4 * s * s)), atol=0.04)


def test_feature_size_scales_with_magnification_and_ignores_noise():
    rng = np.random.default_rng(2)
    field = gaussian_filter(rng.normal(size=(512, 512)), 3)
    small = feature_size(field)
    # 2x the magnification: the same structure twice as large in pixels
    big = feature_size(np.kron(field[:256, :256], np.ones((2, 2))))
    assert 1.7 < big / small < 2.3
    noisy = field + 0.5 * field.std() * rng.normal(size=field.shape)
    assert abs(np.log(feature_size(noisy) / small)) < 0.15      # pixel noise only adds to lag 0


def test_texture_and_names():
    rng = np.random.default_rng(3)
    assert len(descriptor_names(["grey", "texture"])) == len(scan_descriptors(rng.random((64, 64)),
                                                                               ["grey", "texture"]))
    with pytest.raises(InputError, match="unknown descriptor family"):
        scan_descriptors(rng.random((64, 64)), ["colour"])
    blobs = np.kron(rng.random((16, 16)) > 0.5, np.ones((16, 16))).astype(float)
    grain = rng.random((256, 256))
    t_blobs, t_grain = texture(blobs), texture(grain)
    assert t_blobs[1] > t_grain[1] + 0.5 and t_grain[0] > t_blobs[0] + 0.4   # energy moves to coarser bands
    np.testing.assert_allclose(t_grain[3:], np.log(3.0), atol=0.05)   # Gaussian-like bands: kurtosis 3


@pytest.fixture(scope="module")
def check():
    """An outside check fitted on 40 toy scans (TopTemp features of 2 scales)."""
    from shapekit.temper.presets import feature_params, toptemp_features
    from shapekit.temper.scans import scan_features

    images, labels = toy_dataset(14, 96, seed=4)
    feats = scan_features(images, 48, toptemp_features(feature_params("robust", scales=[1, 2])))
    y = np.unique(labels, return_inverse=True)[1]
    oof = np.full((len(y), 3), 0.05)
    oof[np.arange(len(y)), y] = 0.9
    return OutsideCheck().fit(feats, images, labels, oof_proba=oof), images, feats


def test_outside_check_passes_training_like_scans_and_flags_foreign_ones(check):
    from shapekit.temper.presets import feature_params, toptemp_features
    from shapekit.temper.scans import scan_features

    chk, images, feats = check
    labels = ["lamellae", "network", "spheroids"]
    fresh, _ = toy_dataset(4, 96, seed=11)
    ff = scan_features(fresh, 48, toptemp_features(feature_params("robust", scales=[1, 2])))
    inside = [chk.assess([0.8, 0.1, 0.1], labels, f, im, None) for f, im in zip(ff, fresh)]
    assert np.mean([r["in_distribution"] for r in inside]) >= 0.9
    r = inside[0]
    assert set(r["ood"]) == {"topology", "grey", "feature_size"} and r["ood_score"] == pytest.approx(max(r["ood"].values()), abs=1e-4)
    # APS calibrated on out-of-fold scans whose true label always had mass 0.9: the set holds the
    # labels whose cumulative mass (ranked) stays within 0.9: 0.8 (lamellae), 0.9 (network, ties by order)
    assert r["prediction_set"] == ["lamellae", "network"]
    # a blank scan (flat grey + faint noise) and a saturated one
    rng = np.random.default_rng(5)
    blank = np.clip(0.4 + 0.004 * rng.normal(size=(96, 96)), 0, 1)
    sat = np.clip((fresh[0] - np.median(fresh[0])) * 12 + 0.5, 0, 1)
    for img in (blank, sat):
        f = scan_features([img], 48, toptemp_features(feature_params("robust", scales=[1, 2])))[0]
        out = chk.assess([0.8, 0.1, 0.1], labels, f, img, None)
        assert out["temper"] == "unknown" and out["in_distribution"] is False
        assert out["prediction_set"] == [] and any("outside the training data" in n for n in out["notes"])
    # the same structure at 4x the magnification: its feature size is outside the training range
    zoom = np.kron(fresh[2][:24, :24], np.ones((4, 4)))
    f = scan_features([zoom], 48, toptemp_features(feature_params("robust", scales=[1, 2])))[0]
    out = chk.assess([0.8, 0.1, 0.1], labels, f, zoom, 0.05)
    assert out["ood"]["feature_size"] > 1 and out["temper"] == "unknown"
    assert any("feature size" in n and "above the training range" in n for n in out["notes"])
    assert out["feature_size"]["um"] == pytest.approx(out["feature_size"]["px"] * 0.05, rel=1e-3)


def test_outside_check_state_round_trip_and_refusals(check):
    chk, images, feats = check
    state, arrays = chk.to_state()
    import json

    back = OutsideCheck.from_state(json.loads(json.dumps(state)), arrays)
    a = chk.assess([0.2, 0.5, 0.3], ["a", "b", "c"], feats[3], images[3], None)
    b = back.assess([0.2, 0.5, 0.3], ["a", "b", "c"], feats[3], images[3], None)
    assert a == b
    with pytest.raises(InputError, match="outside-check state"):
        OutsideCheck.from_state({**state, "version": 99}, arrays)
    with pytest.raises(InputError, match="at least 10"):
        OutsideCheck().fit(feats[:5], images[:5], ["a", "b"] * 2 + ["a"])
