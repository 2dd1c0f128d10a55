"""A test run leaves nothing in the system's temporary folder (conftest.private_tempdir).

Each run left ~45 folders in /tmp: ``tmp*`` from the docstring examples' ``tempfile.mkdtemp()`` and
``shapekit_nb03_*``, ``shapekit_nb06_*``, ``shapekit_report_*`` from the notebooks' own. shapekit's
code itself creates temporary folders only in ``with`` blocks (io.ocr) or next to its output
(_atomic), and removes them.
"""

from __future__ import annotations

import doctest
import importlib
import os
import tempfile
from pathlib import Path


def test_tempfile_goes_under_pytest_basetemp(tmp_path_factory, private_tempdir: Path) -> None:
    base = tmp_path_factory.getbasetemp()
    assert Path(tempfile.gettempdir()).is_relative_to(base)
    assert Path(os.environ["TMPDIR"]).is_relative_to(base)
    made = Path(tempfile.mkdtemp())
    assert made.parent == private_tempdir


def test_doctests_write_into_private_tempdir(private_tempdir: Path) -> None:
    """shapekit.io.manifest's examples make three mkdtemp() folders: all land in the private one."""
    before = set(private_tempdir.iterdir())
    module = importlib.import_module("shapekit.io.manifest")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
    assert len(set(private_tempdir.iterdir()) - before) >= 3


def test_notebook_kernel_gets_private_tempdir(private_tempdir: Path) -> None:
    """A kernel started as test_notebooks starts one (nbclient) makes its mkdtemp() folders there."""
    import pytest

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import tempfile; print(tempfile.mkdtemp(prefix='shapekit_nbtest_'))")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    made = Path(nb.cells[0].outputs[0]["text"].strip())
    assert made.parent == private_tempdir and made.is_dir()
