"""``shapekit train-gan`` announces "training ..." / "continuing ..." only once everything is
checked: a refused command prints its one error line and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from gan_helpers import tiny_cli_run  # noqa: E402

TINY_ARGS = ["--crop-size", "32", "--batch-size", "2", "--channels", "4", "--sample-every", "0"]


@pytest.fixture(scope="module")
def run2(tmp_path_factory: pytest.TempPathFactory, one_torch_thread) -> tuple[Path, Path]:
    """A two-iteration run (manifest with 2 images a class, run directory)."""
    return tiny_cli_run(tmp_path_factory.mktemp("announce"), 2)


def _only_the_error(err: str, message: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("shapekit: error: "), err
    assert message in lines[0], err


def test_a_refused_new_run_is_not_announced(run2, run_cli, tmp_path: Path) -> None:
    # "training a class-conditioned GAN on ... (10 iterations ...)" came before the refusal
    manifest, run = run2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--max-steps", "10", *TINY_ARGS)
    assert code == 2
    _only_the_error(err, f"{run} already holds a run; pass --resume")
    code, _, err = run_cli("train-gan", manifest, "--out", tmp_path / "new", "--holdout", "0.9",
                           "--max-steps", "2", *TINY_ARGS)
    assert code == 2
    _only_the_error(err, "--holdout 0.9 holds out all 2 images of class")
    assert not (tmp_path / "new").exists()


def test_a_refused_resume_is_not_announced(run2, run_cli) -> None:
    # "continuing the run in ... up to iteration 1" came before "already at iteration 2"
    manifest, run = run2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "1")
    assert code == 2
    _only_the_error(err, f"the run in {run} is already at iteration 2: give --max-steps above it")


def test_a_run_that_starts_is_announced_once(run2, run_cli) -> None:
    manifest, run = run2
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "3")
    assert code == 0, err
    assert err.count(f"continuing the run in {run} up to iteration 3") == 1, err
    assert err.index("continuing") < err.index("done: iteration 3 in "), err
    # with --sample-every 0 (the tiny run's) it pointed at a samples/ folder that is never made
    code, _, err = run_cli("train-gan", manifest, "--out", run, "--resume", "--max-steps", "4",
                           "--sample-every", "0")
    assert code == 0 and "up to iteration 4 (no sample grids)" in err, err
    assert "samples in" not in err and not (run / "samples").exists()
