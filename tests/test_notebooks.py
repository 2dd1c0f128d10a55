"""Every notebook in notebooks/ runs top to bottom (nbclient, in the notebooks folder).

Notebooks keep themselves small (synthetic data, small real subsets) and skip their real-data cells
cleanly when ``../shared/data`` is absent. ``SHAPEKIT_NOTEBOOK_QUICK=1`` is set for them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: figures each notebook shows at least (in quick mode, with or without the real data)
FIGURES = {"01_ingest_and_simulate": 1, "02_toptemp": 1, "03_generate": 1, "04_realism": 1,
           "05_analysis_geometry": 1}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    os.environ["SHAPEKIT_NOTEBOOK_QUICK"] = "1"
    os.environ.setdefault("SHAPEKIT_PROGRESS", "0")
    # the kernel's own (inline) backend, as in Jupyter: no MPLBACKEND (CI sets Agg for itself)
    backend = os.environ.pop("MPLBACKEND", None)
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        if backend is not None:
            os.environ["MPLBACKEND"] = backend
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    # figures show in the notebook (session 24: shapekit switched the backend to Agg, so none did)
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures >= FIGURES.get(path.stem, 0), (path.stem, figures)
