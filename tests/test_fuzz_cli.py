"""Every CLI command against malformed images, manifests, model and run directories, arguments and
output paths (tests/hostile.py builds them): each is refused with exit code 2, at most 3 short
stderr lines, no traceback, and nothing created or changed anywhere in the test's world (inputs,
outputs, working directory). The good variants (bilevel TIFF, RGBA PNG, a non-UTF-8 file name, a
chosen page of a multi-page TIFF) still work. Hypothesis mutates files and configs at random.

All of this runs in-process; nothing here may allocate much even if a refusal regressed: the
bombs (inputs asking for gigabytes) run only in a memory-limited child, in test_fuzz_bombs.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile as H

MAX_LINE = 420  # the CLI cuts messages at 400 characters, plus its prefix


def run(*args: object) -> tuple[int, str, str]:
    """``shapekit ARGS`` in-process: (exit code, stdout, stderr)."""
    from shapekit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([os.fspath(a) if isinstance(a, Path) else str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Good inputs, models and the hostile variants, in one folder whose state is checked."""
    import torch

    from shapekit.generate import ConditionCodec, Generator
    from shapekit.generate.export import export_generator
    from shapekit.temper.cnn import SmallResNet
    from shapekit.temper.modeldir import write_model_dir
    from shapekit.temper.train import train_on_images
    from toy import toy_dataset

    root = tmp_path_factory.mktemp("world")
    w: dict = {"root": root, "out": root / "out", "cwd": root / "cwd"}
    w["cwd"].mkdir()
    w["manifest"] = H.manifest_folder(root / "data")
    w["images"] = root / "data" / "images"
    w["good"] = H.good_images(root / "good")
    w["bad"] = H.bad_images(root / "bad")
    w["bad_manifests"] = H.bad_manifests(root / "data")
    imgs, labels = toy_dataset(3, 64, seed=0)
    w["model"] = root / "model"
    train_on_images(imgs, labels, tile_size=None, cv_folds=2, augment=0,
                    feature_params={"scales": [1, 2]}, aggregation="features").save(w["model"])
    torch.manual_seed(0)
    net = SmallResNet(1, 3, width=4)
    w["cnn"] = write_model_dir(root / "cnn", {
        "label_names": ["a", "b", "c"], "tile_size": 32, "target_um_per_px": None, "kind": "cnn",
        "aggregation": "proba", "cnn": {"arch": net.config(), "input_scale": 1, "epochs": 0}},
        {"cnn.safetensors": {k: v.detach().numpy() for k, v in net.state_dict().items()}})
    w["gan"] = root / "gan"
    export_generator(Generator(2, 1, z_local=2, z_global=4, w_dim=8, channels=[8, 4]),
                     ConditionCodec.fit(["a", "b"], ["T"], np.array([[1.0], [2.0]]), mode="parameters"),
                     w["gan"], crop_size=16)
    w["bad_models"] = H.bad_model_dirs(w["model"], root / "bad_models")
    w["bad_runs"] = H.bad_run_dirs(w["gan"], root / "bad_runs")
    w["file"] = root / "a_file"
    w["file"].write_text("not a folder")
    return w


def assert_refused(w: dict, *args: object, contains: str | None = None) -> str:
    """Run ``args``; exit 2, <= 3 short lines, no traceback, the world unchanged."""
    before = H.snapshot(w["root"])
    cwd = os.getcwd()
    os.chdir(w["cwd"])
    try:
        code, out, err = run(*args)
    finally:
        os.chdir(cwd)
    after = H.snapshot(w["root"])
    shown = " ".join(os.fsdecode(str(a))[-30:] for a in args)
    lines = err.strip().splitlines()
    assert code == 2, f"{shown}: exit {code}: {err[-400:]}"
    assert 1 <= len(lines) <= 3 and all(len(x) <= MAX_LINE for x in lines), f"{shown}: {err[:600]}"
    assert "Traceback" not in err and lines[-1].startswith("shapekit: error: "), f"{shown}: {err}"
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert not changed, f"{shown}: changed {changed[:4]}"
    if contains is not None:
        assert contains in err, f"{shown}: {err}"
    if w["out"].exists():  # pragma: no cover - the snapshot already failed
        shutil.rmtree(w["out"])
    return err


