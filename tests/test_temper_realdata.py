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
    from toy import toy_dataset

    from shapekit.temper.train import train_on_images

    images, labels = toy_dataset(3, 256, seed=0)
    m = train_on_images(images, labels, tile_size=256, cv_folds=2, augment=0)
    res = m.classify(sorted(uhcs_originals_dir.glob("*.tif")))
    assert len(res) == 5 and all(r["tiles"] == 6 for r in res)   # 645 x 484 after the 38-row bar
