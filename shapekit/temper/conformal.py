"""Split-conformal prediction sets from class probabilities, with a stated marginal coverage.

Calibrated on held-out ``(probabilities, true label)`` pairs (e.g. the out-of-fold probabilities of
a classifier's cross-validation), :class:`ConformalSets` returns for each new scan the set of
labels that contains the true one with probability at least ``coverage`` (marginally, for scans
exchangeable with the calibration scans). Two non-conformity scores:

* ``"lac"`` (least ambiguous set-valued classifier): ``1 - p_true``; the smallest sets on average;
* ``"aps"`` (adaptive prediction sets, non-randomised): the probability mass of the labels ranked
  at or above the true one; sets adapt to how hard a scan is. An APS set always holds the most
  probable label: its score is that label's own probability, so a scan more confident than the
  threshold would otherwise get an empty set, the more likely the surer the classifier (adding
  labels keeps the coverage).

With ``"lac"`` a set may be empty (no label is plausible enough at that coverage): report it as
such rather than forcing the most probable label in.

References
----------
.. [1] M. Sadinle, J. Lei, L. Wasserman, "Least Ambiguous Set-Valued Classifiers with Bounded
   Error Levels", JASA 114, 2019.
.. [2] Y. Romano, M. Sesia, E. Candes, "Classification with Valid and Adaptive Coverage",
   NeurIPS 2020.
.. [3] A. Angelopoulos, S. Bates, "A Gentle Introduction to Conformal Prediction and
   Distribution-Free Uncertainty Quantification", arXiv:2107.07511, 2021.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from shapekit._params import check_choice, check_number
from shapekit.errors import InputError
from shapekit.temper.ood import conformal_quantile

SCORES = ("lac", "aps")
STATE_VERSION = 1


def _proba(P: Any, k: int | None = None) -> np.ndarray:
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] < 2:
        raise InputError(f"probabilities must be an (n, k >= 2) matrix, got shape {P.shape}")
    if k is not None and P.shape[1] != k:
        raise InputError(f"probabilities have {P.shape[1]} classes, the sets were calibrated on {k}")
    if not np.isfinite(P).all() or (P < -1e-9).any():
        raise InputError("probabilities must be finite and non-negative")
    return P


def _aps_mass(P: np.ndarray) -> np.ndarray:
    """Per label, the total probability of the labels ranked at or above it (ties by index)."""
    order = np.argsort(-P, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(P, order, axis=1), axis=1)
    out = np.empty_like(P)
    np.put_along_axis(out, order, cum, axis=1)
    return out


class ConformalSets(BaseEstimator):
    """Prediction sets with marginal coverage ``coverage`` (split conformal).

    Parameters
    ----------
    coverage : float
        Wanted probability that the set holds the true label (e.g. 0.9).
    score : {"lac", "aps"}
        Non-conformity score (see the module docstring).

    Attributes
    ----------
    qhat_ : float
        Calibrated score threshold; a label is in the set when its score is ``<= qhat_``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 2000)
    >>> logits = rng.normal(size=(2000, 3)); logits[np.arange(2000), y] += 1.5
    >>> P = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    >>> cs = ConformalSets(coverage=0.9).fit(P[:1000], y[:1000])
    >>> covered = cs.predict(P[1000:])[np.arange(1000), y[1000:]].mean()
    >>> bool(0.87 <= covered <= 0.93)
    True
    >>> cs.label_sets(np.array([[0.96, 0.03, 0.01]]), ["a", "b", "c"])
    [['a']]
    >>> aps = ConformalSets(coverage=0.9, score="aps").fit(P[:1000], y[:1000])
    >>> aps.qhat_ < 0.999, aps.label_sets(np.array([[0.999, 0.0005, 0.0005]]), ["a", "b", "c"])
    (True, [['a']])
    """

    def __init__(self, coverage: float = 0.9, score: str = "lac") -> None:
        self.coverage = coverage
        self.score = score

    def _check_params(self) -> None:
        check_choice("score", self.score, SCORES)
        check_number("coverage", self.coverage, 0, 1, low_open=True, high_open=True)

    def _scores(self, P: np.ndarray) -> np.ndarray:
        return 1.0 - P if self.score == "lac" else _aps_mass(P)

    def fit(self, proba: Any, y: Any) -> ConformalSets:
        """Calibrate on held-out probabilities ``(n, k)`` and true labels ``0..k-1``."""
        self._check_params()
        P = _proba(proba)
        y = np.asarray(y)
        if y.shape != (len(P),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= P.shape[1]:
            raise InputError(f"y must hold {len(P)} integer labels in 0..{P.shape[1] - 1}")
        s = self._scores(P)[np.arange(len(P)), y]
        q = conformal_quantile(s, float(self.coverage))
        self.qhat_ = float(min(q, 1.0 + 1e-9))  # too few scans: every label (coverage trivially met)
        self.n_classes_, self.n_calibration_ = int(P.shape[1]), int(len(P))
        return self

    def predict(self, proba: Any) -> np.ndarray:
        """Boolean membership ``(n, k)``: label j is in scan i's set."""
        check_is_fitted(self, "qhat_")
        P = _proba(proba, self.n_classes_)
        mask = self._scores(P) <= self.qhat_ + 1e-12
        if self.score == "aps":  # the top label's score is its own p: never drop it for being sure
            mask[np.arange(len(P)), np.argmax(P, axis=1)] = True
        return mask

    def label_sets(self, proba: Any, label_names: Sequence[str]) -> list[list[str]]:
        """The sets as label lists, most probable first."""
        mask = self.predict(proba)
        P = np.asarray(proba, dtype=np.float64)
        return [[str(label_names[j]) for j in np.argsort(-p, kind="stable") if m[j]] for p, m in zip(P, mask)]

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state (no arrays needed)."""
        check_is_fitted(self, "qhat_")
        return {"kind": "conformal_sets", "version": STATE_VERSION, "coverage": float(self.coverage),
                "score": self.score, "qhat": self.qhat_, "n_classes": self.n_classes_,
                "n_calibration": self.n_calibration_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ConformalSets:
        """Rebuild from :meth:`to_state` output."""
        if state.get("kind") != "conformal_sets" or int(state.get("version", -1)) != STATE_VERSION:
            raise InputError(f"not a conformal-sets state of version {STATE_VERSION}: {state.get('kind')!r}")
        self = cls(coverage=float(state["coverage"]), score=str(state["score"]))
        self.qhat_ = float(state["qhat"])
        self.n_classes_, self.n_calibration_ = int(state["n_classes"]), int(state["n_calibration"])
        return self