# -- malformed images ------------------------------------------------------------------------------

IMAGE_COMMANDS = {
    "ingest": lambda w, p: ("ingest", p, "--out", w["out"]),
    "classify": lambda w, p: ("classify", w["model"], p),
    "explain": lambda w, p: ("explain", w["model"], p, "--out", w["out"] / "x.png"),
    "invariance": lambda w, p: ("analyze", "invariance", w["cnn"], p, "--size", "16"),
}
BAD_IMAGES = ["empty_png", "text_tif", "truncated_png", "truncated_jpg", "truncated_tif",
              "zero_size", "folder", "constant", "one_row", "nan", "volume",
              "multipage_no_page", "missing"]


@pytest.mark.parametrize("case", BAD_IMAGES)
def test_bad_images_refused_by_every_image_command(world, case):
    p = world["bad"][case]
    for name, build in IMAGE_COMMANDS.items():
        if name == "invariance" and case in ("constant", "one_row"):
            continue  # a square crop of any image is a valid network input
        assert_refused(world, *build(world, p))


def test_bad_image_inside_an_image_set(world, tmp_path):
    """score and manifest check --read-images name the damaged file of a set."""
    d = world["root"] / "set_with_bad"
    if not d.exists():
        shutil.copytree(world["images"], d)
        shutil.copy(world["bad"]["truncated_png"], d / "zz_truncated.png")
    assert_refused(world, "manifest", "check", d, "--read-images", contains="zz_truncated.png")
    assert_refused(world, "score", world["images"], d, "--n-boot", "2", "--n-perm", "2",
                   contains="zz_truncated.png")


# -- malformed manifests ---------------------------------------------------------------------------

MANIFEST_COMMANDS = {
    "check": lambda w, m: ("manifest", "check", m),
    "featurize": lambda w, m: ("featurize", m, "--out", w["out"] / "f.npz"),
    "train-classifier": lambda w, m: ("train-classifier", m, "--out", w["out"]),
    "evaluate": lambda w, m: ("evaluate", w["model"], m),
    "robustness": lambda w, m: ("robustness", w["model"], m),
    "train-gan": lambda w, m: ("train-gan", m, "--out", w["out"], "--max-steps", "1"),
    "score": lambda w, m: ("score", m, w["images"], "--n-boot", "2", "--n-perm", "2"),
    "cka": lambda w, m: ("analyze", "cka", w["cnn"], w["cnn"], m),
}


@pytest.mark.parametrize("case", ["alias", "python_tag", "unknown_key", "name_is_list",
                                  "name_is_mapping", "params_not_list", "huge_int",
                                  "missing_table", "missing_column", "traversal", "not_a_mapping",
                                  "empty", "deep", "long_value", "bad_yaml", "nan_um",
                                  "bool_exclude", "non_numeric_param", "not_utf8", "duplicate",
                                  "row_escapes_root"])
def test_bad_manifests_refused_by_every_manifest_command(world, case):
    m = world["bad_manifests"][case]
    for build in MANIFEST_COMMANDS.values():
        err = assert_refused(world, *build(world, m))
        assert "yyyyyyyyyy" * 20 not in err  # never the whole offending value


# -- malformed model and run directories -----------------------------------------------------------

MODEL_COMMANDS = {
    "classify": lambda w, d: ("classify", d, w["good"]["rgba_png"][0]),
    "evaluate": lambda w, d: ("evaluate", d, w["manifest"]),
    "explain": lambda w, d: ("explain", d, w["good"]["rgba_png"][0], "--out", w["out"] / "x.png"),
    "robustness": lambda w, d: ("robustness", d, w["manifest"]),
    "invariance": lambda w, d: ("analyze", "invariance", d, w["images"], "--size", "16"),
    "id": lambda w, d: ("analyze", "id", d, w["manifest"]),
}


@pytest.mark.parametrize("case", ["config_is_list", "classifier_is_string", "params_is_string",
                                  "label_names_is_string", "feature_params_wrong",
                                  "tile_size_negative", "n_features_string", "not_json",
                                  "not_utf8", "deep_json", "huge_number", "other_version",
                                  "cnn_arch_wrong", "corrupt_weights", "no_config", "a_file",
                                  "missing"])
