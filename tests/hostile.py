"""Builders of hostile and careless inputs for the CLI fuzz suite (tests/test_fuzz_*.py).

Every builder writes into a folder it is given and returns ``{case name: path}``. Good variants
(:func:`good_images`) must still work; everything else must be refused with exit code 2.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np

RNG_SEED = 0


def texture(h: int = 96, w: int = 96, seed: int = RNG_SEED) -> np.ndarray:
    """A non-constant grey image in [0, 1] (smoothed noise, micrograph-like)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    t = gaussian_filter(rng.standard_normal((h, w)), 2.0)
    return ((t - t.min()) / (t.max() - t.min())).astype(np.float32)


def _u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def write_png(path: Path, arr: np.ndarray) -> Path:
    import cv2

    ok, buf = cv2.imencode(".png", arr)
    assert ok
    Path(path).write_bytes(buf.tobytes())
    return Path(path)


def png_with_header(path: Path, width: int, height: int) -> Path:
    """A tiny, valid-looking PNG whose IHDR claims ``width`` x ``height`` (a header bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                           + chunk(b"IEND", b""))
    return Path(path)


def good_images(d: Path) -> dict[str, tuple[Path, list[str]]]:
    """Unusual but valid inputs: ``{name: (path, extra ingest arguments)}``."""
    import tifffile

    d.mkdir(parents=True, exist_ok=True)
    img = texture()
    out: dict[str, tuple[Path, list[str]]] = {}
    p = d / "bilevel.tif"
    tifffile.imwrite(p, img > 0.5)  # 1 bit per sample
    out["bilevel_tiff"] = (p, [])
    rgba = np.dstack([_u8(img), _u8(1 - img), _u8(img ** 2), np.full(img.shape, 128, np.uint8)])
    out["rgba_png"] = (write_png(d / "rgba.png", rgba), [])
    name = os.fsdecode(b"scan_\xff\xfe_latin1.png")  # not UTF-8: a surrogate-escaped str
    out["non_utf8_name"] = (write_png(d / name, _u8(img)), [])
    p = d / "pages.tif"
    with tifffile.TiffWriter(p) as tw:
        tw.write(_u8(img))
        tw.write(_u8(texture(seed=1)))
    out["chosen_page"] = (p, ["--page", "1"])
    return out


def bad_images(d: Path) -> dict[str, Path]:
    """Image files that must be refused, one class of damage each.

    Bombs (inputs that would allocate gigabytes if not refused) are built separately, in
    tests/test_fuzz_bombs.py, and run only in a child process under a memory limit.
    """
    import tifffile

    d.mkdir(parents=True, exist_ok=True)
    img = _u8(texture())
    good = write_png(d / "_good.png", img).read_bytes()
    out: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        (d / name).write_bytes(data)
        out[name.replace(".", "_")] = d / name

    put("empty.png", b"")
    put("text.tif", b"hello, I am not a TIFF\n" * 10)
    put("truncated.png", good[: len(good) // 2])
    import cv2

    ok, jpg = cv2.imencode(".jpg", img)
    put("truncated.jpg", jpg.tobytes()[: len(jpg) // 2])
    tifffile.imwrite(d / "_t.tif", img)
    t = (d / "_t.tif").read_bytes()
    put("truncated.tif", t[: len(t) // 3])
    out["zero_size"] = png_with_header(d / "zero_size.png", 0, 10)
    (d / "folder.png").mkdir(exist_ok=True)
    out["folder"] = d / "folder.png"
    out["constant"] = write_png(d / "constant.png", np.full((64, 64), 77, np.uint8))
    out["one_row"] = write_png(d / "one_row.png", img[:1])
    nan = texture().astype(np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite(d / "nan.tif", nan)
    out["nan"] = d / "nan.tif"
    tifffile.imwrite(d / "volume.tif", np.stack([img] * 3), imagej=True)
    out["volume"] = d / "volume.tif"
    with tifffile.TiffWriter(d / "multipage.tif") as tw:
        tw.write(img)
        tw.write(img)
    out["multipage_no_page"] = d / "multipage.tif"
    out["missing"] = d / "does_not_exist.png"
    (d / "_t.tif").unlink()
    (d / "_good.png").unlink()
    return out


def manifest_folder(d: Path, n_per_class: int = 4, size: int = 96) -> Path:
    """A valid labelled manifest (3 classes) with PNG images; returns the YAML path."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "images").mkdir(exist_ok=True)
    rows = ["file,label,T"]
    k = 0
    for c, lab in enumerate(("a", "b", "c")):
        for i in range(n_per_class):
            img = texture(size, size, seed=100 + k)
            img = np.clip(img * (0.6 + 0.2 * c), 0, 1)
            write_png(d / "images" / f"{lab}{i}.png", _u8(img))
            rows.append(f"{lab}{i}.png,{lab},{100 + 10 * c + i}")
            k += 1
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    m = d / "manifest.yaml"
    m.write_text("name: fuzz\nroot: .\ntable: labels.csv\nimages_dir: images\nimage: file\n"
                 "label: label\nparameters: [T]\n")
    return m


