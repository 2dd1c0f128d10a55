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
           "05_analysis_geometry": 1, "06_analysis_invariance": 2}


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


def _code_cells(path: Path) -> list[str]:
    import json

    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_no_swallowed_line_continuation() -> None:
    """A ``\\`` at a line's end inside a build script's triple-quoted cell is a line continuation of
    the *string*: notebook 02 read ``... +         [str(DATA / ...`` on one line (fixed by writing
    ``\\\\``). No code line has a run of more than 4 blank columns between two tokens."""
    import io
    import tokenize

    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    bad = []
    for path in NOTEBOOKS:
        for src in _code_cells(path):
            prev = None
            for tok in tokenize.generate_tokens(io.StringIO(src).readline):
                if tok.type in skip:
                    prev = None if tok.type in (tokenize.NL, tokenize.NEWLINE) else prev
                    continue
                if prev is not None and tok.start[0] == prev[0] and tok.start[1] - prev[1] > 4:
                    bad.append((path.stem, tok.line.strip()[:100]))
                prev = tok.end
    assert not bad, bad


@pytest.mark.parametrize("stem", ["02_toptemp", "03_generate"])
def test_build_script_matches_notebook(stem: str) -> None:
    """notebooks/build_NN_*.py and the notebook it writes hold the same cells (an edit to one only
    is lost, or undone, at the next build)."""
    import importlib.util
    import json

    folder = NOTEBOOKS[0].parent
    spec = importlib.util.spec_from_file_location(f"build_{stem}", folder / f"build_{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cells = json.loads((folder / f"{stem}.ipynb").read_text())["cells"]
    built = [("md" if c["cell_type"] == "markdown" else "code", "".join(c["source"])) for c in cells]
    assert built == [(k, s) for k, s in module.CELLS]


def test_no_fixed_tmp_paths() -> None:
    """Notebook 06 wrote its figures to /tmp/shapekit_nb06_*.png: a second user of the machine could
    not replace the first one's files (sticky /tmp), and two kernels overwrote each other's. Notebooks
    write into their own tempfile.mkdtemp() folders."""
    import re

    bad = [(p.stem, m) for p in NOTEBOOKS for src in _code_cells(p)
           for m in re.findall(r"""["']/tmp/[^"']*["']""", src)]
    assert not bad, bad
