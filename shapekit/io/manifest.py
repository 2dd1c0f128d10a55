"""Dataset manifests: a YAML file that points at images and a label table, never containing them.

Schema (keys; anything else is refused)::

    name: uhcs3                      # required
    root: ../../shared/data/uhcs3    # relative to the manifest file ($VARS and ~ expanded);
                                     # `root=` / --root overrides
    table: labels.csv                # required: CSV relative to root
    images_dir: images               # optional: folder of the images, relative to root
    image: file                      # required: column holding image paths (relative, inside root)
    label: label_name                # optional: class / temper column
    group: null                      # optional: physical-sample column for grouped splits
    parameters: []                   # optional: numeric process-parameter columns
    properties: []                   # optional: numeric property columns
    um_per_px: null                  # optional: a column name or a number
    exclude_unlabeled: false         # optional: drop rows whose label is empty (counted)
    license: "CC BY 3.0 US"
    citation: "..."
    description: "..."               # optional

Validation errors raise :class:`shapekit.errors.ManifestError` with one line naming the manifest
and the key, column or table line (CSV line numbers count the header as line 1).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import ManifestError, brief

ALLOWED_KEYS = ("name", "root", "table", "images_dir", "image", "label", "group", "parameters",
                "properties", "um_per_px", "exclude_unlabeled", "license", "citation", "description")
REQUIRED_KEYS = ("name", "table", "image")


@dataclass
class Manifest:
    """A validated image set: paths, labels, groups, numeric columns.

    Attributes
    ----------
    name : str
    root : Path
        Absolute data root.
    table : pandas.DataFrame
        The table's rows kept (original columns plus an absolute ``path`` column), index 0..n-1.
    label_col, group_col : str or None
    parameters, properties : list of str
        Numeric column names.
    um_per_px : str, float or None
        The manifest's ``um_per_px`` entry (column name or number).
    excluded : int
        Rows dropped because their label was empty (``exclude_unlabeled: true``).
    source : Path or None
        The manifest file (None for a folder).

    Examples
    --------
    >>> import pandas as pd
    >>> m = Manifest(name="toy", root=Path("/data"), label_col="cls",
    ...              table=pd.DataFrame({"path": ["/data/a.tif", "/data/b.tif"], "cls": ["x", "y"]}))
    >>> len(m), m.label_names, m.counts()
    (2, ['x', 'y'], {'x': 1, 'y': 1})
    """

    name: str
    root: Path
    table: Any
    label_col: str | None = None
    group_col: str | None = None
    parameters: list[str] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    um_per_px: str | float | None = None
    excluded: int = 0
    license: str | None = None
    citation: str | None = None
    description: str | None = None
    source: Path | None = None

    def __len__(self) -> int:
        return int(len(self.table))

    @property
    def paths(self) -> list[Path]:
        """Absolute image paths, one per row."""
        return [Path(p) for p in self.table["path"]]

    @property
    def labels(self) -> np.ndarray | None:
        """Labels as an array of str, or None when the manifest has no label column."""
        if self.label_col is None:
            return None
        col = self.table[self.label_col]
        if col.dtype.kind in "fiu":  # the label column is a parameter too: "180", not "180.0"
            return np.array([np.format_float_positional(float(v), trim="-") for v in col], dtype=str)
        return col.astype(str).to_numpy(dtype=object).astype(str)

    @property
    def label_names(self) -> list[str]:
        """Sorted distinct labels (empty without a label column)."""
        labels = self.labels
        return [] if labels is None else sorted(set(labels.tolist()))

    @property
    def groups(self) -> np.ndarray | None:
        """Group (physical sample) ids as str, or None without a group column."""
        if self.group_col is None:
            return None
        return self.table[self.group_col].astype(str).to_numpy(dtype=object).astype(str)

    @property
    def parameter_values(self) -> np.ndarray:
        """Float array ``(n, len(parameters))``."""
        return self.table[self.parameters].to_numpy(dtype=np.float64).reshape(len(self), -1)

    @property
    def property_values(self) -> np.ndarray:
        """Float array ``(n, len(properties))``."""
        return self.table[self.properties].to_numpy(dtype=np.float64).reshape(len(self), -1)

    @property
    def um_per_px_values(self) -> np.ndarray:
        """Pixel size per row in micrometres (NaN where unknown)."""
        if isinstance(self.um_per_px, str):
            return self.table[self.um_per_px].to_numpy(dtype=np.float64)
        value = np.nan if self.um_per_px is None else float(self.um_per_px)
        return np.full(len(self), value, dtype=np.float64)

    def counts(self) -> dict[str, int]:
        """Images per label (sorted by label); ``{"(unlabeled)": n}`` without a label column."""
        labels = self.labels
        if labels is None:
            return {"(unlabeled)": len(self)}
        names, n = np.unique(labels, return_counts=True)
        return {str(k): int(v) for k, v in zip(names, n)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> Manifest:
        """A new manifest with the given rows (positions or a boolean mask).

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, tifffile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(3): tifffile.imwrite(d / f"{i}.tif", np.zeros((8, 8), np.uint8))
        >>> len(Manifest.from_folder(d).subset([0, 2]))
        2
        """
        idx = np.asarray(indices)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        table = self.table.iloc[idx.astype(np.int64)].reset_index(drop=True)
        return Manifest(name=self.name, root=self.root, table=table, label_col=self.label_col,
                        group_col=self.group_col, parameters=list(self.parameters),
                        properties=list(self.properties), um_per_px=self.um_per_px,
                        excluded=self.excluded, license=self.license, citation=self.citation,
                        description=self.description, source=self.source)

    def of_label(self, label: str) -> Manifest:
        """The images of one label, as a manifest named ``"NAME LABEL"``.

        Raises
        ------
        ManifestError
            The manifest has no label column, or no image of ``label`` (the message lists the
            labels it has).

        Examples
        --------
        >>> import pandas as pd
        >>> m = Manifest(name="toy", root=Path("/data"), label_col="cls",
        ...              table=pd.DataFrame({"path": ["/a.tif", "/b.tif", "/c.tif"], "cls": ["x", "y", "x"]}))
        >>> sub = m.of_label("x"); sub.name, len(sub)
        ('toy x', 2)
        >>> m.of_label("z")
        Traceback (most recent call last):
        ...
        shapekit.errors.ManifestError: toy: no image labelled 'z'; its labels: x, y
        """
        from dataclasses import replace

        if self.labels is None:
            raise ManifestError(f"{self.name}: has no label column, so no image can be chosen by label")
        keep = self.labels == str(label)
        if not keep.any():
            raise ManifestError(f"{self.name}: no image labelled {str(label)[:60]!r}; its labels: "
                             f"{', '.join(self.label_names)}")
        return replace(self.subset(keep), name=f"{self.name} {label}")

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (name, root, n, counts, excluded, columns)."""
        return {"name": self.name, "root": str(self.root), "n_images": len(self),
                "counts": self.counts(), "excluded_unlabeled": self.excluded,
                "label": self.label_col, "group": self.group_col,
                "n_groups": None if self.groups is None else len(set(self.groups.tolist())),
                "parameters": list(self.parameters), "properties": list(self.properties),
                "license": self.license, "citation": self.citation}

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> Manifest:
        """All readable images (TIFF/PNG/JPEG/BMP by content) directly inside ``folder``, unlabeled.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, tifffile
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> tifffile.imwrite(d / "a.tif", np.zeros((8, 8), np.uint8))
        >>> _ = (d / "notes.txt").write_text("x")
        >>> m = Manifest.from_folder(d); len(m), m.labels is None
        (1, True)
        """
        from shapekit.io._manifest_table import folder_manifest

        return folder_manifest(cls, Path(folder))


