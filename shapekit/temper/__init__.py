"""shapekit.temper: classify the temper of a micrograph from its topology (TopTemp) or with a CNN.

Public API (loaded on first use, so ``import shapekit.temper`` stays cheap):

* :func:`~shapekit.temper.presets.toptemp_features` / :data:`~shapekit.temper.presets.PRESETS` --
  the feature pipelines (scikit-learn ``Pipeline`` of :mod:`shapekit.topology` steps);
* :class:`~shapekit.temper.classifier.TopTempClassifier` -- calibrated SVM/logreg/XGBoost on
  feature rows (a scikit-learn classifier);
* :class:`~shapekit.temper.pooling.ScanClassifier`, :class:`~shapekit.temper.pooling.ScanTiles`
  -- tiles -> scan verdict; :func:`~shapekit.temper.selection.select_model` -- ``GridSearchCV``
  over scans (grouped folds when there are groups);
* :func:`~shapekit.temper.train.train_on_images` / :func:`~shapekit.temper.train.train_model`
  -> :class:`~shapekit.temper.model.TemperModel` (``.classify``, ``.save``);
  :func:`~shapekit.temper.modeldir.load_model` reads a model directory back;
* :func:`~shapekit.temper.explain.explain_scan` -- the persistence pairs behind a verdict
  (figures: :mod:`~shapekit.temper.explainplot`);
* :class:`~shapekit.temper.cnn.SmallResNet` -- the CNN baseline and feature extractor;
* :mod:`~shapekit.temper.robustness` -- the perturbations of the robustness study.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "presets": ["PRESETS", "DEFAULT_PRESET", "feature_params", "toptemp_features"],
    "classifier": ["TopTempClassifier"],
    "pooling": ["ScanClassifier", "ScanTiles"],
    "selection": ["select_model", "scan_splitter", "scores"],
    "probabilities": ["TemperatureScaler"],
    "train": ["train_on_images", "train_model"],
    "model": ["TemperModel"],
    "modeldir": ["load_model", "write_model_dir"],
    "explain": ["explain_scan"],
    "explainplot": ["plot_explanation", "plot_confusion", "plot_tile_map"],
    "cnn": ["SmallResNet", "FeatureExtractor", "load_feature_extractor"],
    "cnn_train": ["fit_tile_cnn"],
    "robustness": ["robustness_table", "PERTURBATIONS", "perturb"],
})