def test_bad_model_dirs_refused(world, case):
    d = world["bad_models"][case]
    for build in MODEL_COMMANDS.values():
        assert_refused(world, *build(world, d))
    if case in ("cnn_arch_wrong", "not_json", "deep_json", "corrupt_weights"):
        assert_refused(world, "score", world["images"], world["images"], "--kid-model", d,
                       "--n-boot", "2", "--n-perm", "2")


@pytest.mark.parametrize("case", ["generator_is_list", "net_is_string", "channels_string",
                                  "conditions_mismatch", "labels_wrong_type",
                                  "format_version", "not_json", "corrupt_weights", "no_export",
                                  "missing"])
def test_bad_run_dirs_refused(world, case):
    d = world["bad_runs"][case]
    assert_refused(world, "generate", d, "--n", "2", "--out", world["out"])
    assert_refused(world, "analyze", "id", d, "--n", "8")
    assert_refused(world, "analyze", "frames", d, "--n-inputs", "2")


# -- bad arguments ---------------------------------------------------------------------------------

BAD_ARGS = {
    "generate --n 0": lambda w: ("generate", w["gan"], "--n", "0", "--out", w["out"]),
    "generate --label": lambda w: ("generate", w["gan"], "--label", "zz", "--out", w["out"]),
    "generate --set text": lambda w: ("generate", w["gan"], "--set", "T=abc", "--out", w["out"]),
    "generate --set unknown": lambda w: ("generate", w["gan"], "--set", "Q=1", "--out", w["out"]),
    "generate --set nan": lambda w: ("generate", w["gan"], "--set", "T=nan", "--out", w["out"]),
    "generate --sweep K": lambda w: ("generate", w["gan"], "--sweep", "T=1:2:10000000",
                                     "--out", w["out"]),
    "generate --sweep form": lambda w: ("generate", w["gan"], "--sweep", "T=1:2", "--out", w["out"]),
    "generate --checkpoint": lambda w: ("generate", w["gan"], "--checkpoint", "x", "--out", w["out"]),
    "generate --device": lambda w: ("generate", w["gan"], "--device", "banana", "--out", w["out"]),
    "train-gan --image-size": lambda w: ("train-gan", w["manifest"], "--out", w["out"],
                                         "--image-size", "100"),
    "train-gan --batch-size": lambda w: ("train-gan", w["manifest"], "--out", w["out"],
                                         "--batch-size", "0"),
    "train-gan --devices": lambda w: ("train-gan", w["manifest"], "--out", w["out"], "--devices", "x"),
    "train-gan --strategy": lambda w: ("train-gan", w["manifest"], "--out", w["out"],
                                       "--strategy", "banana", "--max-steps", "1"),
    "train-gan --resume nothing": lambda w: ("train-gan", w["manifest"], "--out", w["out"], "--resume"),
    "train-classifier --scales": lambda w: ("train-classifier", w["manifest"], "--out", w["out"],
                                            "--scales", "a,b"),
    "train-classifier --tile-size": lambda w: ("train-classifier", w["manifest"], "--out", w["out"],
                                               "--tile-size", "-1"),
    "featurize --out suffix": lambda w: ("featurize", w["manifest"], "--out", w["out"] / "x.csv"),
    "featurize tile too big": lambda w: ("featurize", w["manifest"], "--out", w["out"] / "x.npz",
                                         "--tile-size", "100000"),
    "robustness --perturbation": lambda w: ("robustness", w["model"], w["manifest"],
                                            "--perturbation", "zap"),
    "explain --top": lambda w: ("explain", w["model"], w["good"]["rgba_png"][0], "--out",
                                w["out"] / "x.png", "--top", "0"),
    "ingest overflow": lambda w: ("ingest", w["good"]["rgba_png"][0], "--out", w["out"],
                                  "--source-um-per-px", "1e300", "--um-per-px", "1e-300"),
    "ingest --um-per-px inf": lambda w: ("ingest", w["good"]["rgba_png"][0], "--out", w["out"],
                                         "--um-per-px", "inf"),
    "ingest --stride alone": lambda w: ("ingest", w["good"]["rgba_png"][0], "--out", w["out"],
                                        "--stride", "3"),
    "ingest --page": lambda w: ("ingest", w["good"]["rgba_png"][0], "--out", w["out"], "--page", "-1"),
    "ingest page out of range": lambda w: ("ingest", w["good"]["chosen_page"][0], "--out", w["out"],
                                           "--page", "5"),
    "ingest no scale": lambda w: ("ingest", w["good"]["rgba_png"][0], "--out", w["out"],
                                  "--um-per-px", "0.1"),
    "score --n-jobs": lambda w: ("score", w["images"], w["images"], "--n-jobs", "0"),
    "score --n-boot": lambda w: ("score", w["images"], w["images"], "--n-boot", "0"),
    "score missing set": lambda w: ("score", w["images"], w["root"] / "nope"),
    "score --real-um-per-px": lambda w: ("score", w["images"], w["images"], "--real-um-per-px", "-1"),
    "synth --n": lambda w: ("synth", "--n", "0", "--out", w["out"]),
    "demo --n": lambda w: ("demo", "--n", "3", "--out", w["out"]),
    "invariance --size": lambda w: ("analyze", "invariance", w["cnn"], w["images"], "--size", "99999"),
    "invariance --group": lambda w: ("analyze", "invariance", w["cnn"], w["images"], "--group", "spin"),
    "frequency toptemp": lambda w: ("analyze", "frequency", w["model"], w["images"]),
    "fibres --target": lambda w: ("analyze", "fibres", "--target", "nan"),
    "fibres unreachable": lambda w: ("analyze", "fibres", "--target", "5000", "--steps", "1",
                                     "--n-train", "100"),
    "dna --epochs": lambda w: ("analyze", "dna", w["manifest"], "--epochs", "0"),
    "dna unlabeled": lambda w: ("analyze", "dna", w["images"]),
    "id --methods": lambda w: ("analyze", "id", w["cnn"], w["manifest"], "--methods", "foo"),
    "frames --kinds": lambda w: ("analyze", "frames", w["cnn"], w["manifest"], "--kinds", "spin"),
    "cka --batch-size": lambda w: ("analyze", "cka", w["cnn"], w["cnn"], w["manifest"],
                                   "--batch-size", "2"),
    "stitch --lr": lambda w: ("analyze", "stitch", w["cnn"], w["cnn"], w["manifest"], "--lr", "0"),
    "symmetry toptemp": lambda w: ("analyze", "symmetry", w["cnn"], w["model"], w["manifest"]),
    "--max-pixels": lambda w: ("--max-pixels", "-5", "synth", "--n", "1", "--out", w["out"]),
    "serve --port": lambda w: ("serve", "--port", "-1"),
    "serve bad model": lambda w: ("serve", "--model", w["bad_models"]["classifier_is_string"],
                                  "--workdir", w["out"]),
    "serve corrupt weights": lambda w: ("serve", "--model", w["bad_models"]["corrupt_weights"],
                                        "--workdir", w["out"]),
    "serve missing real set": lambda w: ("serve", "--real-set", f"x={w['root'] / 'nope'}",
                                         "--workdir", w["out"], "--no-preload"),
    "unknown command": lambda w: ("frobnicate",),
    "unknown option": lambda w: ("classify", "--frobnicate"),
}


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_bad_arguments_refused(world, case):
    assert_refused(world, *BAD_ARGS[case](world))