def load_manifest(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Manifest:
    """Load and validate a YAML manifest against its data.

    Parameters
    ----------
    path : path-like
        The ``.yaml`` manifest.
    root : path-like, optional
        Data root overriding the manifest's ``root`` (which is relative to the manifest file).

    Returns
    -------
    Manifest

    Raises
    ------
    ManifestError
        Unreadable YAML, unknown or missing keys, bad key types, missing table or columns, empty
        table, missing image files, duplicate images, paths escaping the root, empty labels
        (unless ``exclude_unlabeled``), non-numeric parameter/property/um_per_px values.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(2): tifffile.imwrite(d / f"{i}.tif", np.zeros((8, 8), np.uint8))
    >>> _ = (d / "t.csv").write_text("file,cls,T\\n0.tif,a,100\\n1.tif,b,200\\n")
    >>> write_manifest(d / "m.yaml", {"name": "demo", "root": ".", "table": "t.csv",
    ...                                "image": "file", "label": "cls", "parameters": ["T"]})
    >>> m = load_manifest(d / "m.yaml")
    >>> m.counts(), m.parameter_values.ravel().tolist()
    ({'a': 1, 'b': 1}, [100.0, 200.0])
    """
    from shapekit.io._manifest_table import build_manifest, read_spec

    mpath = Path(path)
    spec = read_spec(mpath)
    return build_manifest(spec, mpath, None if root is None else Path(root))


def validate_spec(spec: dict[str, Any], where: str = "manifest") -> dict[str, Any]:
    """Check keys and value types of a manifest dict (not the data); return it normalised.

    Examples
    --------
    >>> validate_spec({"name": "x", "table": "t.csv", "image": "f", "colour": 1})
    Traceback (most recent call last):
    ...
    shapekit.errors.ManifestError: manifest: unknown key 'colour' (allowed: name, root, table, images_dir, image, label, group, parameters, properties, um_per_px, exclude_unlabeled, license, citation, description)
    """
    if not isinstance(spec, dict):
        raise ManifestError(f"{where}: expected a mapping of keys, got {type(spec).__name__}")
    for key in spec:
        if key not in ALLOWED_KEYS:
            raise ManifestError(f"{where}: unknown key {brief(key)} (allowed: {', '.join(ALLOWED_KEYS)})")
    for key in REQUIRED_KEYS:
        if spec.get(key) in (None, ""):
            raise ManifestError(f"{where}: missing required key {brief(key)}")
    out = dict(spec)
    for key in ("name", "root", "table", "images_dir", "image", "label", "group", "license",
                "citation", "description"):
        v = out.get(key)
        if v is not None and not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise ManifestError(f"{where}: key {brief(key)} must be a string, got {brief(v)}")
        if v is not None:
            out[key] = str(v)
    for key in ("parameters", "properties"):
        v = out.get(key) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(c, str) and c.strip() for c in v):
            raise ManifestError(f"{where}: key {brief(key)} must be a list of column names, got {brief(v)}")
        out[key] = list(v)
    u = out.get("um_per_px")
    if isinstance(u, str) and not u.strip():
        raise ManifestError(f"{where}: um_per_px must be a column name or a positive number, got ''")
    if u is not None and not isinstance(u, str):
        if isinstance(u, bool) or not isinstance(u, (int, float)) or not _finite(u) or u <= 0:
            raise ManifestError(f"{where}: um_per_px must be a column name or a positive number, got {brief(u)}")
        out["um_per_px"] = float(u)
    ex = out.get("exclude_unlabeled", False)
    if not isinstance(ex, bool):
        raise ManifestError(f"{where}: exclude_unlabeled must be true or false, got {brief(ex)}")
    out["exclude_unlabeled"] = ex
    return out


