"""The one-sentence verdict of a realism score, as the server's score job reports it.

:func:`verdict` turns the realism report of :func:`shapekit.server.services.score_sets` into one
readable sentence: the report's own verdict when it has one, else one built from its distance,
real-vs-real baseline, permutation p-value and coverage.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def verdict(res: dict[str, Any]) -> str:
    """One readable sentence: the realism result's own verdict when it has one, else built here.

    Examples
    --------
    >>> verdict({"topological_distance": 0.3, "real_vs_real": {"mean": 0.1}, "p_value": 0.01,
    ...          "coverage": {"collapsed": False}})
    'Distinguishable from the real set (p = 0.01): topological distance 0.3, 3x the real-vs-real baseline 0.1.'
    """
    own = res.get("verdict")
    if isinstance(own, str) and own:
        return own
    if isinstance(own, dict) and own:
        parts = [str(v) for k, v in own.items() if isinstance(v, str) and v]
        if parts:
            return " ".join(parts)
    td, base, p = res["topological_distance"], res["real_vs_real"]["mean"], res["p_value"]
    floor = 1.0 / (int(res.get("n_perm", 10 ** 6)) + 1)
    if p < 0.05:
        head = f"Distinguishable from the real set (p = {p:.2g})"
    elif p <= floor * (1 + 1e-9):
        head = (f"Every permutation was closer than the observed set (p = {p:.2g}, the smallest "
                f"{res['n_perm']} rounds can give): use more rounds before calling it")
    else:
        head = f"Not distinguishable from the real set at this sample size (p = {p:.2g})"
    ratio = f", {td / base:.2g}x the real-vs-real baseline {base:.2g}" if base and np.isfinite(base) else ""
    tail = " Mode collapse: the generated set is much less diverse than the real one." \
        if res["coverage"].get("collapsed") else ""
    return f"{head}: topological distance {td:.2g}{ratio}.{tail}"
