"""Folders of scans to one table: a row per scan, resumable, failures as rows, local or on Dask.

:func:`classify_batch` classifies every image that ``inputs`` name (files, folders, glob patterns;
:func:`expand_inputs`) and writes one row per scan to a CSV or Parquet table (:data:`COLUMNS`,
plus one ``p_<label>`` column per temper): the verdict, its probabilities, the "outside the
training data" fields, the tiles, the pixel size and where it came from, the info-bar rows, notes,
the error (a scan that cannot be read or classified becomes a row with ``error`` set instead of
aborting the batch) and the seconds it took. Optionally the per-tile probabilities go to a second
table with each tile's coordinates, in the file's pixels. The pixel size is the scan's own (a
model with a pixel size classifies the scan resampled to its own).

The table (:class:`~shapekit.temper.resulttable.ResultTable`) is rewritten atomically (temporary
file + rename, the tile table first, the scan table last) every ``flush_every`` scans and at the
end, so a killed run leaves a complete table of the scans done up to its last flush, never a torn
or duplicated one. Run again with the same output, it skips the scans already in it (rows with an
error are retried) and appends the rest. Rows are sorted by path, so the table does not depend on
the order in which scans finish.

With ``scheduler`` (a ``dask.distributed`` address such as ``tcp://host:8786``) the scans are
classified on the cluster's workers (:func:`classify_path`; each worker loads the model once):
workers need shapekit installed, and the model and the images at the same paths (a shipped model
name needs nothing but the install).
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from shapekit.errors import InputError
# the results table lives in shapekit.temper.resulttable; its names stay importable from here
from shapekit.temper.resulttable import COLUMNS, TILE_COLUMNS, ResultTable
from shapekit.temper.resulttable import INT_COLUMNS, SUFFIXES, table_summary  # noqa: F401

__all__ = ["COLUMNS", "TILE_COLUMNS", "expand_inputs", "classify_path", "ResultTable", "classify_batch"]

_MODELS: dict[str, Any] = {}       # per worker process: model reference -> loaded model


def expand_inputs(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The image files that ``items`` name, sorted, each once (as absolute paths).

    A file is taken as is (whatever its suffix: a non-image becomes an error row); a folder
    gives the image files directly inside it (``.tif .tiff .png .jpg .jpeg .bmp``, any case;
    hidden files skipped; use a pattern such as ``DIR/**/*.tif`` to descend); anything else is
    a glob pattern (``**`` descends, entering each real folder once however many links lead to
    it), which must match at least one image. A file named twice (through a link, a second
    pattern...) is kept once, under the first name it was given.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ("b.tif", "a.PNG", "notes.txt", ".hidden.tif"):
    ...     _ = (d / n).write_bytes(b"")
    >>> [p.name for p in expand_inputs([d, d / "b.tif"])]
    ['a.PNG', 'b.tif']
    >>> [p.name for p in expand_inputs([str(d / "*.tif")])]
    ['b.tif']
    >>> expand_inputs([pathlib.Path(tempfile.mkdtemp())])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: ...: a folder with no image files directly inside it (...)
    >>> expand_inputs([str(d / "*.jpg")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: no image matches ...
    """
    from shapekit.io import IMAGE_SUFFIXES
    from shapekit.temper._globwalk import glob_files

    out: dict[str, Path] = {}   # real path -> the first name given

    def add(p: Path) -> None:
        out.setdefault(os.path.realpath(p), _absolute(p))

    for item in items:
        p = Path(item)
        if p.is_file():
            add(p)
        elif p.is_dir():
            found = [f for f in sorted(p.iterdir()) if f.is_file() and not f.name.startswith(".")
                     and f.suffix.lower() in IMAGE_SUFFIXES]
            if not found:
                raise InputError(f"{p}: a folder with no image files directly inside it "
                                 f"({' '.join(sorted(IMAGE_SUFFIXES))}; use DIR/**/*.tif to descend)")
            for f in found:
                add(f)
        else:
            hits = [Path(h) for h in glob_files(str(item))]
            hits = [h for h in hits if h.suffix.lower() in IMAGE_SUFFIXES]
            if not hits:
                what = "no such file or folder, and no image matches it as a pattern" \
                    if not glob.has_magic(str(item)) else "no image matches this pattern"
                raise InputError(f"no image matches {str(item)!r} ({what})")
            for h in hits:
                add(h)
    return sorted(out.values())


