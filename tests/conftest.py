"""Shared fixtures: where the real data is (skip cleanly when absent), temp dirs, seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("SHAPEKIT_PROGRESS", "0")


def shared_data_dir() -> Path:
    """``$SHAPEKIT_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("SHAPEKIT_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@pytest.fixture(scope="session", autouse=True)
def private_tempdir(tmp_path_factory) -> Iterator[Path]:
    """The run's temporary files go under pytest's own base folder, not the system's ``/tmp``.

    The docstring examples (``tempfile.mkdtemp()``) and the notebooks (``mkdtemp(prefix=
    "shapekit_nb03_")``) keep their outputs on purpose, so every run left about 45 folders in
    ``/tmp``. ``tempfile.tempdir`` (this process) and ``$TMPDIR`` (notebook kernels, CLI
    subprocesses) point here instead; pytest keeps only its last three base folders.
    """
    import tempfile

    d = tmp_path_factory.mktemp("tmp", numbered=False)
    old_dir, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = str(d), str(d)
    yield d
    tempfile.tempdir = old_dir
    if old_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old_env


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder; tests that need it are skipped when it is absent."""
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"real data not found at {d}")
    return d


@pytest.fixture(scope="session")
def uhcs3_dir(shared_data: Path) -> Path:
    d = shared_data / "uhcs3"
    if not (d / "labels.csv").is_file():
        pytest.skip("uhcs3 not found")
    return d


@pytest.fixture(scope="session")
def uhcs_originals_dir(shared_data: Path) -> Path:
    d = shared_data / "uhcs_originals"
    if not d.is_dir():
        pytest.skip("uhcs_originals not found")
    return d


@pytest.fixture(scope="session")
def superalloy_dir(shared_data: Path) -> Path:
    d = shared_data / "superalloy_aging"
    if not d.is_dir():
        pytest.skip("superalloy_aging not found")
    return d


@pytest.fixture(scope="session")
def manifests_dir() -> Path:
    return REPO / "data_manifests"


@pytest.fixture
def run_cli(capsys):
    """Run ``shapekit`` in-process: returns (exit_code, stdout, stderr)."""
    from shapekit.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one torch thread is much faster than two contending ones on a busy CI box."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