# -- output paths ----------------------------------------------------------------------------------

OUTPUT_DIR_COMMANDS = {
    "ingest": lambda w, o: ("ingest", w["good"]["rgba_png"][0], "--out", o),
    "train-classifier": lambda w, o: ("train-classifier", w["manifest"], "--out", o),
    "train-gan": lambda w, o: ("train-gan", w["manifest"], "--out", o, "--max-steps", "1"),
    "generate": lambda w, o: ("generate", w["gan"], "--n", "2", "--out", o),
    "synth": lambda w, o: ("synth", "--n", "1", "--out", o),
    "demo": lambda w, o: ("demo", "--out", o),
    "score --report": lambda w, o: ("score", w["images"], w["images"], "--report", o),
    "serve --workdir": lambda w, o: ("serve", "--workdir", o, "--no-preload"),
}
OUTPUT_FILE_COMMANDS = {
    "featurize": lambda w, o: ("featurize", w["manifest"], "--out", o),
    "evaluate --plot": lambda w, o: ("evaluate", w["model"], w["manifest"], "--plot", o),
    "explain": lambda w, o: ("explain", w["model"], w["good"]["rgba_png"][0], "--out", o),
    "generate --grid": lambda w, o: ("generate", w["gan"], "--out", w["out"], "--grid", o),
    "invariance --plot": lambda w, o: ("analyze", "invariance", w["cnn"], w["images"], "--plot", o),
    "fibres --out": lambda w, o: ("analyze", "fibres", "--target", "150", "--out", o),
    "dna --plot": lambda w, o: ("analyze", "dna", w["manifest"], "--plot", o),
    "cka --plot": lambda w, o: ("analyze", "cka", w["cnn"], w["cnn"], w["manifest"], "--plot", o),
}


