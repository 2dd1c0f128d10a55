"""shapekit.temper: classify the temper of a micrograph from its topology (TopTemp) or with a CNN.

Public API (imported lazily, so ``import shapekit.temper`` stays cheap):

* :class:`~shapekit.temper.cnn.SmallResNet` -- small ResNet (plain torch), ``.features(x)`` embedding;
* :func:`~shapekit.temper.modeldir.load_model` -- a trained model directory -> object with
  ``.classify(images_or_paths)``, ``.label_names`` and (CNN models) ``.feature_extractor()``;
* :func:`~shapekit.temper.train.train_model` / :func:`~shapekit.temper.train.train_on_images` --
  train a model directory from a manifest or from in-memory scans;
* :class:`~shapekit.temper.features.TopTempTileFeaturizer` -- multi-scale TopTemp tile features
  (a fixed-grid configuration of the :mod:`shapekit.topology` core and its batched kernel);
* :func:`~shapekit.temper.explain.explain_scan` -- the persistence pairs behind a verdict;
* :class:`~shapekit.temper.classifier.TopTempClassifier` -- calibrated XGBoost/logreg/SVM on features;
* :mod:`~shapekit.temper.robustness` -- the perturbations of the robustness study.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SmallResNet": "shapekit.temper.cnn",
    "FeatureExtractor": "shapekit.temper.cnn",
    "fit_tile_cnn": "shapekit.temper.cnn_train",
    "TopTempClassifier": "shapekit.temper.classifier",
    "TemperatureScaler": "shapekit.temper.calibration",
    "load_model": "shapekit.temper.modeldir",
    "write_model_dir": "shapekit.temper.modeldir",
    "TemperModel": "shapekit.temper.model",
    "train_model": "shapekit.temper.train",
    "train_on_images": "shapekit.temper.train",
    "explain_scan": "shapekit.temper.explain",
    "TopTempTileFeaturizer": "shapekit.temper.features",
    "tile_features": "shapekit.temper.features",
    "robustness_table": "shapekit.temper.robustness",
    "toy_dataset": "shapekit.temper.toy",
    "PERTURBATIONS": "shapekit.temper.robustness",
    "perturb": "shapekit.temper.robustness",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'shapekit.temper' has no attribute {name!r}")


__all__ = sorted(_LAZY)