def _billion_laughs() -> str:
    """Nested aliases inside an allowed key (a string is expected there: the old validator put
    the whole expanded value, 9**9 strings, into its error message)."""
    lines = ["description:", '  - &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"  - &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\nname: x\ntable: labels.csv\nimage: file\n"


BILLION_LAUGHS = _billion_laughs()
"""A 1 KB YAML document that expands to 9**9 strings (some 387 million)."""


def bad_manifests(data: Path) -> dict[str, Path]:
    """Manifests beside a valid ``labels.csv``/``images`` in ``data`` that must be refused."""
    base = "root: .\ntable: labels.csv\nimages_dir: images\nimage: file\nlabel: label\n"
    texts = {
        "alias": "name: &n x\nlicense: *n\n" + base,
        "python_tag": "name: !!python/object/apply:os.system ['echo pwned']\n" + base,
        "unknown_key": "name: x\ncolour: red\n" + base,
        "name_is_list": "name: [1, 2]\n" + base,
        "name_is_mapping": "name: {a: 1}\n" + base,
        "params_not_list": "name: x\nparameters: {T: 1}\n" + base,
        "huge_int": "name: x\num_per_px: 1" + "0" * 400 + "\n" + base,
        "missing_table": "name: x\nroot: .\ntable: nope.csv\nimage: file\n",
        "missing_column": "name: x\nroot: .\ntable: labels.csv\nimages_dir: images\nimage: filename\n",
        "traversal": "name: x\nroot: images\ntable: ../labels.csv\nimage: file\n",
        "not_a_mapping": "- a\n- b\n",
        "empty": "",
        "deep": "name: " + "[" * 600 + "\n",
        "long_value": "name: x\nlabel: " + "y" * 200000 + "\n" + base.replace("label: label\n", ""),
        "bad_yaml": "name: x\n  table: : :\n",
        "nan_um": "name: x\num_per_px: .nan\n" + base,
        "bool_exclude": "name: x\nexclude_unlabeled: maybe\n" + base,
        "non_numeric_param": "name: x\nparameters: [label]\n" + base,
    }
    out = {}
    for name, text in texts.items():
        p = data / f"bad_{name}.yaml"
        p.write_text(text)
        out[name] = p
    p = data / "bad_not_utf8.yaml"
    p.write_bytes(b"name: \xff\xfe\n" + base.encode())
    out["not_utf8"] = p
    # a table with a duplicate row and one with a path escaping the root
    (data / "dup.csv").write_text("file,label\na0.png,a\na0.png,b\n")
    p = data / "bad_duplicate.yaml"
    p.write_text("name: x\nroot: .\ntable: dup.csv\nimages_dir: images\nimage: file\nlabel: label\n")
    out["duplicate"] = p
    (data / "escape.csv").write_text("file,label\n../../../../etc/passwd,a\n")
    p = data / "bad_escape.yaml"
    p.write_text("name: x\nroot: .\ntable: escape.csv\nimages_dir: images\nimage: file\nlabel: label\n")
    out["row_escapes_root"] = p
    return out


def bad_model_dirs(good: Path, d: Path) -> dict[str, Path]:
    """Copies of the temper model directory ``good`` with one thing broken each."""
    import shutil

    out: dict[str, Path] = {}
    cfg = json.loads((good / "config.json").read_text())

    def variant(name: str, config: object | None = None, raw: bytes | None = None) -> None:
        t = d / name
        shutil.copytree(good, t)
        if raw is not None:
            (t / "config.json").write_bytes(raw)
        elif config is not None:
            (t / "config.json").write_text(json.dumps(config))
        out[name] = t

    variant("config_is_list", [cfg])
    variant("classifier_is_string", {**cfg, "classifier": "svm"})
    variant("params_is_string", {**cfg, "classifier": {**cfg["classifier"], "params": "svm"}})
    variant("label_names_is_string", {**cfg, "label_names": "abc"})
    variant("feature_params_wrong", {**cfg, "feature_params": {**cfg["feature_params"],
                                                                "scales": "1,2"}})
    variant("tile_size_negative", {**cfg, "tile_size": -5})
    variant("n_features_string", {**cfg, "classifier": {**cfg["classifier"], "n_features": "many"}})
    variant("not_json", raw=b"{not json")
    variant("not_utf8", raw=b"\xff\xfe\x00")
    variant("deep_json", raw=b"[" * 100000 + b"]" * 100000)
    variant("huge_number", raw=b'{"format": ' + b"9" * 5000 + b"}")
    variant("other_version", {**cfg, "format_version": 99})
    variant("cnn_arch_wrong", {**cfg, "kind": "cnn", "tile_size": 32,
                               "cnn": {"arch": {"width": "wide", "depths": [1, 1]},
                                       "input_scale": 1}})
    t = d / "corrupt_weights"
    shutil.copytree(good, t)
    for w in t.glob("*.safetensors"):
        w.write_bytes(b"\x00" * 7)
    out["corrupt_weights"] = t
    t = d / "no_config"
    shutil.copytree(good, t)
    (t / "config.json").unlink()
    out["no_config"] = t
    (d / "a_file").write_text("x")
    out["a_file"] = d / "a_file"
    out["missing"] = d / "nope"
    return out


def bad_run_dirs(good: Path, d: Path) -> dict[str, Path]:
    """Copies of an exported GAN run directory ``good`` with one thing broken each."""
    import shutil

    out: dict[str, Path] = {}
    cfg = json.loads((good / "generator.json").read_text())

    def variant(name: str, config: object | None = None, raw: bytes | None = None) -> None:
        t = d / name
        shutil.copytree(good, t)
        if raw is not None:
            (t / "generator.json").write_bytes(raw)
        else:
            (t / "generator.json").write_text(json.dumps(config))
        out[name] = t

    variant("generator_is_list", [cfg])
    variant("net_is_string", {**cfg, "net": "big"})
    variant("channels_string", {**cfg, "net": {**cfg["net"], "channels": "16"}})
    variant("conditions_mismatch", {**cfg, "conditions": {**cfg["conditions"], "mean": [0.0] * 3}})
    variant("labels_wrong_type", {**cfg, "conditions": {**cfg["conditions"], "label_names": "ab"}})
    variant("format_version", {**cfg, "format_version": "one"})
    variant("not_json", raw=b"\x00\x01")
    t = d / "corrupt_weights"
    shutil.copytree(good, t)
    (t / "generator.safetensors").write_bytes(b"garbage" * 10)
    out["corrupt_weights"] = t
    t = d / "no_export"
    shutil.copytree(good, t)
    (t / "generator.json").unlink()
    out["no_export"] = t
    out["missing"] = d / "nope"
    return out


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of everything under ``root`` (folders: size -1)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[os.fsdecode(p.relative_to(root))] = (-1 if p.is_dir() else st.st_size, st.st_mtime_ns)
    return out
