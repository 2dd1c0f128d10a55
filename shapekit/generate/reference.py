"""Generate at a reference set's own conditions, so that a generated set and a real set compare
like with like.

A parameters- or properties-mode generator asked for no condition makes every image at the
training mean; scored against a real set that spans many conditions, such a set is "different"
and "collapsed" by construction. :func:`conditions_of_set` draws ``n`` rows of a manifest that
carries the generator's labels and condition columns (a simulator manifest, or any manifest the
generator was trained on), and :func:`sample_like` makes one image per row: the set the realism
score should see (as ``benchmarks/gan_whole_images.py`` does with held-out conditions).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["clipped_conditions", "conditions_of_set", "sample_like"]


def clipped_conditions(labels: Any, values: Any, names: list[str],
                       ranges: dict[str, tuple[float, float]]) -> list[tuple[str, dict[str, float]]]:
    """``(label, {name: value})`` per row of ``values`` ``(n, len(names))``, each value clipped to
    its training range in ``ranges`` (a held-out draw can fall a fraction outside it; sampling it
    would warn of an extrapolation nobody asked for).

    Examples
    --------
    >>> clipped_conditions(["a", "b"], [[119.0, 8.0], [150.0, 120.0]], ["T", "t"],
    ...                    {"T": (120.0, 220.0), "t": (0.1, 100.0)})
    [('a', {'T': 120.0, 't': 8.0}), ('b', {'T': 150.0, 't': 100.0})]
    """
    v = np.asarray(values, dtype=np.float64).reshape(len(labels), len(names))
    lo = np.array([ranges[k][0] for k in names], dtype=np.float64)
    hi = np.array([ranges[k][1] for k in names], dtype=np.float64)
    return [(str(lab), dict(zip(names, map(float, row)))) for lab, row in zip(labels, np.clip(v, lo, hi))]


def conditions_of_set(manifest: str | os.PathLike[str], gen: Any, n: int,
                      seed: int = 0) -> list[tuple[str, dict[str, float]]] | None:
    """``n`` ``(label, conditions)`` pairs drawn from ``seed`` among the manifest's rows (without
    replacement while there are enough), each condition clipped to the generator's training range;
    for a class-mode generator (no conditions) the rows' labels alone, with empty conditions.
    None when the manifest lacks the generator's labels or condition columns.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "t.csv").write_text("path,label,t\\na.png,x,1\\nb.png,y,50\\n")
    >>> for f in ("a.png", "b.png"):
    ...     _ = (d / f).write_bytes(b"")  # the table's images (not read here)
    >>> _ = (d / "m.yaml").write_text("name: m\\ntable: t.csv\\nimage: path\\nlabel: label\\n"
    ...                               "parameters: [t]\\n")
    >>> gen = SimpleNamespace(label_names=["x", "y"], ranges={"t": (0.5, 20.0)},
    ...                       codec=SimpleNamespace(names=["t"], n_cond=1))
    >>> sorted(conditions_of_set(d / "m.yaml", gen, 2, seed=0))
    [('x', {'t': 1.0}), ('y', {'t': 20.0})]
    >>> classes = SimpleNamespace(label_names=["x", "y"], ranges={},
    ...                           codec=SimpleNamespace(names=[], n_cond=0))
    >>> sorted(conditions_of_set(d / "m.yaml", classes, 2, seed=0))   # the rows' tempers
    [('x', {}), ('y', {})]
    """
    from shapekit.io.manifest import load_manifest

    names = list(gen.codec.names)
    if str(manifest).lower().rsplit(".", 1)[-1] not in ("yaml", "yml"):
        return None
    man = load_manifest(manifest)
    labels = man.labels
    if labels is None or not set(names) <= set(man.table.columns) \
            or not set(map(str, labels)) <= set(map(str, gen.label_names)):
        return None
    vals = man.table[names].to_numpy(dtype=np.float64).reshape(len(labels), len(names))
    rows = np.flatnonzero(np.isfinite(vals).all(axis=1))
    if rows.size == 0:
        return None
    pick = np.random.default_rng(seed).choice(rows, int(n), replace=int(n) > rows.size)
    return clipped_conditions(labels[pick], vals[pick], names, gen.ranges)


def sample_like(gen: Any, plan: list[tuple[str, dict[str, float]]], seed: int = 0,
                size: Any = None) -> np.ndarray:
    """One image per ``(label, conditions)`` of ``plan`` (image ``i`` from seed ``seed + i``):
    ``(len(plan), h, w)`` float32 in ``[0, 1]``."""
    return np.concatenate([gen.sample(1, label, cond, seed=int(seed) + i, size=size)
                           for i, (label, cond) in enumerate(plan)])
