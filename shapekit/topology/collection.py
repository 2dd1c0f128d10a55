"""Run a fitted feature pipeline over many files (Dask or joblib) and over one huge scan (streamed).

The pipeline is any fitted scikit-learn transformer of lists of 2-D tiles, e.g. a ``Pipeline``
of :mod:`shapekit.topology` steps fitted on training tiles.

References
----------
.. [1] M. Rocklin, "Dask: parallel computation with blocked algorithms and task scheduling",
   Proc. 14th Python in Science Conference, 2015.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shapekit._progress import progress
from shapekit.errors import InputError

__all__ = ["featurize_collection", "featurize_scan", "collection_items"]


def collection_items(paths_or_manifest: Any, root: str | os.PathLike[str] | None = None
                     ) -> list[dict[str, Any]]:
    """One dict per image: ``index``, ``image`` (path), ``um_per_px``, ``label``, ``group``.

    Accepts a :class:`shapekit.io.Manifest`, a manifest ``.yaml`` path, a folder, or a sequence
    of image paths.

    Examples
    --------
    >>> collection_items(["a.png", "b.png"])[1]
    {'index': 1, 'image': 'b.png', 'um_per_px': None, 'label': None, 'group': None}
    """
    src = paths_or_manifest
    if isinstance(src, (str, os.PathLike)) and Path(src).suffix.lower() in (".yaml", ".yml"):
        from shapekit.io import load_manifest

        src = load_manifest(src, root=root)
    elif isinstance(src, (str, os.PathLike)) and Path(src).is_dir():
        from shapekit.io import Manifest

        src = Manifest.from_folder(src)
    if hasattr(src, "paths") and hasattr(src, "table"):
        labels, groups = src.labels, src.groups
        ums = src.um_per_px_values
        return [{"index": i, "image": str(p),
                 "um_per_px": float(ums[i]) if np.isfinite(ums[i]) else None,
                 "label": None if labels is None else str(labels[i]),
                 "group": None if groups is None else str(groups[i])}
                for i, p in enumerate(src.paths)]
    if isinstance(src, (str, os.PathLike)):
        raise InputError(f"{src}: not a manifest (.yaml), a folder or a list of images")
    items = [{"index": i, "image": str(p), "um_per_px": None, "label": None, "group": None}
             for i, p in enumerate(src)]
    if not items:
        raise InputError("featurize_collection: no images given")
    return items


def _load_tiles(item: dict[str, Any], tile_size: int | None, stride: int | None,
                target_um_per_px: float | None) -> tuple[np.ndarray, np.ndarray, float | None]:
    from shapekit.io import load_scan, tile_image

    target = target_um_per_px
    try:
        scan = load_scan(item["image"], um_per_px=item["um_per_px"], um_per_px_source="manifest",
                         target_um_per_px=target)
    except InputError as exc:
        if target is None or "without a known source scale" not in str(exc):
            raise
        # neither the manifest nor the file knows the pixel size: use the image as it is
        scan = load_scan(item["image"], um_per_px=item["um_per_px"])
    img = scan.image
    if tile_size is None:
        return img[None], np.zeros((1, 2), np.int64), scan.um_per_px
    t = tile_image(img, tile_size, stride, pad="none")
    return t.tiles, t.coords, scan.um_per_px


def _features_task(item: dict[str, Any], ft: Any, tile_size: int | None,
                   stride: int | None, target: float | None) -> tuple[np.ndarray, list[dict]]:
    tiles, coords, um = _load_tiles(item, tile_size, stride, target)
    X = ft.transform(list(tiles))
    meta = [{"index": item["index"], "image": item["image"], "row": int(r), "col": int(c),
             "height": int(tiles.shape[1]), "width": int(tiles.shape[2]), "um_per_px": um,
             "label": item["label"], "group": item["group"]} for r, c in coords]
    return X, meta


def _check_fitted(transformer: Any, where: str) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(transformer)
    except (NotFittedError, TypeError):
        raise InputError(f"{where}: fit the feature pipeline first (on training tiles)") from None


def _run(fn: Any, items: list[dict], args: tuple, scheduler: Any, n_jobs: int | None,
         desc: str) -> list[Any]:
    """Map ``fn(item, *args)`` over items with Dask (delayed) or, without Dask, joblib."""
    if n_jobs == 1 and scheduler in ("threads", "synchronous"):
        return [fn(it, *args) for it in progress(items, desc=desc, total=len(items))]
    try:
        import dask
    except ImportError:
        dask = None
    if dask is None:
        if not isinstance(scheduler, str):
            raise InputError("a Dask client was given but dask is not installed (pip install dask)")
        from joblib import Parallel, delayed

        prefer = "processes" if scheduler == "processes" else "threads"
        return list(Parallel(n_jobs=n_jobs or -1, prefer=prefer)(
            delayed(fn)(it, *args) for it in items))
    tasks = [dask.delayed(fn)(it, *args) for it in items]
    if isinstance(scheduler, str):
        if scheduler not in ("threads", "processes", "synchronous"):
            raise InputError(f"scheduler={scheduler!r} is not 'threads', 'processes', "
                             f"'synchronous' or a dask.distributed Client")
        return list(dask.compute(*tasks, scheduler=scheduler, num_workers=n_jobs))
    if hasattr(scheduler, "get") and hasattr(scheduler, "submit"):  # dask.distributed.Client
        return list(dask.compute(*tasks, scheduler=scheduler.get))
    raise InputError(f"scheduler={scheduler!r} is not a scheduler name or a Dask client")


def featurize_collection(paths_or_manifest: Any, transformer: Any, *,
                         tile_size: int | None = None, stride: int | None = None,
                         target_um_per_px: float | None = None, scheduler: Any = "threads",
                         n_jobs: int | None = None, root: str | os.PathLike[str] | None = None
                         ) -> tuple[np.ndarray, Any]:
    """Features of every image (or tile) of a collection, scaling out with Dask.

    Each file is one task: read + clean (:func:`shapekit.io.load_scan`, info bar cropped),
    resample to ``target_um_per_px`` when the file's pixel size is known (so magnification does
    not masquerade as topology; files of unknown scale are used as they are), tile, featurize.

    Parameters
    ----------
    paths_or_manifest : Manifest, manifest path, folder, or sequence of image paths
    transformer : fitted scikit-learn transformer
        Lists of 2-D tiles -> feature rows.
    tile_size, stride : int or None
        Square tiles (``pad="none"``: only full tiles); None featurizes whole images.
    target_um_per_px : float or None
    scheduler : "threads", "processes", "synchronous" or a ``dask.distributed.Client``
        Dask scheduler (joblib threads/processes when Dask is not installed).
    n_jobs : int or None
        Workers (None: Dask's default, all cores).
    root : path, optional
        Data root overriding a manifest's.

    Returns
    -------
    X : ndarray, shape (n_rows, n_features)
    meta : pandas.DataFrame
        One row per image or tile: ``index`` (row in the manifest), ``image``, ``row``, ``col``
        (tile origin), ``height``, ``width``, ``um_per_px``, ``label``, ``group``.

    Examples
    --------
    >>> import tempfile, pathlib, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> for i in range(2):
    ...     tifffile.imwrite(d / f"{i}.tif", (rng.random((64, 64)) * 255).astype(np.uint8))
    >>> from sklearn.pipeline import make_pipeline
    >>> from shapekit.topology import CubicalDiagrams, PersistenceStatistics, Standardize
    >>> ft = make_pipeline(Standardize(), CubicalDiagrams(), PersistenceStatistics())
    >>> ft = ft.fit(rng.random((2, 32, 32)))
    >>> X, meta = featurize_collection(sorted(d.glob("*.tif")), ft, tile_size=32, n_jobs=1)
    >>> X.shape, meta["row"].tolist()
    ((8, 108), [0, 0, 32, 32, 0, 0, 32, 32])
    """
    import pandas as pd

    _check_fitted(transformer, "featurize_collection")
    items = collection_items(paths_or_manifest, root)
    args = (transformer, tile_size, stride, target_um_per_px)
    res = _run(_features_task, items, args, scheduler, n_jobs, "featurize")
    X = np.concatenate([r[0] for r in res])
    meta = pd.DataFrame([m for r in res for m in r[1]])
    return X, meta


def featurize_scan(image: np.ndarray, transformer: Any, tile_size: int,
                   stride: int | None = None, *, batch: int = 64, pad: str = "none"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Features of every tile of one (possibly huge) scan, streaming tiles.

    Tiles come from :func:`shapekit.io.iter_tiles` a batch at a time, so memory stays at the
    image plus one batch (an 8192 x 8192 float32 scan: ~0.3 GiB image, well under 4 GiB RSS).

    Parameters
    ----------
    image : ndarray (h, w)
    transformer : fitted scikit-learn transformer
        Lists of 2-D tiles -> feature rows.
    tile_size, stride : int
    batch : int
        Tiles per batch.
    pad : {"none", "reflect", "constant"}
        Edge policy of :func:`shapekit.io.iter_tiles`.

    Returns
    -------
    X : ndarray, shape (n_tiles, n_features)
    coords : ndarray of int64, shape (n_tiles, 2)
        ``(row, col)`` of each tile in the scan.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> from sklearn.pipeline import make_pipeline
    >>> from shapekit.topology import CubicalDiagrams, PersistenceStatistics, Pyramid
    >>> ft = make_pipeline(Pyramid((1, 2)), CubicalDiagrams(), PersistenceStatistics())
    >>> ft = ft.fit(rng.random((3, 32, 32)))
    >>> X, coords = featurize_scan(rng.random((64, 96)).astype(np.float32), ft, 32)
    >>> X.shape[0], coords[-1].tolist()
    (6, [32, 64])
    """
    from shapekit.io import iter_tiles

    _check_fitted(transformer, "featurize_scan")
    img = np.asarray(image)
    if img.ndim != 2:
        raise InputError(f"featurize_scan: expected a 2-D image, got shape {img.shape}")
    rows: list[np.ndarray] = []
    coords: list[np.ndarray] = []
    for tiles in iter_tiles(img, tile_size, stride, pad, batch=batch):
        X = transformer.transform(list(tiles.tiles))
        rows.append(X)
        coords.append(tiles.coords)
    return np.concatenate(rows), np.concatenate(coords)
