"""``shapekit train-gan`` refuses a run folder it cannot use before it reads any image.

``train-gan MANIFEST --out EXISTING_RUN`` (no --resume) said "already holds a run" only after
loading the data set (about 8 s on uhcs3); so did a --resume below the run's iteration, and a
--resume into a folder with no run came after Lightning's import (5 s).
"""

from __future__ import annotations

from pathlib import Path

from cli_helpers import forbid
import pytest

pytest.importorskip("torch")

from gan_helpers import TINY_RUN_ARGS, tiny_cli_run  # noqa: E402


@pytest.fixture(scope="module")
def run2(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> tuple[Path, Path]:
    """A two-iteration run (manifest, run directory)."""
    return tiny_cli_run(tmp_path_factory.mktemp("early"), 2)


@pytest.fixture()
def no_data_loading(monkeypatch):
    """Reading the manifest's images fails loudly: the refusals must come first."""
    from shapekit.generate import data

    forbid(monkeypatch, "the data set was loaded",
           (data.GANDataModule, "from_manifest"), (data, "load_training_table"))


def _one_error(code: int, err: str, message: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shapekit: error: "), err
    assert message in lines[0], err


def test_a_new_run_into_an_existing_one_is_refused_before_the_data(run2, run_cli, no_data_loading):
    manifest, run = run2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--max-steps", "5", *TINY_RUN_ARGS)
    _one_error(code, err, f"{run} already holds a run; pass --resume to continue it")


def test_a_resume_below_the_run_is_refused_before_the_data(run2, run_cli, no_data_loading):
    manifest, run = run2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "1")
    _one_error(code, err, f"the run in {run} is already at iteration 2: give --max-steps above it")


def test_a_resume_without_a_run_is_refused_before_the_data(run2, run_cli, no_data_loading,
                                                           tmp_path: Path):
    manifest, _ = run2
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "none", "--resume")
    _one_error(code, err, f"cannot resume: {tmp_path / 'none' / 'config.json'} not found")
    assert not (tmp_path / "none").exists()


def test_an_accelerator_this_machine_lacks_is_refused_before_the_data(run2, run_cli,
                                                                      no_data_loading,
                                                                      tmp_path: Path):
    # it was Lightning's "internal error: MisconfigurationException: No supported gpu backend
    # found!" (exit 1) after reading the data, with a run folder left without checkpoints
    import importlib.util

    import torch

    manifest, _ = run2
    out = tmp_path / "new"
    if not (torch.cuda.is_available() or torch.backends.mps.is_available()):
        code, _, err = run_cli("train-gan", manifest, "--out", out, "--accelerator", "gpu")
        _one_error(code, err, "--accelerator gpu: no such device on this machine")
    if importlib.util.find_spec("torch_xla") is None:
        code, _, err = run_cli("train-gan", manifest, "--out", out, "--accelerator", "tpu")
        _one_error(code, err, "--accelerator tpu needs torch_xla, which is not installed")
    assert not out.exists()


def test_a_condition_the_manifest_lacks_is_refused_before_the_data(run2, run_cli, no_data_loading,
                                                                   tmp_path: Path):
    from shapekit.io import write_manifest

    manifest, _ = run2
    plain = manifest.parent / "plain.yaml"     # the same images, labels only
    write_manifest(plain, {"name": "plain", "root": ".", "table": "labels.csv", "image": "file",
                           "label": "temper"})
    for condition in ("parameters", "properties"):
        code, _, err = run_cli("train-gan", plain, "--out", tmp_path / "new", "--condition",
                               condition)
        _one_error(code, err, f"--condition {condition} needs `{condition}` columns in the "
                              "manifest, but it declares none")
    assert not (tmp_path / "new").exists()


def test_a_holdout_of_a_whole_class_is_refused_before_the_data(run2, run_cli, no_data_loading,
                                                               tmp_path: Path):
    manifest, _ = run2        # 2 images of each class: 0.75 holds out both (round(1.5) = 2)
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "new", "--holdout", "0.75")
    _one_error(code, err, "--holdout 0.75 holds out all 2 images of class 'a'; give a smaller "
                          "--holdout")
    assert not (tmp_path / "new").exists()