def _finite(x: float) -> bool:
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an integer with hundreds of digits
        return False


def write_manifest(path: str | os.PathLike[str], spec: dict[str, Any]) -> None:
    """Validate the keys of ``spec`` and write it as YAML atomically (the data is not checked).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
    >>> write_manifest(p, {"name": "x", "root": ".", "table": "t.csv", "image": "file"})
    >>> "table: t.csv" in p.read_text()
    True
    """
    import yaml

    from shapekit._atomic import write_text

    clean = validate_spec(dict(spec), where=str(path))
    ordered = {k: clean[k] for k in ALLOWED_KEYS if k in clean}
    write_text(path, yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True))


def open_image_set(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Manifest:
    """A :class:`Manifest` from a ``.yaml``/``.yml`` manifest or from a folder of images.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, tifffile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> tifffile.imwrite(d / "a.tif", np.zeros((8, 8), np.uint8))
    >>> len(open_image_set(d))
    1
    """
    p = Path(path)
    if p.is_dir():
        return Manifest.from_folder(p)
    if p.suffix.lower() in (".yaml", ".yml"):
        return load_manifest(p, root=root)
    if not p.exists():
        raise ManifestError(f"image set not found: {p} (a .yaml manifest or a folder of images)")
    raise ManifestError(f"{p}: expected a .yaml manifest or a folder of images")
