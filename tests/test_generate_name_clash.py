"""``shapekit generate uhcs3-class --out uhcs3-class`` worked once; run again, the output folder
it had made, named like the shipped model, was taken for the model and the command failed with
"uhcs3-class: no exported generator ...; train it with `shapekit train-gan` first". A folder
named like a shipped model that holds no model files (no generator.json, config.json or
checkpoints/) now gives way to the shipped model, with a warning that says so; a folder that
holds a model (or a run) still wins."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from shapekit import registry  # noqa: E402
from shapekit.errors import ShapekitWarning  # noqa: E402


def test_an_output_folder_named_like_the_model_does_not_hide_it(tmp_path: Path, run_cli,
                                                                monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        code, _, err = run_cli("generate", "uhcs3-class", "--n", "1", "--size", "32", "--out",
                               "uhcs3-class")
        assert code == 0, err
    assert "shapekit: warning: uhcs3-class is a folder without a model" in err
    assert "using the shipped generator uhcs3-class" in err
    assert sorted(p.name for p in Path("uhcs3-class").iterdir()) == ["conditions.csv",
                                                                     "gen_00000.tif"]


def test_a_folder_with_a_model_or_run_still_wins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for marker in ("generator.json", "config.json", "checkpoints"):
        d = tmp_path / marker.replace(".", "_") / "sim-parameters"
        d.mkdir(parents=True)
        (d / marker).mkdir() if marker == "checkpoints" else (d / marker).write_text("{}")
        monkeypatch.chdir(d.parent)
        assert registry.resolve("sim-parameters", "generator") == Path("sim-parameters")
    monkeypatch.chdir(tmp_path)
    Path("sim-parameters").mkdir()
    with pytest.warns(ShapekitWarning, match="folder without a model"):
        assert registry.resolve("sim-parameters", "generator") == \
            registry.pretrained_root() / "sim-parameters"
