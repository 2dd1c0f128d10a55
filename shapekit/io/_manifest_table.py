"""Manifest loading internals: YAML parsing, table checks row by row, folder image sets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shapekit.errors import ManifestError, brief


MAX_MANIFEST_BYTES = 2**20
"""Largest manifest YAML read (1 MiB; a manifest is a few hundred bytes)."""
MAX_TABLE_BYTES = 64 * 2**20
"""Largest label table read (64 MiB: several hundred thousand rows)."""


class _AliasFound(Exception):
    def __init__(self, line: int, what: str) -> None:
        super().__init__(line, what)
        self.line, self.what = line, what


def _safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses anchors and aliases before they are expanded.

    Aliases let a 1 KB file stand for gigabytes ("billion laughs"); a manifest never needs them.
    """
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent):
                raise _AliasFound(event.start_mark.line + 1, f"alias *{str(event.anchor)[:40]}")
            if getattr(event, "anchor", None) is not None:
                raise _AliasFound(event.start_mark.line + 1, f"anchor &{str(event.anchor)[:40]}")
            return super().compose_node(parent, index)

    loader = NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_spec(mpath: Path) -> dict[str, Any]:
    """Parse a manifest YAML file into a validated dict (no anchors/aliases, at most 1 MiB)."""
    import yaml

    from shapekit.io.manifest import validate_spec

    if not mpath.exists():
        raise ManifestError(f"manifest not found: {mpath}")
    if mpath.is_dir():
        raise ManifestError(f"{mpath} is a directory, not a manifest file")
    size = mpath.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{mpath}: {size} bytes, too large for a manifest (at most "
                            f"{MAX_MANIFEST_BYTES}); the table belongs in a separate CSV")
    try:
        spec = _safe_yaml(mpath.read_text(encoding="utf-8"))
    except _AliasFound as e:
        raise ManifestError(f"{mpath}: line {e.line}: YAML {e.what}: anchors and aliases are not "
                            f"allowed in a manifest") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = " ".join(str(e).split())[:160]
        raise ManifestError(f"{mpath}: not valid YAML ({first})") from None
    except RecursionError:
        raise ManifestError(f"{mpath}: not a usable manifest (YAML nested too deeply)") from None
    if spec is None:
        raise ManifestError(f"{mpath}: empty manifest")
    return validate_spec(spec, where=str(mpath))


def _line(i: int) -> int:
    """CSV line of data row ``i`` (0-based): the header is line 1."""
    return int(i) + 2


