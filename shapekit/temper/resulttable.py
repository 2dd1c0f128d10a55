"""The results table of a batch: a row per scan (and per tile), resumable, written atomically.

:class:`ResultTable` holds the scan table (:data:`COLUMNS`, plus one ``p_<label>`` column per
temper after ``temper``) and the optional tile table (:data:`TILE_COLUMNS`) of
:func:`shapekit.temper.batch.classify_batch`. An existing table is resumed: its rows without an
error are kept (its model must match), the failed scans are retried. :meth:`ResultTable.flush`
rewrites both tables atomically (temporary file + rename, the tile table first, the scan table
last), sorted by path. :func:`table_summary` counts a table's rows per temper.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shapekit.errors import InputError

#: the scan table's columns (``p_<label>`` columns follow ``temper``)
COLUMNS = ("path", "image", "model", "temper", "ood_score", "in_distribution", "prediction_set",
           "tiles", "um_per_px", "um_per_px_source", "info_bar_rows", "notes", "error", "seconds")
#: the tile table's columns (``p_<label>`` columns follow ``temper``)
TILE_COLUMNS = ("path", "tile", "row", "col", "height", "width", "temper")
#: integer columns, empty (not NaN-turned-float) in the rows of scans that failed
INT_COLUMNS = frozenset({"tiles", "info_bar_rows", "tile", "row", "col", "height", "width"})
SUFFIXES = (".csv", ".parquet")


def _read_table(path: Path, required: Sequence[str] = ("path",)) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - any parse failure: the file is not our table
        raise InputError(f"{path}: cannot be read as a results table to resume "
                         f"({type(e).__name__}); move it away or choose another output") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not a shapekit results table (no {missing[0]!r} column); "
                         f"move it away or choose another output")
    df = df.astype(object).where(df.notna(), None)
    return df.to_dict("records")


def _write_table(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    import pandas as pd

    from shapekit._atomic import atomic_path

    extra = sorted({k for r in rows for k in r} - set(columns))
    df = pd.DataFrame(rows, columns=columns + extra)
    for col in INT_COLUMNS & set(df.columns):  # counts stay integers beside error rows (no 6.0)
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    if len(df):
        df = df.sort_values(["path", "tile"] if "tile" in df.columns else ["path"], kind="stable")
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


class ResultTable:
    """The scan table (and optional tile table) of a batch, resumable and written atomically.

    Parameters
    ----------
    out : path
        ``.csv`` or ``.parquet``; an existing table is resumed (its model must match).
    labels : sequence of str
        The model's temper labels (the ``p_<label>`` columns).
    model : str
        The model reference written in every row.
    tiles_out : path, optional
        ``.csv`` or ``.parquet`` for the per-tile probabilities.
    um_per_px : float, optional
        The pixel size given for every scan (``classify --um-per-px``): an existing table whose
        rows were classified with another one (or without) is refused, not silently kept.
    target_um_per_px : float, optional
        The model's pixel size (then only whether a pixel size was given is compared: tables
        written before the ``um_per_px`` column held the scan's own pixel size hold the model's).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> t = ResultTable(out, ["a", "b"], "m")
    >>> t.add({"path": "/x.tif", "temper": "a", "p_a": 0.9, "p_b": 0.1, "model": "m"}, [])
    >>> t.add({"path": "/y.tif", "error": "unreadable", "model": "m"}, [])
    >>> t.flush(); sorted(ResultTable(out, ["a", "b"], "m").done)    # the failed scan is retried
    ['/x.tif']
    """

    def __init__(self, out: str | os.PathLike[str], labels: Sequence[str], model: str,
                 tiles_out: str | os.PathLike[str] | None = None, *,
                 um_per_px: float | None = None, target_um_per_px: float | None = None) -> None:
        self.out = Path(out)
        self.tiles_out = None if tiles_out is None else Path(tiles_out)
        for p in (self.out, self.tiles_out):
            if p is not None and p.suffix.lower() not in SUFFIXES:
                raise InputError(f"{p}: the table must end in .csv or .parquet")
        if self.tiles_out is not None and self.tiles_out.resolve() == self.out.resolve():
            raise InputError(f"{out}: the scan table and the tile table must be different files")
        self.model = model
        probs = [f"p_{lab}" for lab in labels]
        self.columns = list(COLUMNS[:4]) + probs + list(COLUMNS[4:])
        self.tile_columns = list(TILE_COLUMNS) + probs
        self.rows: list[dict[str, Any]] = []
        self.tile_rows: list[dict[str, Any]] = []
        if self.out.exists():
            old = _read_table(self.out, ("path", "model"))
            from shapekit.temper.modeldir import model_identity

            others = sorted({str(r.get("model")) for r in old
                             if model_identity(str(r.get("model"))) != model_identity(model)})
            if others:
                raise InputError(f"{self.out}: written by model {others[0]!r}, not {model!r}; "
                                 f"choose another output to classify with this model")
            self.rows = [r for r in old if not r.get("error")]
            _check_pixel_size(self.out, self.rows, um_per_px, target_um_per_px)
        if self.tiles_out is not None and self.tiles_out.exists():
            ok = {str(r["path"]) for r in self.rows}
            self.tile_rows = [r for r in _read_table(self.tiles_out) if str(r["path"]) in ok]
        self.pending = 0

    @property
    def done(self) -> set[str]:
        """Paths with a row and no error (and, when a tile table is kept, with tile rows: a scan
        classified earlier without ``tiles_out`` is done again for its tiles)."""
        ok = {str(r["path"]) for r in self.rows if not r.get("error")}
        if self.tiles_out is not None:
            ok &= {str(r["path"]) for r in self.tile_rows}
        return ok

    def add(self, row: dict[str, Any], tile_rows: list[dict[str, Any]]) -> None:
        """Add one scan's row (replacing an earlier row of the same path) and its tile rows."""
        path = str(row["path"])
        self.rows = [r for r in self.rows if str(r["path"]) != path] + [row]
        if self.tiles_out is not None:
            self.tile_rows = [r for r in self.tile_rows if str(r["path"]) != path] + list(tile_rows)
        self.pending += 1

    def flush(self) -> None:
        """Rewrite the tables atomically (tiles first: the scan table is the commit point)."""
        if self.tiles_out is not None:
            _write_table(self.tiles_out, self.tile_rows, self.tile_columns)
        _write_table(self.out, self.rows, self.columns)
        self.pending = 0


