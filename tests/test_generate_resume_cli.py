"""``shapekit train-gan --resume`` from the command line: settings a run keeps for good, a
``--max-steps`` at or below where the run stands, a run stopped before its export, and a resumed
run continuing exactly as an uninterrupted one."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_cli_run  # noqa: E402
from test_generate import TINY, make_tiny_dataset  # noqa: E402



@pytest.fixture(scope="module")
def run2(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> tuple[Path, Path]:
    """A two-iteration run (manifest, run directory) made through the CLI."""
    return tiny_cli_run(tmp_path_factory.mktemp("resume"), 2)


def test_resume_refuses_other_values_of_the_settings_a_run_keeps(run2, run_cli,
                                                                  tmp_path: Path) -> None:
    # they were ignored without a word: a resume "with 32 channels at 64 px" trained the run's own
    manifest, run = run2
    before = (run / "config.json").read_text()
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "3",
                           "--channels", "8", "--crop-size", "64", "--condition", "parameters")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"--resume continues the run in {run} with its own settings, but --condition "
            "parameters (the run's: class); --crop-size 64 (the run's: 32); --channels 8 (the "
            "run's: 4): give the run's, or start a new run with another --out") in err
    other = make_tiny_dataset(tmp_path / "other", n=4)
    code, _, err = run_cli("train-gan", other, "--out", run, "--resume", "--max-steps", "3")
    assert code == 2 and f"manifest {other} (the run's: {manifest})" in err
    assert (run / "config.json").read_text() == before   # nothing touched
    # the run's own values (or none) are fine
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "2",
                           "--channels", "4", "--crop-size", "32", "--seed", "0")
    assert code == 0, err


def test_resume_to_fewer_steps_is_refused_and_to_as_many_says_nothing_trained(run2,
                                                                              run_cli) -> None:
    # --max-steps below the run's iteration "continued up to iteration 1" and reported
    # "done: 2 iterations in 0.2 s"
    manifest, run = run2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "1")
    assert code == 2
    assert (f"shapekit: error: the run in {run} is already at iteration 2: give --max-steps above "
            "it to continue (1 would go back;") in err
    assert json.loads((run / "generator.json").read_text())["iterations"] == 2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "2")
    assert code == 0
    assert ("nothing to train: the run was already at iteration 2 (--max-steps 2); its generator "
            f"was exported again to {run}") in err
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4")
    assert code == 0 and "done: iterations 3-4 in " in err, err


def test_a_run_stopped_before_its_export_points_to_resume_and_its_checkpoints(
        run2, run_cli, tmp_path: Path) -> None:
    # generate and calibrate-imaging said "train it with `shapekit train-gan` first"
    manifest, run = run2
    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    for f in ("generator.json", "generator.safetensors"):
        (stopped / f).unlink()
    steps = json.loads((stopped / "config.json").read_text())["max_steps"]
    finish = f"{stopped} holds checkpoints but no exported generator (stopped before its end?): " \
             f"finish it with `shapekit train-gan {manifest} --out {stopped} --resume " \
             f"--max-steps {steps}`"
    code, _, err = run_cli("generate", stopped, "--n", "1", "--out", tmp_path / "g")
    assert code == 2 and finish + ", or sample a checkpoint: --checkpoint ..., " in err, err
    assert err.rstrip().endswith(", last") and "train it with" not in err
    assert not (tmp_path / "g").exists()
    code, _, err = run_cli("calibrate-imaging", stopped, manifest)
    assert code == 2 and err.rstrip().endswith(finish), err
    code, _, err = run_cli("generate", stopped, "--n", "1", "--size", "32", "--checkpoint", "last",
                           "--out", tmp_path / "g")
    assert code == 0, err
    # the command it names finishes the run as planned (--resume alone went on to the default
    # --max-steps 2000, or, for a run past 2000, was refused)
    code, _, err = run_cli(*shlex.split(finish.split("`")[1])[1:])
    assert code == 0 and f"iteration {steps}" in err, err
    assert (stopped / "generator.json").is_file()


def test_a_resumed_run_ends_with_the_weights_of_one_never_stopped(tmp_path: Path,
                                                                   one_torch_thread) -> None:
    # torch's random state (latents, augmentation) was not in the checkpoints: a run stopped at
    # iteration 2 and resumed to 4 ended with other weights than one trained to 4 at once
    from safetensors.numpy import load_file

    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    kw = dict(crop_size=32, batch_size=2, sample_every=0, n_up=2, d_blocks=2, **TINY)
    train_gan(manifest, tmp_path / "once", max_steps=4, **kw)
    train_gan(manifest, tmp_path / "twice", max_steps=2, **kw)
    train_gan(None, tmp_path / "twice", resume=True, max_steps=4, sample_every=0)
    once, twice = (load_file(tmp_path / d / "generator.safetensors") for d in ("once", "twice"))
    assert once.keys() == twice.keys()
    for key in once:
        assert (once[key] == twice[key]).all(), key


def test_resume_follows_a_moved_manifest_and_refuses_changed_data(tmp_path: Path,
                                                                  run_cli) -> None:
    # a moved manifest stopped the resume ("manifest not found: <the old path>") whatever the
    # command line gave; a table whose rows changed re-normalised the conditions silently
    from shapekit.generate.train import train_gan

    manifest = make_tiny_dataset(tmp_path / "data", n=4)
    run = tmp_path / "run"
    train_gan(manifest, run, condition="parameters", crop_size=32, max_steps=1, batch_size=2,
              sample_every=0, n_up=2, d_blocks=2, **TINY)
    moved = manifest.with_name("moved.yaml")
    manifest.rename(moved)
    code, _, err = run_cli("train-gan", moved, "--out", run, "--resume", "--max-steps", "2")
    assert code == 0, err
    assert f"warning: the run's manifest {manifest} is gone: continuing on {moved}" in err
    assert json.loads((run / "config.json").read_text())["manifest"] == str(moved)
    table = moved.parent / "labels.csv"
    table.write_text("\n".join(table.read_text().splitlines()[:-1]) + "\n")   # T's range shrinks
    before = (run / "conditions.json").read_text()
    code, _, err = run_cli("train-gan", moved, "--out", run, "--resume", "--max-steps", "3")
    assert code == 2
    assert (f"shapekit: error: {moved} no longer gives the run's data: its labels (a, b) or "
            f"condition statistics differ from {run / 'conditions.json'}; start a new run with "
            "another --out") in err
    assert (run / "conditions.json").read_text() == before
    assert json.loads((run / "generator.json").read_text())["iterations"] == 2


def test_resume_from_the_command_line_switches_both_lattice_terms_on(tmp_path: Path, run_cli,
                                                                      one_torch_thread) -> None:
    # the per-image term (lattice_image_weight) could only be set from Python
    manifest, run = tiny_cli_run(tmp_path, 2)
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["lattice_weight"], model["lattice_image_weight"]) == (0.0, 0.0)
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "3",
                           "--lattice-weight", "100", "--lattice-image-weight", "50")
    assert code == 0, err
    model = json.loads((run / "config.json").read_text())["model"]
    assert (model["lattice_weight"], model["lattice_image_weight"]) == (100.0, 50.0)
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4",
                           "--lattice-image-weight", "-1")
    assert code == 2 and "--lattice-image-weight" in err
