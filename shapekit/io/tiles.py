"""Tiling a scan into fixed-size square tiles that keep their position in the scan.

Tile origins run ``0, stride, 2*stride, ...`` along each axis. With ``pad="none"`` only tiles that
lie fully inside the image are produced (a remainder narrower than one tile at the bottom/right is
dropped); with ``pad="reflect"`` or ``"constant"`` origins continue until the whole image is
covered and the part of a tile beyond the bottom/right edge is filled by mirror reflection
(``numpy.pad`` ``"reflect"``, edge sample not repeated) or by ``cval``. Coordinates are always
the ``(row, col)`` of a tile's top-left pixel in the unpadded scan, so results map back to it.
``pad="cover"`` (no ``stride``) covers the whole image without padding: the fewest tiles,
``ceil(length / size)`` per axis, with origins spread evenly from 0 to ``length - size`` (tiles
overlap a little; padding would add mirror-image topology). This is how the temper classifier
cuts scans.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from shapekit.errors import InputError
from shapekit.io.budget import check_pixel_budget

PAD_MODES = ("reflect", "constant", "none", "cover")


@dataclass
class Tiles:
    """A batch of square tiles and where they came from.

    Attributes
    ----------
    tiles : ndarray of float32, shape (n, size, size)
    coords : ndarray of int64, shape (n, 2)
        ``(row, col)`` of each tile's top-left corner in the scan.
    image_shape : tuple of int
        ``(height, width)`` of the scan the tiles were cut from.

    Examples
    --------
    >>> t = Tiles(np.zeros((2, 8, 8), np.float32), np.array([[0, 0], [0, 8]]), (8, 16))
    >>> len(t), t.size
    (2, 8)
    """

    tiles: np.ndarray
    coords: np.ndarray
    image_shape: tuple[int, int]

    def __len__(self) -> int:
        return int(self.tiles.shape[0])

    @property
    def size(self) -> int:
        """Side length of the tiles in pixels."""
        return int(self.tiles.shape[1])


def _validate(image: np.ndarray, size: int, stride: int | None, pad: str,
              shape: tuple[int, int] | None = None) -> tuple[np.ndarray, int, int]:
    img = np.asarray(image)
    if shape is None and img.ndim != 2:
        raise InputError(f"tiling expects a 2-D grey image, got shape {img.shape}")
    if isinstance(size, bool) or int(size) != size or int(size) < 1:
        raise InputError(f"tile size must be a positive integer, got {size!r}")
    size = int(size)
    stride = size if stride is None else stride
    if isinstance(stride, bool) or int(stride) != stride or int(stride) < 1:
        raise InputError(f"tile stride must be a positive integer, got {stride!r}")
    if pad not in PAD_MODES:
        raise InputError(f"pad must be one of {', '.join(PAD_MODES)}; got {pad!r}")
    h, w = img.shape if shape is None else shape
    if h == 0 or w == 0:
        raise InputError(f"cannot tile an empty image of shape {(h, w)}")
    if pad == "cover" and stride != size:
        raise InputError("pad='cover' places the tiles itself: give no stride")
    if pad in ("none", "cover") and (h < size or w < size):
        raise InputError(f"image of {h}x{w} pixels is smaller than one {size}x{size} tile: "
                         f"a model with {size}-px tiles needs scans of at least {size} px a side "
                         f"(in Python: a smaller tile size, or pad='reflect')")
    return img, size, int(stride)


def _origins(length: int, size: int, stride: int, pad: str) -> np.ndarray:
    if pad == "cover":
        n = -(-length // size)
        return np.round(np.linspace(0, length - size, n)).astype(np.int64) if n > 1 else \
            np.zeros(1, dtype=np.int64)
    if pad == "none":
        return np.arange(0, length - size + 1, stride, dtype=np.int64)
    last = max(length - size, 0)
    n = -(-last // stride) + 1  # ceil(last / stride) + 1 origins cover the axis
    return np.arange(n, dtype=np.int64) * stride


def tile_origins(shape: tuple[int, int], size: int, stride: int | None = None,
                 pad: str = "reflect") -> np.ndarray:
    """All tile origins ``(row, col)`` (row-major), shape ``(n, 2)``, without cutting tiles.

    Examples
    --------
    >>> tile_origins((5, 7), 4, pad="none").tolist()
    [[0, 0]]
    >>> len(tile_origins((5, 7), 4, pad="reflect"))
    4
    >>> tile_origins((256, 645), 256, pad="cover")[:, 1].tolist()
    [0, 194, 389]
    """
    rows, cols = _axis_origins(shape, size, stride, pad)
    check_pixel_budget((len(rows) * len(cols), 2), f"origins of tiles every {stride or size} px "
                       f"of a {shape[0]}x{shape[1]} image")
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], axis=1)


def _axis_origins(shape: tuple[int, int], size: int, stride: int | None,
                  pad: str) -> tuple[np.ndarray, np.ndarray]:
    _, size, stride = _validate(np.empty((0, 0), dtype=np.uint8), size, stride, pad,
                                shape=(int(shape[0]), int(shape[1])))
    return _origins(int(shape[0]), size, stride, pad), _origins(int(shape[1]), size, stride, pad)


def count_tiles(shape: tuple[int, int], size: int, stride: int | None = None,
                pad: str = "reflect") -> int:
    """Number of tiles :func:`tile_image` would cut, computed without allocating them.

    Examples
    --------
    >>> count_tiles((10, 13), 4, pad="reflect"), count_tiles((10, 13), 4, pad="none")
    (12, 6)
    """
    rows, cols = _axis_origins(shape, size, stride, pad)
    return len(rows) * len(cols)


def _axis_index(start: int, size: int, length: int, pad: str) -> np.ndarray:
    """Source indices of ``start .. start+size-1`` on an axis of ``length`` (-1: constant fill)."""
    idx = np.arange(start, start + size, dtype=np.int64)
    if pad == "reflect":
        if length == 1:
            return np.zeros_like(idx)
        period = 2 * (length - 1)
        m = idx % period
        return np.where(m < length, m, period - m)
    return np.where(idx < length, idx, -1)


def _cut(img: np.ndarray, r: int, c: int, size: int, pad: str, cval: float) -> np.ndarray:
    h, w = img.shape
    if r + size <= h and c + size <= w:
        return img[r:r + size, c:c + size]
    ri, ci = _axis_index(r, size, h, pad), _axis_index(c, size, w, pad)
    tile = img[np.ix_(np.maximum(ri, 0), np.maximum(ci, 0))].astype(np.float32)
    if pad == "constant":
        tile[(ri < 0)[:, None] | (ci < 0)[None, :]] = cval
    return tile


def iter_tiles(image: np.ndarray, size: int, stride: int | None = None, pad: str = "reflect", *,
               batch: int = 64, cval: float = 0.0) -> Iterator[Tiles]:
    """Yield :class:`Tiles` batches of at most ``batch`` tiles, row-major, lazily.

    Only one batch is in memory at a time, so an 8192 x 8192 scan can be featurized tile by tile.
    Validation happens on the first ``next()``; see :func:`tile_image` for the parameters. A
    batch over the pixel budget (:func:`~shapekit.io.budget.check_pixel_budget`) is refused
    before it is allocated.

    Examples
    --------
    >>> img = np.arange(36, dtype=np.float32).reshape(6, 6) / 35
    >>> [len(b) for b in iter_tiles(img, 2, batch=4)]
    [4, 4, 1]
    """
    img, size, stride = _validate(image, size, stride, pad)
    if isinstance(batch, bool) or int(batch) < 1:
        raise InputError(f"batch must be a positive integer, got {batch!r}")
    shape = (int(img.shape[0]), int(img.shape[1]))
    n = count_tiles(shape, size, stride, pad)
    check_pixel_budget((min(int(batch), n), size, size),
                       f"tiles of {size} px every {stride} px of a {shape[0]}x{shape[1]} image")
    origins = tile_origins(shape, size, stride, pad)
    for start in range(0, len(origins), int(batch)):
        chunk = origins[start:start + int(batch)]
        out = np.empty((len(chunk), size, size), dtype=np.float32)
        for k, (r, c) in enumerate(chunk):
            out[k] = _cut(img, int(r), int(c), size, pad, cval)
        yield Tiles(tiles=out, coords=chunk.copy(), image_shape=shape)


def tile_image(image: np.ndarray, size: int, stride: int | None = None, pad: str = "reflect", *,
               cval: float = 0.0) -> Tiles:
    """Cut ``image`` into square ``size`` x ``size`` tiles every ``stride`` pixels.

    Parameters
    ----------
    image : ndarray (h, w)
        Grey image.
    size : int
        Tile side in pixels.
    stride : int, optional
        Step between tile origins (default ``size``: no overlap).
    pad : {"reflect", "constant", "none", "cover"}
        Edge policy (see module docstring). ``"none"`` and ``"cover"`` on an image smaller than
        one tile raise :class:`~shapekit.errors.InputError`.

    Raises
    ------
    InputError
        Bad parameters, or tiles whose total size is over the pixel budget (a small stride on a
        large image, or a tile far larger than the image with padding), checked before
        allocating.
    cval : float
        Fill value for ``pad="constant"``.

    Returns
    -------
    Tiles
        ``tiles`` (n, size, size) float32, ``coords`` (n, 2) int64, ``image_shape``.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((10, 13)).astype(np.float32)
    >>> t = tile_image(img, 4, stride=4, pad="reflect")
    >>> t.tiles.shape, t.coords[-1].tolist()
    ((12, 4, 4), [8, 12])
    >>> bool(np.array_equal(t.tiles[0], img[:4, :4]))
    True
    """
    img, size, stride = _validate(image, size, stride, pad)
    n = count_tiles(img.shape, size, stride, pad)
    check_pixel_budget((n, size, size), f"{n} tiles of {size} px every {stride} px of a "
                       f"{img.shape[0]}x{img.shape[1]} image")
    batches = list(iter_tiles(img, size, stride, pad, batch=4096, cval=cval))
    shape = (int(img.shape[0]), int(img.shape[1]))
    return Tiles(tiles=np.concatenate([b.tiles for b in batches]),
                 coords=np.concatenate([b.coords for b in batches]), image_shape=shape)


def stitch_tiles(tiles: Tiles) -> np.ndarray:
    """Reassemble a scan from its tiles, averaging overlaps (the inverse of :func:`tile_image`).

    Padding beyond the image is discarded. Pixels no tile covers (possible with ``pad="none"``)
    are NaN.

    Examples
    --------
    >>> img = np.random.default_rng(1).random((9, 11)).astype(np.float32)
    >>> bool(np.allclose(stitch_tiles(tile_image(img, 4, stride=3)), img))
    True
    """
    h, w = tiles.image_shape
    acc = np.zeros((h, w), dtype=np.float64)
    cnt = np.zeros((h, w), dtype=np.int64)
    s = tiles.size
    for t, (r, c) in zip(tiles.tiles, tiles.coords):
        r, c = int(r), int(c)
        hh, ww = min(s, h - r), min(s, w - c)
        acc[r:r + hh, c:c + ww] += t[:hh, :ww]
        cnt[r:r + hh, c:c + ww] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(cnt > 0, acc / np.maximum(cnt, 1), np.nan)
    return out.astype(np.float32)
