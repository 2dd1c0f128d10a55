"""Probability calibration of classifier scores: temperature scaling with per-class bias.

``p = softmax(s / T + b)`` with one temperature ``T > 0`` and a bias per class, fitted by minimising
the negative log-likelihood of *out-of-fold* scores (so the calibration never sees the scores of
the samples a model was trained on). Two numbers per class: they serialise to plain JSON.

References
----------
.. [1] C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger, "On Calibration of Modern Neural Networks",
   ICML 2017 (temperature and vector scaling).
.. [2] J. Platt, "Probabilistic outputs for support vector machines", 1999.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapekit._params import check_bool, check_number
from shapekit.errors import InputError, ModelFormatError


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class TemperatureScaler:
    """Fit ``softmax(scores / T + b)`` to labels (temperature scaling with class bias).

    Parameters
    ----------
    bias : bool
        Fit a bias per class besides the temperature.
    l2 : float
        Ridge penalty on the biases (keeps them finite with tiny or separable data).

    Attributes
    ----------
    temperature_ : float
    bias_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> s = np.stack([-(2 * y - 1), 2 * y - 1], 1) * 10.0 + rng.normal(0, 8, (400, 2))
    >>> ts = TemperatureScaler().fit(s, y)
    >>> ts.temperature_ > 1.0      # over-confident scores get softened
    True
    >>> TemperatureScaler.from_dict(ts.to_dict()).predict_proba(s[:2]).shape
    (2, 2)

    References
    ----------
    Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.
    """

    def __init__(self, bias: bool = True, l2: float = 1e-3) -> None:
        self.bias = bias
        self.l2 = l2

    def fit(self, scores: np.ndarray, y: np.ndarray) -> TemperatureScaler:
        from scipy.optimize import minimize

        check_bool("bias", self.bias)
        check_number("l2", self.l2, low=0)
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if s.ndim != 2 or len(s) != len(y) or len(s) == 0:
            raise InputError(f"calibration needs (n, k) scores and n labels, got {s.shape}, {y.shape}")
        if not np.isfinite(s).all():
            raise InputError("calibration scores contain NaN or Inf")
        k = s.shape[1]
        onehot = np.eye(k)[y]

        def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
            logt, b = theta[0], (theta[1:] if self.bias else np.zeros(k))
            t = np.exp(logt)
            z = s / t + b
            p = softmax(z)
            loss = -np.mean(np.log(np.clip((p * onehot).sum(1), 1e-300, None)))
            loss += self.l2 * float(b @ b)
            g_z = (p - onehot) / len(s)
            g_logt = float(np.sum(g_z * (-s / t)))
            grad = [g_logt] + (list(g_z.sum(0) + 2 * self.l2 * b) if self.bias else [])
            return float(loss), np.asarray(grad)

        theta0 = np.zeros(1 + (k if self.bias else 0))
        res = minimize(nll, theta0, jac=True, method="L-BFGS-B",
                       bounds=[(-7.0, 7.0)] + [(-20.0, 20.0)] * (k if self.bias else 0))
        self.temperature_ = float(np.exp(res.x[0]))
        self.bias_ = np.asarray(res.x[1:] if self.bias else np.zeros(k), dtype=np.float64)
        return self

    def predict_proba(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        return softmax(s / self.temperature_ + self.bias_)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON state."""
        return {"method": "temperature", "temperature": self.temperature_,
                "bias": [float(b) for b in self.bias_]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TemperatureScaler:
        try:
            obj = cls(bias=True)
            obj.temperature_ = float(d["temperature"])
            obj.bias_ = np.asarray(d["bias"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFormatError(f"invalid calibration state: {e}") from None
        if not obj.temperature_ > 0:
            raise ModelFormatError(f"invalid calibration temperature {obj.temperature_}")
        return obj


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins).

    Examples
    --------
    >>> expected_calibration_error(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    0.0
    """
    p = np.asarray(proba, dtype=np.float64)
    conf, pred = p.max(1), p.argmax(1)
    correct = (pred == np.asarray(y)).astype(np.float64)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)