def _absolute(p: Path) -> Path:
    """``p`` made absolute and normalised, symlinks kept: a scan is reported under the name
    the user gave it (a folder of links to a shared archive shows the links' names)."""
    import os

    return Path(os.path.abspath(p))


def _model_for(ref: str) -> Any:
    """The model a worker process loaded for ``ref`` (a model directory or shipped name)."""
    if ref not in _MODELS:
        from shapekit.temper.modeldir import load_model

        _MODELS[ref] = load_model(ref)
    return _MODELS[ref]


def classify_path(model: Any, path: str | os.PathLike[str], *, um_per_px: float | None = None,
                  tiles: bool = False, name: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One scan -> ``(row, tile_rows)``; any failure becomes a row with ``error`` set.

    ``model`` is a loaded :class:`~shapekit.temper.model.TemperModel` or a reference to one (a
    model directory or a shipped model's name, loaded once per process): the function that Dask
    workers run.
    """
    t0 = time.perf_counter()
    ref = model if isinstance(model, (str, os.PathLike)) else None
    path = Path(path)
    row: dict[str, Any] = {"path": str(path), "image": path.name,
                           "model": name or (str(ref) if ref is not None else "")}
    tile_rows: list[dict[str, Any]] = []
    try:
        m = _model_for(str(ref)) if ref is not None else model
        res = m.assess_path(path, um_per_px=um_per_px)
        row.update(flat_row(res, m.label_names))
        if tiles:
            tile_rows = _tile_rows(str(path), res, m.label_names)
    except (InputError, OSError, ValueError, MemoryError) as e:
        row["error"] = " ".join(f"{type(e).__name__}: {e}".split()) if not isinstance(e, InputError) \
            else " ".join(str(e).split())
    except Exception as e:  # noqa: BLE001 - one bad scan never aborts the batch; the row says why
        row["error"] = " ".join(f"internal error: {type(e).__name__}: {e}".split())
    row["seconds"] = round(time.perf_counter() - t0, 4)
    return row, tile_rows


def flat_row(res: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    """A :meth:`TemperModel.assess_path` result as the flat columns of the scan table; its pixel
    size is the scan's own, as its source gave it (not the model's, which it was resampled to)."""
    pset = res.get("prediction_set")
    scan = res.get("scan") or {}
    own = scan.get("source_um_per_px", scan.get("um_per_px"))
    row = {"temper": res["temper"], "ood_score": res.get("ood_score"),
           "in_distribution": res.get("in_distribution"),
           "prediction_set": None if pset is None else ";".join(pset), "tiles": int(res["tiles"]),
           "um_per_px": own, "um_per_px_source": scan.get("um_per_px_source"),
           "info_bar_rows": scan.get("info_bar_rows"), "notes": "; ".join(res.get("notes") or []) or None}
    row.update({f"p_{lab}": float(res["probabilities"][lab]) for lab in labels})
    return row


def _tile_rows(path: str, res: dict[str, Any], labels: Sequence[str]) -> list[dict[str, Any]]:
    """The tile table's rows of one scan, in the file's pixels (the info bar is cut at the
    bottom; a scan resampled to the model's pixel size is scaled back)."""
    t = res["tile_map"]
    scan = res.get("scan") or {}
    f = 1.0
    if scan.get("resampled") and scan.get("um_per_px") and scan.get("source_um_per_px"):
        f = float(scan["um_per_px"]) / float(scan["source_um_per_px"])
    h, w = (int(round(v * f)) for v in t["tile_size"])
    out = []
    for i, tile in enumerate(t["tiles"]):
        r = {"path": path, "tile": i, "row": int(round(tile["row"] * f)),
             "col": int(round(tile["col"] * f)), "height": h, "width": w, "temper": tile["temper"]}
        r.update({f"p_{lab}": float(p) for lab, p in zip(labels, tile["p"])})
        out.append(r)
    return out


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold an advisory lock beside ``out`` so that two runs never write one table."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one writer per table is the user's care
        yield
        return
    lock = out.with_name(f".{out.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock, "a")  # noqa: SIM115 - closed by the with below
    except OSError as e:  # named by the table the user gave, not by the lock file beside it
        raise type(e)(e.errno, e.strerror, str(out)) from None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"{out}: another shapekit run is writing this table") from None
        try:
            yield
        finally:  # also when the run fails or is interrupted: no stale lock file is left
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                lock.unlink()


def classify_batch(model: Any, inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                   model_ref: str | None = None, tiles_out: str | os.PathLike[str] | None = None,
                   um_per_px: float | None = None, scheduler: str | None = None,
                   flush_every: int = 25, flush_seconds: float = 30.0,
                   show_progress: bool | None = None) -> dict[str, Any]:
    """Classify every scan ``inputs`` name into the table ``out`` (see the module docstring).

    Parameters
    ----------
    model : TemperModel
        The loaded model (used locally; workers load ``model_ref`` themselves).
    inputs : sequence of str or path
        Files, folders and glob patterns (:func:`expand_inputs`).
    out : path
        ``.csv`` or ``.parquet`` scan table (resumed when it exists).
    model_ref : str, optional
        How the model was named (a directory or a shipped name): written in every row and what
        Dask workers load. Required with ``scheduler``.
    tiles_out : path, optional
        Per-tile probabilities with their coordinates (``.parquet`` or ``.csv``).
    um_per_px : float, optional
        Pixel size of every scan, beating the files' own (as ``classify --um-per-px``).
    scheduler : str, optional
        ``dask.distributed`` scheduler address: classify on its workers.
    flush_every, flush_seconds : int, float
        Rewrite the tables after this many new scans or seconds, whichever comes first.
    show_progress : bool, optional
        Progress bar (default: on an interactive stderr).

    Returns
    -------
    dict
        ``{"out", "tiles_out", "scans", "skipped", "classified", "failed", "seconds"}``.
    """
    from shapekit._progress import progress

    if scheduler is not None and not model_ref:
        raise InputError("a Dask scheduler needs the model's directory or shipped name (model_ref)")
    if int(flush_every) < 1:
        raise InputError(f"flush_every must be >= 1, got {flush_every}")
    paths = expand_inputs(inputs)
    ref = str(model_ref) if model_ref else ""
    out = Path(out)
    t0 = time.perf_counter()
    with _exclusive(out):
        table = ResultTable(out, model.label_names, ref, tiles_out, um_per_px=um_per_px,
                            target_um_per_px=getattr(model, "target_um_per_px", None))
        done = table.done
        todo = [p for p in paths if str(p) not in done]
        failed = 0
        last = time.monotonic()
        results = _run_local(model, todo, ref, um_per_px, tiles_out is not None) if scheduler is None \
            else _run_dask(scheduler, ref, todo, um_per_px, tiles_out is not None)
        bar = progress(results, desc="classify", total=len(todo), disable=None if show_progress is None
                       else not show_progress, unit="scan")
        try:
            for row, tile_rows in bar:
                failed += bool(row.get("error"))
                table.add(row, tile_rows)
                if table.pending >= flush_every or time.monotonic() - last > flush_seconds:
                    table.flush()
                    last = time.monotonic()
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
            if table.pending:  # a run that failed before its first scan writes no (empty) table
                table.flush()
    return {"out": str(out), "tiles_out": None if tiles_out is None else str(tiles_out),
            "scans": len(paths), "skipped": len(paths) - len(todo), "classified": len(todo) - failed,
            "failed": failed, "seconds": round(time.perf_counter() - t0, 2)}


def _run_local(model: Any, paths: list[Path], ref: str, um_per_px: float | None,
               tiles: bool) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    for p in paths:
        yield classify_path(model, p, um_per_px=um_per_px, tiles=tiles, name=ref)


def _run_dask(address: str, ref: str, paths: list[Path], um_per_px: float | None,
              tiles: bool) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("--scheduler needs dask.distributed: pip install 'shapekit[dask]'") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise InputError(f"cannot reach the Dask scheduler at {address} ({type(e).__name__})") from None
    try:
        futures = {client.submit(classify_path, ref, str(p), um_per_px=um_per_px, tiles=tiles,
                                 name=ref, pure=False): p for p in paths}
        for fut in as_completed(list(futures)):
            if fut.status == "finished":
                yield fut.result()
            else:  # the worker died or the task could not run: the scan still gets its row
                exc = fut.exception()
                p = futures[fut]
                yield ({"path": str(p), "image": p.name, "model": ref,
                        "error": " ".join(f"worker failure: {type(exc).__name__}: {exc}".split())}, [])
            fut.release()
    finally:
        client.close()
