"""The README's API snippet runs and gives what its comment says."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_pipeline_snippet_runs():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## API"):text.index("## CLI reference")]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    ns: dict = {}
    exec(compile(code, str(README), "exec"), ns)   # noqa: S102 - our own README
    assert ns["X"].shape == (4, 324)
    assert ns["pipe"].get_feature_names_out()[0] == "s1_sublevel_h0_n_pairs"
