"""Image grids (training samples, labelled condition sweeps) and single-image writing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shapekit import _atomic

__all__ = ["tile_grid", "save_grid", "save_labelled_grid", "save_image", "labelled_grid_pixels"]

#: inches a cell of a labelled grid takes, the margins (captions, title) and the figure's dpi
_CELL_IN, _MARGIN_IN, _DPI = 1.6, (0.6, 0.8), 110


def tile_grid(images: np.ndarray, ncols: int, pad: int = 2) -> np.ndarray:
    """Arrange ``(n, h, w)`` images in a grid with ``ncols`` columns and white padding.

    Examples
    --------
    >>> tile_grid(np.zeros((3, 4, 4), np.float32), ncols=2, pad=1).shape
    (9, 9)
    """
    imgs = np.asarray(images, dtype=np.float32)
    n, h, w = imgs.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    grid = np.ones((nrows * (h + pad) - pad, ncols * (w + pad) - pad), np.float32)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        grid[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = im
    return grid


def save_image(image: np.ndarray, path: str | Path, metadata: dict | None = None) -> Path:
    """Write a ``[0, 1]`` float image, atomically: 8-bit PNG, or (``.tif``/``.tiff``) a float32
    TIFF through :func:`shapekit.io.write_tiff`, with ``metadata`` as JSON in its description and
    a positive ``metadata["um_per_px"]`` in its resolution tags (so ``shapekit ingest`` and
    ``score`` read the generated image at its physical scale).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from shapekit.io import read_image
    >>> p = save_image(np.zeros((4, 4)), pathlib.Path(tempfile.mkdtemp()) / "a.tif",
    ...                {"um_per_px": 0.002})
    >>> round(read_image(p)[1].um_per_px, 6)
    0.002
    """
    path = Path(path)
    img = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if path.suffix.lower() in (".tif", ".tiff"):
        from shapekit.io import write_tiff

        write_tiff(path, img, metadata)
        return path
    import cv2

    u8 = (img * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(path.suffix.lower() or ".png", u8)
    if not ok:
        raise ValueError(f"cannot encode image as {path.suffix}")
    _atomic.write_bytes(path, buf.tobytes())
    return path


def save_grid(images: np.ndarray, path: str | Path, ncols: int = 4) -> Path:
    """Write an unlabelled grid of ``(n, h, w)`` images as one PNG."""
    return save_image(tile_grid(images, ncols), path)


def labelled_grid_pixels(nrows: int, ncols: int) -> tuple[int, int]:
    """``(height, width)`` in pixels of the figure :func:`save_labelled_grid` draws for ``nrows x
    ncols`` images, whatever their size (what a caller checks against the pixel budget).

    Examples
    --------
    >>> labelled_grid_pixels(2, 5)
    (418, 968)
    """
    return (round((_CELL_IN * nrows + _MARGIN_IN[0]) * _DPI),
            round((_CELL_IN * ncols + _MARGIN_IN[1]) * _DPI))


def save_labelled_grid(images: np.ndarray, path: str | Path, nrows: int, ncols: int,
                       col_labels: Sequence[str] | None = None,
                       row_labels: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Write ``nrows x ncols`` images (row-major) with column/row captions (matplotlib, Agg).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.png"
    >>> _ = save_labelled_grid(np.zeros((4, 8, 8)), p, 2, 2, ["a", "b"], ["r1", "r2"])
    >>> p.stat().st_size > 0
    True
    """
    from shapekit._mpl import headless

    headless()
    from matplotlib.figure import Figure

    imgs = np.asarray(images, dtype=np.float32)
    fig = Figure(figsize=(_CELL_IN * ncols + _MARGIN_IN[1], _CELL_IN * nrows + _MARGIN_IN[0]),
                 dpi=_DPI)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i in range(nrows * ncols):
        ax = axes[i // ncols][i % ncols]
        if i < len(imgs):
            ax.imshow(imgs[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if col_labels is not None and i // ncols == 0:
            ax.set_title(str(col_labels[i % ncols]), fontsize=8)
        if row_labels is not None and i % ncols == 0:
            ax.set_ylabel(str(row_labels[i // ncols]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with _atomic.atomic_path(path) as tmp:
        fig.savefig(str(tmp), format=path.suffix.lstrip(".") or "png")
    return path
