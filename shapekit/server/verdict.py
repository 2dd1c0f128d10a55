"""The one-sentence verdict of a realism score, as the server's score job reports it.

:func:`verdict` turns the realism report of :func:`shapekit.server.services.score_sets` into one
readable sentence: the report's own verdict when it has one, else one built from its distance,
real-vs-real baseline, permutation p-value and coverage. :func:`unmatched_set` is the report's
warning when a score asked to generate like the real set's images found nothing to copy.
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


def unmatched_set(real_set: str, generator: str, labels: list[str], conditions: dict[str, float],
                  label: str | None) -> str:
    """The warning of a score that was to generate at a named real set's own tempers and
    conditions (no label, no conditions asked) when the set records none the generator knows.

    Parameters
    ----------
    real_set, generator : str
        Their names on the server.
    labels : list of str
        The generator's tempers.
    conditions : dict
        The conditions its images were made at (its defaults; empty for a class generator).
    label : str or None
        The temper they were made at (the simulator's there), or None for mixed tempers.

    Examples
    --------
    >>> unmatched_set("uhcs3", "sim", ["over_aged", "peak_aged"], {"T": 189.2, "t": 11.0}, "peak_aged")
    "real set uhcs3 records no tempers and conditions of sim's (over_aged, peak_aged; T, t) for its images, so they were not made like them: all at sim's defaults T=189, t=11, as peak_aged (the simulator's temper there); name a label and conditions to choose them"
    >>> unmatched_set("sim", "uhcs3-class", ["pearlite", "spheroidite"], {}, None)
    "real set sim records no tempers of uhcs3-class's (pearlite, spheroidite) for its images, so they were not made like them: with mixed tempers; name a label to choose them"
    """
    what = "tempers and conditions" if conditions else "tempers"
    names = ", ".join(labels) + ("; " + ", ".join(conditions) if conditions else "")
    at = (f"all at {generator}'s defaults " + ", ".join(f"{k}={v:.3g}" for k, v in conditions.items()) + ", "
          if conditions else "")
    temper = f"as {label} (the simulator's temper there)" if label else "with mixed tempers"
    return (f"real set {real_set} records no {what} of {generator}'s ({names}) for its images, so they "
            f"were not made like them: {at}{temper}; name a label"
            f"{' and conditions' if conditions else ''} to choose them")
