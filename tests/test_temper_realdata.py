"""Real-data checks of TopTemp on uhcs3 (slow: CI runs them separately, bounded)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_uhcs3_subset_cv_well_above_chance(uhcs3_dir, manifests_dir):
    from sklearn.model_selection import cross_val_score

    from shapekit.io import load_manifest
    from shapekit.temper.classifier import TopTempClassifier
    from shapekit.temper.pooling import ScanClassifier, ScanTiles
    from shapekit.temper.presets import feature_params
    from shapekit.temper.scans import read_manifest_images, scan_features
    from shapekit.temper.selection import scan_splitter

    man = load_manifest(manifests_dir / "uhcs3.yaml")
    y = np.asarray(man.labels)
    keep = np.concatenate([np.flatnonzero(y == k)[:15] for k in man.label_names])
    man, y = man.subset(keep), y[keep]
    X = scan_features(read_manifest_images(man), 256, feature_params("robust"))
    acc = cross_val_score(ScanClassifier(TopTempClassifier("svm"), "features"),
                          [ScanTiles(x) for x in X], y, cv=scan_splitter(y, n_splits=3))
    assert acc.mean() >= 0.7   # 3 balanced classes: chance is 0.33; 0.87 measured on 150 images


def test_raw_originals_classified_with_their_info_bar_cropped(uhcs_originals_dir, tmp_path):
    """Known answer: classifying the raw file gives exactly the verdict and probabilities of the
    image cropped by hand at the bar (the bottom block of dark rows), never those of the image
    with its bar."""
    from toy import toy_dataset

    from shapekit.io import read_image
    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(3, 256, seed=0)
    m = train_on_images(images, labels, tile_size=256, cv_folds=2, augment=0)
    files = sorted(uhcs_originals_dir.glob("*.tif"))
    res = m.classify(files)
    assert len(res) == 5 and all(r["tiles"] == 6 for r in res)   # 645 x 484 after the 38-row bar
    for p, r in zip(files, res):
        img, _ = read_image(p)
        dark = np.flatnonzero(img.mean(axis=1) > 0.3)  # the bar's rows all average below 0.3
        by_hand = m.predict_proba([img[: dark[-1] + 1]])[0]
        got = np.array([r["probabilities"][k] for k in m.label_names])
        assert np.allclose(got, by_hand, atol=1e-6), p.name
        assert r["temper"] == m.label_names[int(np.argmax(by_hand))]
        with_bar = m.predict_proba([img])[0]
        assert not np.allclose(by_hand, with_bar, rtol=1e-3, atol=0), p.name  # the crop matters
