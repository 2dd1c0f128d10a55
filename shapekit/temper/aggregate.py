"""From tiles to scans: covering tiling, feature pooling and probability averaging.

A scan is cut into ``size`` x ``size`` tiles whose origins are spread evenly so that the tiles cover
the whole scan with the least overlap and no padding (padding would add mirror-image topology).
The scan's verdict is then either the mean of its tiles' class probabilities (``"proba"``) or the
classifier applied to the mean of its tiles' features (``"features"``); which one a model uses
is chosen by cross-validation and stored in its config.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
"""

from __future__ import annotations

import numpy as np

from shapekit.errors import InputError

AGGREGATIONS = ("proba", "features")


def cover_origins(length: int, size: int) -> np.ndarray:
    """Evenly spread origins of the fewest tiles of ``size`` that cover ``[0, length)``.

    ``ceil(length / size)`` tiles, the first at 0 and the last ending at ``length``.

    Examples
    --------
    >>> cover_origins(645, 256).tolist()
    [0, 194, 389]
    >>> cover_origins(256, 256).tolist()
    [0]
    """
    if size < 1 or length < size:
        raise InputError(f"axis of {length} px is smaller than one tile of {size} px")
    n = -(-length // size)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    return np.round(np.linspace(0, length - size, n)).astype(np.int64)


def scan_tiles(image: np.ndarray, size: int | None, source: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """Cut a scan into covering tiles: ``(tiles (n, size, size) float32, coords (n, 2))``.

    ``size=None`` means the whole scan as a single tile.

    Examples
    --------
    >>> t, c = scan_tiles(np.zeros((475, 645), np.float32), 256)
    >>> t.shape, c[-1].tolist()
    ((6, 256, 256), [219, 389])
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"{source}: expected a 2-D grey image, got shape {img.shape}")
    if size is None:
        return img[None], np.zeros((1, 2), dtype=np.int64)
    h, w = img.shape
    if h < size or w < size:
        raise InputError(f"{source}: image of {h}x{w} px is smaller than one {size}x{size} tile")
    rows, cols = cover_origins(h, size), cover_origins(w, size)
    coords = np.array([(r, c) for r in rows for c in cols], dtype=np.int64)
    tiles = np.stack([img[r:r + size, c:c + size] for r, c in coords])
    return tiles, coords


def pool_by_group(values: np.ndarray, groups: np.ndarray, n_groups: int | None = None) -> np.ndarray:
    """Mean of the rows of ``values`` per integer group id ``0..n_groups-1``.

    Examples
    --------
    >>> pool_by_group(np.array([[1.], [3.], [5.]]), np.array([0, 0, 1])).ravel().tolist()
    [2.0, 5.0]
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups, dtype=np.int64)
    if len(values) != len(groups):
        raise InputError(f"{len(values)} rows but {len(groups)} group ids")
    k = int(groups.max()) + 1 if n_groups is None else int(n_groups)
    sums = np.zeros((k, values.shape[1]))
    np.add.at(sums, groups, values)
    counts = np.bincount(groups, minlength=k).astype(np.float64)
    if (counts == 0).any():
        raise InputError(f"group(s) {np.flatnonzero(counts == 0).tolist()} have no tiles")
    return sums / counts[:, None]


def average_log_proba(tile_proba: np.ndarray, groups: np.ndarray, n_groups: int | None = None,
                      eps: float = 1e-6) -> np.ndarray:
    """Normalised geometric mean of tile probabilities per scan (a product-of-experts vote).

    Examples
    --------
    >>> p = average_log_proba(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 0]))
    >>> p.round(3).tolist()
    [[0.786, 0.214]]
    """
    logp = pool_by_group(np.log(np.clip(tile_proba, eps, 1.0)), groups, n_groups)
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)
