"""``shapekit train-gan --resume`` on a run whose ``last.ckpt`` is damaged (truncated): a one-line
refusal naming the file and the earlier checkpoint to continue from, and how; likewise a damaged
``conditions.json`` is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_cli_run  # noqa: E402



@pytest.fixture(scope="module")
def run3(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> tuple[Path, Path]:
    """A three-iteration run (manifest, run directory) with a checkpoint at every iteration."""
    return tiny_cli_run(tmp_path_factory.mktemp("damaged"), 3)


def _truncate_to(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def _truncate(path: Path) -> None:
    _truncate_to(path, 1000)


def test_a_damaged_last_checkpoint_names_the_earlier_one_to_continue_from(run3, run_cli,
                                                                          tmp_path: Path) -> None:
    # it ended with "internal error: RuntimeError: PytorchStreamReader failed reading zip archive"
    manifest, src = run3
    run = tmp_path / "run"
    shutil.copytree(src, run)
    last = run / "checkpoints" / "last.ckpt"
    _truncate(last)
    _truncate(run / "checkpoints" / "iter-0000003.ckpt")   # the newest readable one is taken
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"shapekit: error: cannot resume: {last} cannot be read (damaged or truncated); to "
            "continue from the newest earlier checkpoint that can be read, iter-0000002 "
            "(iteration 2), copy it over last.ckpt (`cp iter-0000002.ckpt last.ckpt` in that "
            "folder) and run the same command again (older: iter-0000001)") in err, err
    assert "internal error" not in err
    assert (run / "generator.json").read_bytes() == (src / "generator.json").read_bytes()
    # what it says works
    shutil.copyfile(run / "checkpoints" / "iter-0000002.ckpt", last)
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4")
    assert code == 0 and "done: iterations 3-4 in " in err, err


def test_a_damaged_run_without_a_readable_checkpoint_says_to_start_anew(run3, run_cli,
                                                                       tmp_path: Path) -> None:
    manifest, src = run3
    run = tmp_path / "run"
    shutil.copytree(src, run)
    for p in (run / "checkpoints").glob("*.ckpt"):
        _truncate(p)
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert (f"cannot resume: {run / 'checkpoints' / 'last.ckpt'} cannot be read (damaged or "
            "truncated), and the run keeps no readable earlier checkpoint (iter-*.ckpt) to "
            "continue from: start a new run with another --out") in err, err


def test_a_damaged_conditions_file_is_named(run3, run_cli, tmp_path: Path) -> None:
    # it ended with "internal error: JSONDecodeError: Expecting property name ..."
    manifest, src = run3
    run = tmp_path / "run"
    shutil.copytree(src, run)
    _truncate_to(run / "conditions.json", 20)
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"shapekit: error: {run / 'conditions.json'}: run conditions is not valid JSON" in err