@pytest.mark.parametrize("name", list(OUTPUT_DIR_COMMANDS))
def test_output_folder_that_is_a_file_is_named(world, name):
    build = OUTPUT_DIR_COMMANDS[name]
    assert_refused(world, *build(world, world["file"]), contains=f"{world['file']}: exists and is not a folder")
    assert_refused(world, *build(world, world["file"] / "sub"),
                   contains=f"{world['file']} exists and is not a folder")


@pytest.mark.parametrize("name", list(OUTPUT_FILE_COMMANDS))
def test_output_file_that_is_a_folder_or_under_a_file_is_named(world, name):
    build = OUTPUT_FILE_COMMANDS[name]
    name_ok = "x.npz" if name == "featurize" else "x.png"
    assert_refused(world, *build(world, world["images"]), contains="is a folder, not a file")
    assert_refused(world, *build(world, world["file"] / name_ok),
                   contains=f"{world['file']} exists and is not a folder")


def test_unwritable_output_folder_is_refused_naming_it(world, monkeypatch, tmp_path):
    """A read-only folder (simulated: this suite may run as root, whom permissions never stop)."""
    import shapekit.cli._common as common

    ro = world["root"] / "readonly"
    ro.mkdir(exist_ok=True)
    real = os.access
    monkeypatch.setattr(common.os, "access", lambda p, m: False if Path(p) == ro else real(p, m))
    err = assert_refused(world, "ingest", world["good"]["rgba_png"][0], "--out", ro / "o")
    assert f"cannot write in {ro}" in err and "rgba" not in err  # the output, not the input
    err = assert_refused(world, "generate", world["gan"], "--n", "1", "--out", ro)
    assert str(ro) in err


def test_write_failure_during_the_run_names_the_output(world, monkeypatch):
    """An OSError while writing (disk full, permission lost) names the output file, exit 2."""
    import errno
    import tempfile

    import shapekit._atomic as atomic

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", full)
    out = world["out"]
    try:
        code, _, err = run("ingest", world["good"]["rgba_png"][0], "--out", out)
        assert code == 2 and err.count("\n") == 1, err
        assert f"output {out}/rgba.tif: no space left on device" in err
    finally:
        monkeypatch.setattr(atomic.tempfile, "mkstemp", tempfile.mkstemp)
        shutil.rmtree(out, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_really_read_only_output_folder(world, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run("ingest", world["good"]["rgba_png"][0], "--out", ro)
        assert code == 2 and str(ro) in err and "Traceback" not in err
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# -- good variants still work ----------------------------------------------------------------------

def test_good_variants_work(world, tmp_path):
    for name, (p, extra) in world["good"].items():
        out = tmp_path / name
        code, _, err = run("ingest", p, "--out", out, *extra, "--json")
        assert code == 0, (name, err)
        assert (out / (p.stem + ".tif")).is_file() and (out / (p.stem + ".json")).is_file()
        code, stdout, err = run("classify", world["model"], out / (p.stem + ".tif"), "--json")
        assert code == 0 and json.loads(stdout)[0]["temper"] in ("lamellae", "network", "spheroids")
    code, stdout, err = run("classify", world["model"], world["good"]["non_utf8_name"][0], "--json")
    assert code == 0 and err == "", err


# -- random damage (hypothesis) --------------------------------------------------------------------

FUZZ = settings(max_examples=int(os.environ.get("SHAPEKIT_FUZZ_EXAMPLES", 25)), deadline=None,
                derandomize="SHAPEKIT_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _outcome_ok(code: int, err: str) -> bool:
    lines = err.strip().splitlines()
    return code in (0, 2) and "Traceback" not in err and len(lines) <= 3 and all(
        len(x) <= MAX_LINE for x in lines)


@FUZZ
@given(data=st.data())
def test_damaged_image_bytes(world, tmp_path_factory, data):
    """Truncated, bit-flipped or spliced copies of valid PNG/TIFF/JPEG files."""
    import cv2
    import tifffile

    d = tmp_path_factory.mktemp("dmg")
    img = (H.texture(48, 40) * 255).astype(np.uint8)
    kind = data.draw(st.sampled_from(["png", "jpg", "tif", "bmp"]))
    if kind == "tif":
        tifffile.imwrite(d / "x.tif", img)
        raw = bytearray((d / "x.tif").read_bytes())
    else:
        raw = bytearray(cv2.imencode("." + kind, img)[1].tobytes())
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[pos:pos + data.draw(st.integers(1, 64))]
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
    p = d / f"x.{kind}"
    p.write_bytes(bytes(raw))
    code, _, err = run("ingest", p, "--out", d / "o")
    assert _outcome_ok(code, err), err


JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**12)
                    | st.floats(allow_nan=False, width=32) | st.text(max_size=12),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                    max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))


