"""A shipped model's name given where the other kind is asked for (``classify sim-parameters``,
``generate uhcs3``, ``calibrate-imaging uhcs3``) says so: it read "model directory not found:
sim-parameters", "no model directory or shipped generator named 'uhcs3'" and "run directory not
found: uhcs3", as if the name were a typo."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("args, message", [
    (["classify", "sim-parameters", "scan.tif"],
     "sim-parameters is a shipped generator, not a temper classifier; shipped classifiers: uhcs3"),
    (["explain", "uhcs3-class", "scan.tif", "--out", "{tmp}/o.png"],
     "uhcs3-class is a shipped generator, not a temper classifier; shipped classifiers: uhcs3"),
    (["generate", "uhcs3", "--n", "1", "--out", "{tmp}/g"],
     "uhcs3 is a shipped classifier, not a generator; shipped generators: sim-parameters, "
     "sim-properties, uhcs3-class"),
    (["calibrate-imaging", "uhcs3", "m.yaml"],  # read "run directory not found: uhcs3"
     "uhcs3 is a shipped classifier, not a generator; shipped generators: sim-parameters, "
     "sim-properties, uhcs3-class"),
    (["calibrate-conditions", "uhcs3", "m.yaml"],
     "uhcs3 is a shipped classifier, not a generator; shipped generators: sim-parameters, "
     "sim-properties, uhcs3-class"),
])
def test_a_shipped_name_of_the_other_kind(run_cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scan.tif").write_bytes(b"")
    code, out, err = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and out == "", err
    assert err.strip() == f"shapekit: error: {message}"


def test_an_unknown_name_still_lists_the_shipped_models():
    from shapekit.errors import InputError
    from shapekit.registry import resolve

    with pytest.raises(InputError, match="no model directory or shipped generator named 'nope'"):
        resolve("nope", "generator")


def test_a_gan_run_where_a_classifier_is_asked_for(run_cli, tmp_path):
    """``classify RUN_DIR`` read "RUN_DIR/config.json: not a shapekit temper model (format None)",
    and an exported generator without its run's config "not a shapekit model directory"."""
    from gan_helpers import tiny_export

    gen = tiny_export(tmp_path / "gen")                   # generator.json, no config.json
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"run_format": 2, "condition": "class"}')
    scan = tmp_path / "scan.tif"
    scan.write_bytes(b"")
    for d in (gen, run):
        code, out, err = run_cli("classify", d, scan)
        assert code == 2 and out == "", err
        assert err.strip() == (f"shapekit: error: {d} is a GAN run directory or generator "
                               "(shapekit train-gan), not a temper classifier (shapekit "
                               "train-classifier)")


def test_a_classifier_where_a_generator_is_asked_for(run_cli, tmp_path):
    """``generate MODEL_DIR`` of train-classifier read "no exported generator ...; train it with
    `shapekit train-gan` first", as if a generator were still to be trained there."""
    import shutil
    from pathlib import Path

    model = tmp_path / "steel"
    shutil.copytree(Path(__file__).resolve().parents[1] / "shapekit" / "pretrained" / "uhcs3", model)
    for args in (["generate", model, "--n", "1", "--out", tmp_path / "g"],
                 ["calibrate-imaging", model, model / "config.json"]):
        code, out, err = run_cli(*args)
        assert code == 2 and out == "", err
        assert err.strip() == (f"shapekit: error: {model} is a temper classifier (shapekit "
                               "train-classifier), not a generator (shapekit train-gan)")
