"""Every notebook in notebooks/ runs top to bottom (nbclient, in the notebooks folder).

Notebooks keep themselves small (synthetic data, small real subsets) and skip their real-data cells
cleanly when ``../shared/data`` is absent. ``SHAPEKIT_NOTEBOOK_QUICK=1`` is set for them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    os.environ["SHAPEKIT_NOTEBOOK_QUICK"] = "1"
    os.environ.setdefault("SHAPEKIT_PROGRESS", "0")
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