def _check_pixel_size(out: Path, rows: Sequence[dict[str, Any]], um_per_px: float | None,
                      target_um_per_px: float | None) -> None:
    """Refuse to resume ``rows`` (a table's rows without error) with another ``--um-per-px``
    than they were classified with (a row's ``um_per_px_source`` is ``"user"`` when it was given).

    Examples
    --------
    >>> _check_pixel_size(Path("r.csv"), [{"um_per_px": 0.1, "um_per_px_source": "user"}], 0.1, None)
    >>> _check_pixel_size(Path("r.csv"), [{"um_per_px": None, "um_per_px_source": None}], 0.1, None)
    Traceback (most recent call last):
    ...
    shapekit.errors.InputError: r.csv: its 1 scan(s) were classified without --um-per-px; give the same to resume it, or another output (or remove this one) to classify them again with --um-per-px 0.1
    """
    given = [r for r in rows if r.get("um_per_px_source") == "user"]
    if um_per_px is None:
        bad, was = given, "with --um-per-px"
    elif len(given) < len(rows):
        bad, was = [r for r in rows if r.get("um_per_px_source") != "user"], "without --um-per-px"
    elif target_um_per_px is None:  # the table's um_per_px is the one given
        bad = [r for r in given if r.get("um_per_px") is None
               or abs(float(r["um_per_px"]) - float(um_per_px)) > 1e-9 * float(um_per_px)]
        was = "with --um-per-px"
    else:
        bad = []
    if not bad:
        return
    if was == "with --um-per-px" and target_um_per_px is None and bad[0].get("um_per_px") is not None:
        was += f" {float(bad[0]['um_per_px']):g}"
    now = "without it" if um_per_px is None else f"with --um-per-px {float(um_per_px):g}"
    raise InputError(f"{out}: its {len(bad)} scan(s) were classified {was}; give the same to resume "
                     f"it, or another output (or remove this one) to classify them again {now}")


def table_summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts per temper (``"unknown"`` included) and failures of a list of scan-table rows.

    Examples
    --------
    >>> table_summary([{"temper": "a"}, {"temper": "unknown"}, {"error": "x"}, {"temper": "a"}])
    {'scans': 4, 'failed': 1, 'temper': {'a': 2, 'unknown': 1}}
    """
    counts: dict[str, int] = {}
    failed = 0
    for r in rows:
        if r.get("error"):
            failed += 1
        else:
            counts[str(r.get("temper"))] = counts.get(str(r.get("temper")), 0) + 1
    return {"scans": len(rows), "failed": failed, "temper": dict(sorted(counts.items()))}