def build_manifest(spec: dict[str, Any], mpath: Path, root_override: Path | None):  # noqa: ANN201
    """Resolve root and table, check every row, return a :class:`Manifest`."""
    import pandas as pd

    from shapekit.io.manifest import Manifest

    where = str(mpath)
    if root_override is not None:
        root = root_override
    else:
        root = Path(os.path.expanduser(os.path.expandvars(str(spec.get("root") or "."))))
        if not root.is_absolute():
            root = mpath.parent / root
    root = root.resolve()
    if not root.is_dir():
        raise ManifestError(f"{where}: data root not found: {root} (pass --root / root= to override)")
    table_path = _inside(root, spec["table"], f"{where}: table")
    if not table_path.is_file():
        raise ManifestError(f"{where}: table not found: {table_path}")
    tname = table_path.name
    if table_path.stat().st_size > MAX_TABLE_BYTES:
        raise ManifestError(f"{where}: table {tname} is {table_path.stat().st_size} bytes, over the "
                            f"limit of {MAX_TABLE_BYTES} bytes")
    str_cols = [c for c in (spec["image"], spec.get("label"), spec.get("group")) if c]
    try:
        df = pd.read_csv(table_path, dtype={c: str for c in str_cols}, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise ManifestError(f"{where}: table {tname} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        first = " ".join(str(e).split())[:160]
        raise ManifestError(f"{where}: cannot parse table {tname} ({first})") from None
    um = spec.get("um_per_px")
    needed = [("image", spec["image"]), ("label", spec.get("label")), ("group", spec.get("group"))]
    needed += [("parameters", c) for c in spec["parameters"]] + [("properties", c) for c in spec["properties"]]
    if isinstance(um, str):
        needed.append(("um_per_px", um))
    for key, col in needed:
        if col and col not in df.columns:
            raise ManifestError(f"{where}: column {brief(col)} (key {brief(key)}) not in {tname}; "
                                f"columns are {brief([str(c) for c in df.columns[:20]], 200)}")
    if len(df) == 0:
        raise ManifestError(f"{where}: table {tname} has no rows")
    df = df.copy()
    df["_line"] = np.arange(len(df)) + 2
    excluded = 0
    label = spec.get("label")
    if label:
        empty = df[label].isna() | (df[label].astype(str).str.strip() == "")
        if empty.any():
            if spec["exclude_unlabeled"]:
                excluded = int(empty.sum())
                df = df[~empty]
            else:
                i = int(df.loc[empty, "_line"].iloc[0])
                raise ManifestError(f"{where}: {tname} line {i}: empty label in column {brief(label)} "
                                    f"(set exclude_unlabeled: true to drop unlabeled rows)")
        if len(df) == 0:
            raise ManifestError(f"{where}: table {tname} has no labeled rows ({excluded} excluded)")
        df[label] = df[label].astype(str).str.strip()
    for col in spec["parameters"] + spec["properties"] + ([um] if isinstance(um, str) else []):
        df[col] = _numeric(df, col, where, tname, allow_missing=(col == um))
    if isinstance(um, str):
        bad = df[col_le0(df, um)]
        if len(bad):
            raise ManifestError(f"{where}: {tname} line {int(bad['_line'].iloc[0])}: um_per_px value "
                                f"{brief(bad[um].iloc[0])} in column {brief(um)} must be positive")
    paths = []
    for rel, ln in zip(df[spec["image"]].tolist(), df["_line"].tolist()):
        if rel is None or (isinstance(rel, float) and np.isnan(rel)) or not str(rel).strip():
            raise ManifestError(f"{where}: {tname} line {ln}: empty image path in column {brief(spec['image'])}")
        p = _inside(root, Path(spec.get("images_dir") or ".") / str(rel).strip(),
                    f"{where}: {tname} line {ln}: image path {brief(str(rel))}")
        if not p.is_file():
            raise ManifestError(f"{where}: {tname} line {ln}: image file not found: {p}")
        paths.append(str(p))
    df["path"] = paths
    dup = df["path"].duplicated(keep=False)
    if dup.any():
        lines = df.loc[dup, "_line"].tolist()
        first = df.loc[dup, "path"].iloc[0]
        same = df.loc[df["path"] == first, "_line"].tolist()
        raise ManifestError(f"{where}: {tname} lines {same[0]} and {same[1]}: duplicate image {first} "
                            f"({len(lines)} rows involved)")
    df = df.drop(columns="_line").reset_index(drop=True)
    return Manifest(name=spec["name"], root=root, table=df, label_col=label or None,
                    group_col=spec.get("group") or None, parameters=list(spec["parameters"]),
                    properties=list(spec["properties"]), um_per_px=um, excluded=excluded,
                    license=spec.get("license"), citation=spec.get("citation"),
                    description=spec.get("description"), source=mpath.resolve())


def col_le0(df: Any, col: str) -> Any:
    """Rows whose value in ``col`` is not positive (NaN allowed: unknown)."""
    v = df[col]
    return v.notna() & (v <= 0)


def _numeric(df: Any, col: str, where: str, tname: str, *, allow_missing: bool) -> Any:
    import pandas as pd

    values = pd.to_numeric(df[col], errors="coerce")
    raw = df[col]
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = bad.to_numpy().nonzero()[0][0]
        raise ManifestError(f"{where}: {tname} line {int(df['_line'].iloc[i])}: non-numeric value "
                            f"{brief(raw.iloc[i])} in numeric column {brief(col)}")
    inf = ~np.isfinite(values.fillna(0.0).to_numpy(dtype=np.float64))
    if inf.any():
        i = int(inf.nonzero()[0][0])
        raise ManifestError(f"{where}: {tname} line {int(df['_line'].iloc[i])}: infinite value in "
                            f"numeric column {brief(col)}")
    if not allow_missing and values.isna().any():
        i = int(values.isna().to_numpy().nonzero()[0][0])
        raise ManifestError(f"{where}: {tname} line {int(df['_line'].iloc[i])}: missing value in "
                            f"numeric column {brief(col)}")
    return values.astype(np.float64)


def _inside(root: Path, rel: str | Path, what: str) -> Path:
    """``root/rel`` resolved, refusing anything (``..``, absolute, symlink) that leaves ``root``."""
    p = Path(rel)
    given = p if p.is_absolute() else root / p
    full = given.resolve()
    try:
        full.relative_to(root)
    except ValueError:
        why = (f" (a symlink to {full}: links must stay inside the root; set `root:` to a folder "
               "that holds the targets)") if given.is_symlink() else ""
        raise ManifestError(f"{what} escapes the data root {root}{why}") from None
    return full


def folder_manifest(cls: Any, folder: Path):  # noqa: ANN201
    """Unlabeled manifest of the images directly in ``folder`` (sorted by name)."""
    import pandas as pd

    from shapekit.io._headers import sniff_format
    from shapekit.io.readers import IMAGE_SUFFIXES

    if not folder.exists():
        raise ManifestError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise ManifestError(f"{folder} is not a folder")
    root = folder.resolve()
    files = []
    for p in sorted(root.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.stat().st_size > 0:
            try:
                if sniff_format(p) is not None:
                    files.append(p)
            except OSError:
                continue
    if not files:
        raise ManifestError(f"{folder}: no readable images (TIFF, PNG, JPEG, BMP) in this folder")
    df = pd.DataFrame({"file": [p.name for p in files], "path": [str(p) for p in files]})
    return cls(name=root.name, root=root, table=df, source=None)
