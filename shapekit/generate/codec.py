"""The conditions a generator is trained on and asked for: temper class names plus continuous
process parameters or properties, with the statistics that normalise them for the network.

Kept apart from :mod:`shapekit.generate.data` (which needs PyTorch Lightning) so that loading and
sampling a generator does not import Lightning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

__all__ = ["ConditionCodec", "MODES", "LOG_SPAN"]

MODES = ("class", "parameters", "properties")
LOG_SPAN = 30.0


class ConditionCodec:
    """Names, z-score statistics and training ranges of the continuous conditions + label names.

    Parameters
    ----------
    label_names : sequence of str
        Temper class names (index = class id).
    names : sequence of str
        Continuous condition names (empty in ``class`` mode).
    mean, std, lo, hi : sequence of float
        Per-condition training mean, standard deviation, minimum and maximum.
    mode : str
        Conditioning mode (``class``, ``parameters`` or ``properties``).
    log : sequence of bool, optional
        Per condition: normalise ``log10(value)`` instead of the value. :meth:`fit` chooses it for
        positive conditions spanning more than ``LOG_SPAN`` (e.g. aging time, 0.1-100 h), so that
        log-uniformly sampled process parameters are spread evenly in the network's input.

    Examples
    --------
    >>> c = ConditionCodec.fit(["a", "b"], ["t"], np.array([[1.0], [3.0]]), mode="parameters")
    >>> c.encode(np.array([[3.0]])).round(3).tolist()
    [[1.0]]
    >>> ConditionCodec.from_dict(c.to_dict()).ranges
    {'t': (1.0, 3.0)}
    """

    def __init__(self, label_names: Sequence[str], names: Sequence[str], mean: Sequence[float],
                 std: Sequence[float], lo: Sequence[float], hi: Sequence[float],
                 mode: str = "class", log: Sequence[bool] | None = None) -> None:
        self.label_names = [str(n) for n in label_names]
        self.names = [str(n) for n in names]
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        self.lo = np.asarray(lo, dtype=np.float64).reshape(-1)
        self.hi = np.asarray(hi, dtype=np.float64).reshape(-1)
        self.mode = mode
        self.log = np.zeros(len(self.names), bool) if log is None else np.asarray(log, bool)

    @classmethod
    def fit(cls, label_names: Sequence[str], names: Sequence[str], values: np.ndarray,
            mode: str = "class") -> "ConditionCodec":
        """Statistics from the training table ``values`` of shape ``(n_images, len(names))``."""
        v = np.asarray(values, dtype=np.float64).reshape(-1, len(names)) if names else np.zeros((0, 0))
        if names and not np.isfinite(v).all():
            bad = int(np.argwhere(~np.isfinite(v))[0][0])
            raise InputError(f"condition values missing or not finite in row {bad} "
                             f"(columns {', '.join(names)})")
        if not names:
            return cls(label_names, [], [], [], [], [], mode)
        lo, hi = v.min(axis=0), v.max(axis=0)
        log = (lo > 0) & (hi >= LOG_SPAN * np.where(lo > 0, lo, 1))
        t = np.where(log, np.log10(np.where(log, v, 1.0)), v)
        std = t.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return cls(label_names, names, t.mean(axis=0), std, lo, hi, mode, log)

    @property
    def n_cond(self) -> int:
        return len(self.names)

    @property
    def ranges(self) -> dict[str, tuple[float, float]]:
        return {n: (float(a), float(b)) for n, a, b in zip(self.names, self.lo, self.hi)}

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Raw values ``(n, k)`` -> normalised float32 ``(n, k)``."""
        v = np.asarray(values, dtype=np.float64).reshape(-1, self.n_cond)
        if self.log.any():
            if (v[:, self.log] <= 0).any():
                bad = [f"{n}={v[:, j].min():g}" for j, (n, lg) in enumerate(zip(self.names, self.log))
                       if lg and (v[:, j] <= 0).any()]
                one = len(bad) == 1
                raise InputError(f"condition{'' if one else 's'} {', '.join(bad)}: "
                                 f"{'it is' if one else 'they are'} log-scaled and must be > 0")
            v = np.where(self.log, np.log10(np.where(self.log, v, 1.0)), v)
        return ((v - self.mean) / self.std).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Normalised ``(n, k)`` -> raw values (the inverse of :meth:`encode`)."""
        v = np.asarray(z, dtype=np.float64).reshape(-1, self.n_cond) * self.std + self.mean
        return np.where(self.log, 10.0 ** np.where(self.log, v, 0.0), v)

    def default_values(self) -> dict[str, float]:
        """The centre of the training distribution (geometric mean for log-scaled conditions)."""
        c = np.array(self.mean, dtype=np.float64, copy=True)
        c[self.log] = 10.0 ** c[self.log]  # only the log-scaled ones (10**1000 overflows)
        return {n: float(x) for n, x in zip(self.names, c)}

    def label_index(self, label: str | int) -> int:
        """Class index of a label name (or an index given as int/str of an int)."""
        if isinstance(label, (int, np.integer)) and 0 <= int(label) < len(self.label_names):
            return int(label)
        if str(label) in self.label_names:
            return self.label_names.index(str(label))
        raise InputError(f"unknown label {label!r}; known labels: {', '.join(self.label_names)}")

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "label_names": self.label_names, "names": self.names,
                "mean": self.mean.tolist(), "std": self.std.tolist(),
                "min": self.lo.tolist(), "max": self.hi.tolist(), "log": self.log.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConditionCodec":
        return cls(d["label_names"], d["names"], d["mean"], d["std"], d["min"], d["max"],
                   d.get("mode", "class"), d.get("log"))