def _replace(obj, path, value):
    if not path:
        return value
    out = dict(obj)
    out[path[0]] = _replace(obj[path[0]], path[1:], value)
    return out


def _mutated_copy(src: Path, name: str, tmp: Path, data) -> tuple[Path, tuple]:
    """A copy of the directory ``src`` whose JSON ``name`` has one field (any depth) replaced by a
    random JSON value."""
    d = tmp / "d"
    shutil.copytree(src, d)
    cfg = json.loads((d / name).read_text())
    path = data.draw(st.sampled_from(list(_paths(cfg))[1:]))
    (d / name).write_text(json.dumps(_replace(cfg, path, data.draw(JSON))))
    return d, path


@FUZZ
@given(data=st.data())
def test_mutated_model_config(world, tmp_path_factory, data):
    """A field of config.json replaced by a random JSON value: exit 0 or a clean 2, never 1."""
    d, path = _mutated_copy(world["model"], "config.json", tmp_path_factory.mktemp("cfg"), data)
    code, _, err = run("classify", d, world["good"]["rgba_png"][0])
    assert _outcome_ok(code, err), (path, err)


@FUZZ
@given(data=st.data())
def test_mutated_generator_config(world, tmp_path_factory, data):
    d, path = _mutated_copy(world["gan"], "generator.json", tmp_path_factory.mktemp("gen"), data)
    code, _, err = run("generate", d, "--n", "1", "--out", d / "o")
    assert _outcome_ok(code, err), (path, err)


@FUZZ
@given(spec=st.dictionaries(st.sampled_from(["name", "root", "table", "images_dir", "image",
                                             "label", "group", "parameters", "properties",
                                             "um_per_px", "exclude_unlabeled", "extra"]),
                            JSON, max_size=8))
def test_random_manifest_documents(world, spec):
    import yaml

    p = world["root"] / "data" / "fuzz_manifest.yaml"
    base = {"name": "f", "root": ".", "table": "labels.csv", "images_dir": "images", "image": "file"}
    p.write_text(yaml.safe_dump({**base, **spec}))
    code, _, err = run("manifest", "check", p)
    assert _outcome_ok(code, err), err
    p.unlink()


@pytest.mark.parametrize("name", [n for n in OUTPUT_FILE_COMMANDS if n not in ("featurize", "fibres --out")])
def test_png_outputs_refuse_another_suffix(world, tmp_path, name):
    """Figures are PNG files: a .jpg name is refused at once rather than given PNG bytes
    (session 24: evaluate --plot x.jpg wrote PNG data under that name)."""
    assert_refused(world, *OUTPUT_FILE_COMMANDS[name](world, tmp_path / "fig.jpg"),
                   contains="must end in .png (this file is written as PNG)")
    assert not (tmp_path / "fig.jpg").exists()
