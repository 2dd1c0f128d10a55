"""CLI commands on input data: ``shapekit ingest`` and ``shapekit manifest check``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shapekit.cli._common import OutputPath, emit_json, info, json_option, root_option
from shapekit.errors import InputError, OutputError, describe_os_error, is_user_os_error

PAD_CHOICES = ("none", "reflect", "constant")


def _fail_line(msg: str) -> None:
    click.echo(f"shapekit: error: {' '.join(str(msg).split())}", err=True)


def _ingest_one(path: Path, out: Path, *, source_um: float | None, target_um: float | None,
                keep_info_bar: bool, page: int | None, tile_size: int | None, stride: int | None,
                pad: str, scale_bar: str | None = "auto") -> dict[str, Any]:
    """Clean one image and write its outputs; nothing is written unless everything succeeded."""
    import numpy as np

    from shapekit._atomic import atomic_path, write_json
    from shapekit.io import load_scan, tile_image, write_tiff

    scan = load_scan(path, um_per_px=source_um, target_um_per_px=target_um,
                     keep_info_bar=keep_info_bar, page=page, scale_bar=scale_bar)
    record = scan.to_dict()
    tiles = None
    if tile_size is not None:
        try:
            tiles = tile_image(scan.image, tile_size, stride=stride, pad=pad)
        except InputError as e:
            raise InputError(f"{path}: {e}") from None
        record["tiles"] = {"n": len(tiles), "size": int(tile_size), "stride": int(stride or tile_size),
                           "pad": pad}
    stem = path.stem
    outputs = [out / f"{stem}.tif", out / f"{stem}.json"]
    write_tiff(outputs[0], scan.image, {k: record[k] for k in ("source", "um_per_px", "info_bar_rows")})
    if tiles is not None:
        outputs.append(out / f"{stem}.tiles.npz")
        with atomic_path(outputs[-1]) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, tiles=tiles.tiles, coords=tiles.coords,
                                    image_shape=np.asarray(tiles.image_shape, dtype=np.int64))
    record["outputs"] = [str(p) for p in outputs]
    write_json(outputs[1], {k: v for k, v in record.items() if k != "outputs"})
    return record


def _expand(items: tuple[Path, ...]) -> tuple[tuple[Path, ...], dict[Path, str]]:
    """Folders (their image files, as ``classify`` reads them) and glob patterns expanded; a
    file, or a missing path that is no pattern, kept as given (it gets its own error line).
    Also the error of each folder without images (reported on its own line, as a bad file is)."""
    import glob

    from shapekit.io import IMAGE_SUFFIXES

    out: list[Path] = []
    errors: dict[Path, str] = {}
    for item in items:
        if item.is_dir() or (not item.exists() and glob.has_magic(str(item))):
            from shapekit.temper.batch import expand_inputs

            try:
                out += expand_inputs([item])
            except InputError:
                if not item.is_dir():
                    raise   # a pattern that matches no image: a usage error
                out.append(item)
                errors[item] = (f"{item} is a directory with no image files directly inside "
                                f"it ({' '.join(sorted(IMAGE_SUFFIXES))}; use 'DIR/**/*.tif' to "
                                "descend)")
        else:
            out.append(item)
    return tuple(out), errors


@click.command(name="ingest")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=OutputPath("dir"),
              help="Output folder (created if needed).")
@click.option("--um-per-px", "target_um", type=float, default=None,
              help="Resample every image to this pixel size (micrometres per pixel). Needs a known "
                   "source scale: from the file's metadata or --source-um-per-px.")
@click.option("--source-um-per-px", "source_um", type=float, default=None,
              help="Pixel size of the inputs (um/px), overriding what their metadata says.")
@click.option("--keep-info-bar", is_flag=True, help="Do not detect and crop the instrument info bar.")
@click.option("--page", type=click.IntRange(min=0), default=None,
              help="Page to read from multi-page TIFFs (0-based).")
@click.option("--scale-bar", "scale_bar", type=click.Choice(("auto", "matcher", "tesseract", "off")),
              default="auto", show_default=True,
              help="When the file has no pixel size, read the info bar's scale bar: the built-in "
                   "glyph matcher, Tesseract (needs tesseract-ocr installed), auto (the matcher, "
                   "checked by Tesseract when installed) or off.")
@click.option("--tile-size", type=click.IntRange(min=1), default=None,
              help="Also cut the cleaned image into SIZE x SIZE tiles: DIR/<stem>.tiles.npz "
                   "(tiles, coords = (row, col) of each tile's top-left pixel, image_shape).")
@click.option("--stride", type=click.IntRange(min=1), default=None,
              help="Tile stride (default: the tile size).")
@click.option("--pad", type=click.Choice(PAD_CHOICES), default="none", show_default=True,
              help="Tile edge policy: none drops partial tiles (an image smaller than one tile is "
                   "an error); reflect/constant pad to cover the image.")
@json_option
def ingest_cmd(images: tuple[Path, ...], out: Path, target_um: float | None, source_um: float | None,
               keep_info_bar: bool, page: int | None, scale_bar: str, tile_size: int | None,
               stride: int | None, pad: str, as_json: bool) -> int:
    """Clean raw microscope images: grey float32 in [0, 1], info bar removed, optional rescale.

    IMAGES are files, folders (the image files directly inside) or glob patterns (quoted;
    ``**`` descends). For each image (TIFF, PNG, JPEG or BMP) writes DIR/<stem>.tif (float32)
    and DIR/<stem>.json ({"source", "shape": [h, w], "info_bar_rows", "um_per_px", "bit_depth",
    ...}). The pixel size comes from --source-um-per-px, else from the file (FEI, Zeiss, Olympus SIS tags, TIFF
    resolution tags), else from the scale bar drawn in the info bar (its line measured in pixels,
    its label such as "5 µm" read; "um_per_px_source": "scale_bar", details under "scale_bar"),
    else it is null; an unreadable bar gives null and says why in "scale_bar"."note". When the
    file's tags give it, the scale bar is still read to check them: more than 10 % apart, the
    tags' value is kept and the conflict is printed and listed under "notes".

    Each input is handled on its own: a bad input (missing, corrupt, truncated, constant, too
    small, multi-page without --page, oversized...) prints one error line on stderr and nothing is
    written for it; the good inputs are still written. The exit code is 2 if any input failed.
    Inputs must have distinct file stems, ignoring case (they name the outputs, and A.tif and a.tif
    are one file on macOS and Windows): two that share one are refused before anything is written.
    """
    import math
    import os
    import unicodedata

    if source_um is not None and not (math.isfinite(source_um) and source_um > 0):
        raise InputError(f"--source-um-per-px must be positive (a finite number), got {source_um}")
    if target_um is not None and not (math.isfinite(target_um) and target_um > 0):
        raise InputError(f"--um-per-px must be positive (a finite number), got {target_um}")
    if stride is not None and tile_size is None:
        raise InputError("--stride needs --tile-size")
    if pad != "none" and tile_size is None:
        raise InputError(f"--pad {pad} needs --tile-size (it pads the tiles' edges; the cleaned "
                         "image itself is never padded)")
    images, folder_errors = _expand(images)
    used: dict[str, Path] = {}
    for path in images:  # before anything is written: never half of a set of colliding outputs
        # stems equal but for case (or Unicode normalisation) name one file on macOS and Windows
        key = unicodedata.normalize("NFC", path.stem).casefold()
        prev = used.get(key)
        if prev is not None and (Path(os.path.realpath(path)) == Path(os.path.realpath(prev)) or (
                path.is_file() and prev.is_file() and os.path.samefile(path, prev))):
            raise InputError(f"{path}: given twice (as {prev} too)")
        if prev is not None:
            where = "" if prev.stem == path.stem else " on a case-insensitive file system (macOS, Windows)"
            raise InputError(f"{path} and {prev} would both be written as {out / path.stem}.tif{where}: "
                             "inputs need distinct file stems, ignoring case (rename one)")
        used[key] = path
        for target in (out / f"{path.stem}{ext}" for ext in (".tif", ".json", ".tiles.npz")):
            if target.is_file() and path.is_file() and os.path.samefile(path, target):
                raise InputError(f"{path} would be replaced by its own cleaned copy ({target}): "
                                 "give another --out")
    from shapekit._progress import progress

    records: list[dict[str, Any]] = []
    failed = 0
    for path in progress(images, desc="ingest", total=len(images)):
        try:
            if path in folder_errors:
                raise InputError(folder_errors[path])
            rec = _ingest_one(path, out, source_um=source_um, target_um=target_um,
                              keep_info_bar=keep_info_bar, page=page, tile_size=tile_size,
                              stride=stride, pad=pad,
                              scale_bar=None if scale_bar == "off" else scale_bar)
            records.append({"ok": True, **rec})
            if not as_json:
                info(f"{path} -> {rec['outputs'][0]}  {rec['shape'][0]}x{rec['shape'][1]}, "
                     f"info bar {rec['info_bar_rows']} rows, um/px {rec['um_per_px']}"
                     + (f" ({rec['um_per_px_source']})" if rec['um_per_px_source'] else "")
                     + (f"; scale bar: {rec['scale_bar']['note']}" if rec.get("scale_bar")
                        and rec["scale_bar"]["um_per_px"] is None and rec["um_per_px"] is None else ""))
                for note in rec.get("notes") or []:
                    info(f"  {path}: {note}")
        except InputError as e:
            if isinstance(e, OutputError):  # the output is at fault: no other input can succeed
                raise
            failed += 1
            msg = str(e)
            _fail_line(msg)
            records.append({"ok": False, "source": str(path), "error": " ".join(msg.split())})
        except OSError as e:
            if not is_user_os_error(e):
                raise
            failed += 1
            msg = describe_os_error(e, path if e.filename is None else None)
            _fail_line(msg)
            records.append({"ok": False, "source": str(path), "error": " ".join(msg.split())})
    if as_json:
        emit_json({"n_ok": len(images) - failed, "n_failed": failed, "images": records})
    return 2 if failed else 0


@click.command(name="check")
@click.argument("manifest", type=click.Path(path_type=Path))
@root_option
@click.option("--read-images", is_flag=True,
              help="Also decode every image (slower): reports the first unreadable one.")
@json_option
def manifest_check_cmd(manifest: Path, root: Path | None, read_images: bool, as_json: bool) -> None:
    """Validate a dataset manifest (.yaml, or a folder of images) and print counts per label.

    Checks keys, the table's columns, every image path (exists, no duplicates, inside the data
    root), numeric parameter/property columns and empty labels. Any problem is one error line
    naming the table line or key, exit code 2.
    """
    from shapekit.io import open_image_set, read_image

    m = open_image_set(manifest, root=root)
    if read_images:
        from shapekit._progress import progress

        for p in progress(m.paths, desc="read", total=len(m)):
            read_image(p)
    summary = m.summary()
    if as_json:
        emit_json({"ok": True, "manifest": str(manifest), **summary})
        return
    click.echo(f"{m.name}: {len(m)} images, root {m.root}")
    if m.excluded:
        click.echo(f"excluded (unlabeled): {m.excluded}")
    label = m.label_col or "label"
    width = max([len(label)] + [len(k) for k in summary["counts"]])
    click.echo(f"{label:<{width}}  count")
    for k, v in summary["counts"].items():
        click.echo(f"{k:<{width}}  {v}")
    if m.group_col:
        click.echo(f"groups ({m.group_col}): {summary['n_groups']}")
    if m.parameters:
        click.echo(f"parameters: {', '.join(m.parameters)}")


def register(app: click.Group, manifest_app: click.Group) -> None:
    """Add ``ingest`` to the application and ``check`` to the ``manifest`` group."""
    app.add_command(ingest_cmd)
    manifest_app.add_command(manifest_check_cmd)
