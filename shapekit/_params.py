"""Checks of estimator parameters: a bad value fails at ``fit`` with one line naming it.

scikit-learn's own parameter validation (``sklearn.utils._param_validation``) is private, so
shapekit's estimators check their parameters here, each with the range it accepts, and raise
:class:`~shapekit.errors.InputError` (the CLI turns it into a one-line error, exit code 2).
Parameters stay stored untouched in ``__init__``; these functions only look at them.

Booleans are refused where a number is expected (``True`` is not a count), strings where a bool
is (``"no"`` is true), and an integer parameter takes an int or an integral float (``16.0``),
never ``2.5``.

Examples
--------
>>> check_number("per_area", 1e4, low=0, low_open=True, none=True)
>>> check_number("per_area", -1, low=0, low_open=True, none=True)
Traceback (most recent call last):
...
shapekit.errors.InputError: per_area=-1 must be None or a finite number > 0
>>> check_int("n_points", 2.5, low=1)
Traceback (most recent call last):
...
shapekit.errors.InputError: n_points=2.5 must be an int >= 1
>>> check_choice("score", "raps", ("lac", "aps"))
Traceback (most recent call last):
...
shapekit.errors.InputError: score='raps' must be one of ('lac', 'aps')
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError, brief

__all__ = ["check_bool", "check_choice", "check_int", "check_number", "check_numbers"]


def _fail(name: str, value: Any, what: str, none: bool) -> None:
    raise InputError(f"{name}={brief(value)} must be {'None or ' if none else ''}{what}")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_num(high)}"
    return ""


def _inside(v: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    return not ((low is not None and (v <= low if low_open else v < low))
                or (high is not None and (v >= high if high_open else v > high)))


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, none: bool = False,
                 finite: bool = True, nan: bool = False) -> None:
    """Raise :class:`InputError` unless ``value`` is a real number (not a bool) within the bounds
    (closed unless ``*_open``), finite unless ``finite=False``, not NaN unless ``nan``, or None
    if ``none``.

    Examples
    --------
    >>> check_number("level", 0.99, 0.5, 1.0, high_open=True)
    >>> check_number("level", float("nan"), 0.5, 1.0, high_open=True)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: level=nan must be a number in [0.5, 1)
    """
    if value is None and none:
        return
    word = "finite number" if finite and (low is None or high is None) else "number"
    what = f"a {word}{_range(low, high, low_open, high_open)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        _fail(name, value, what, none)
    v = float(value)
    if math.isnan(v):
        if not nan:
            _fail(name, value, what, none)
    elif (finite and math.isinf(v)) or not _inside(v, low, high, low_open, high_open):
        _fail(name, value, what, none)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None, *,
              none: bool = False, not_zero: bool = False) -> None:
    """Raise :class:`InputError` unless ``value`` is an integer (an int, or a float equal to one;
    not a bool) in ``[low, high]`` (and not 0 with ``not_zero``), or None if ``none``.

    Examples
    --------
    >>> check_int("cv", 5, low=2)
    >>> check_int("n_jobs", 0, none=True, not_zero=True)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: n_jobs=0 must be None or a non-zero int
    """
    if value is None and none:
        return
    what = f"a{' non-zero' if not_zero else 'n'} int{_range(low, high, False, False)}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        _fail(name, value, what, none)
    v = float(value)
    if not (math.isfinite(v) and v.is_integer()) or not _inside(v, low, high, False, False) \
            or (not_zero and v == 0):
        _fail(name, value, what, none)


def check_bool(name: str, value: Any) -> None:
    """Raise :class:`InputError` unless ``value`` is ``True`` or ``False`` (numpy's too).

    Examples
    --------
    >>> check_bool("log1p", "no")
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: log1p='no' must be True or False
    """
    if not isinstance(value, (bool, np.bool_)):
        _fail(name, value, "True or False", False)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """Raise :class:`InputError` unless ``value`` is one of the strings ``choices``."""
    if not (isinstance(value, str) and value in choices):
        _fail(name, value, f"one of {tuple(choices)}", False)


def check_numbers(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                  integer: bool = False, empty: bool = True) -> None:
    """Raise :class:`InputError` unless ``value`` is a sequence (not a string) of finite numbers
    (ints with ``integer``) in ``[low, high]``, non-empty unless ``empty``.

    Examples
    --------
    >>> check_numbers("quantiles", (0.1, 0.5), 0, 1)
    >>> check_numbers("scales", 2, 1, integer=True, empty=False)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: scales=2 must be a non-empty sequence of ints >= 1
    """
    kind = "ints" if integer else "finite numbers"
    what = (f"a{'' if empty else ' non-empty'} sequence of {kind}"
            f"{_range(low, high, False, False)}")
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)) \
            or (isinstance(value, np.ndarray) and value.ndim != 1) or (not empty and not len(value)):
        _fail(name, value, what, False)
    for v in value:
        try:
            (check_int if integer else check_number)(name, v, low, high)
        except InputError:
            _fail(name, value, what, False)
