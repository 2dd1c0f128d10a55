"""The verdict of a realism score in plain sentences, one per question.

:func:`verdict` reads the dict of :func:`shapekit.realism.score` and writes

* **Structure** and **Imaging**: how far the compared set is from the reference, judged against
  the reference's own spread (random halves) and a permutation p-value:

  - ``p >= 0.05`` and distance under :data:`DIFFERENT_RATIO` times the baseline:
    "indistinguishable from <reference>";
  - ``p >= 0.05`` but a large distance: "possibly different ..., but too few images to tell";
  - ``p < 0.05`` and under :data:`DIFFERENT_RATIO`: "close to <reference>, but measurably
    different";
  - otherwise "different from <reference>";

  then, for imaging, the attributes that differ (brighter, noisier, blurrier, ...:
  :func:`shapekit.realism.imaging.attribute_shifts`), and for structure the feature size (the
  feature spacing: coarser or finer) when it differs by the same rule and by 10 % or more;
* **Diversity**: collapsed, reduced, near-duplicates well above chance (:data:`NOTABLE_DUPLICATES`
  or more, below the collapse flag), or no sign of collapse (:mod:`shapekit.realism.coverage`);
* **Scale** (only when it matters): the pixel size of a set is unknown and the sets' typical
  feature sizes (:func:`shapekit.realism.structure.feature_spacing`) differ by more than
  :data:`SCALE_RATIO`;
* **Resolution** (only when it was raised): the structure was compared at a coarser effective
  resolution than the reference's own, because the compared set is blurrier or noisier;
* **Groups** (only when given): baselines, p-values and intervals drew whole groups of images
  (samples, spots), so the images of one group counted as one piece of evidence.

The sets are called by their names (folder or manifest names), never "real" and "synthetic".
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["verdict", "level", "DIFFERENT_RATIO", "SCALE_RATIO", "ALPHA", "NOTABLE_DUPLICATES"]

ALPHA = 0.05
DIFFERENT_RATIO = 2.0
SCALE_RATIO = 2.0
NOTABLE_DUPLICATES = 0.25
"""A near-duplicate fraction from which the diversity sentence names it even below the collapse
flag (5x the 5 % expected of two samples of one distribution)."""


def _num(v: float, nd: int = 2) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v:.{nd}f}" if abs(v) < 100 else f"{v:.0f}"


def _p(p: float) -> str:
    if p is None or not math.isfinite(p):
        return "p n/a"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"    # near 0.05: not rounded onto the threshold


def level(block: dict) -> str:
    """``"same"``, ``"undecided"``, ``"close"`` or ``"different"`` (see the module).

    Examples
    --------
    >>> level({"p_value": 0.4, "relative_to_baseline": 0.9}), level({"p_value": 0.005, "relative_to_baseline": 5.0})
    ('same', 'different')
    """
    p, rel = block.get("p_value", float("nan")), block.get("relative_to_baseline", float("nan"))
    big = rel is not None and math.isfinite(rel) and rel >= DIFFERENT_RATIO
    if p is None or not math.isfinite(p) or p >= ALPHA:
        return "undecided" if big else "same"
    return "different" if big or rel is None or not math.isfinite(rel) else "close"


def _stats(block: dict, ref: str) -> str:
    rel = block.get("relative_to_baseline", float("nan"))
    base = f"{_num(rel, 1)}x {ref} against itself" if rel is not None and math.isfinite(rel) else \
        f"{_num(block.get('distance', float('nan')), 3)}, no baseline"
    p, n = block.get("p_value", float("nan")), block.get("n_perm")
    floor = "" if not n or p is None or not math.isfinite(p) or p < ALPHA or p > 1.5 / (n + 1) else \
        f", the smallest {n} permutations can give"
    return f"distance {base}, {_p(p)}{floor}"


def _head(lev: str, ref: str, words: list[str]) -> str:
    if lev == "same":
        return f"indistinguishable from {ref}"
    if lev == "undecided":
        return f"possibly different from {ref}, but too few images to tell"
    lead = "close to " + ref + ", but measurably different" if lev == "close" else f"different from {ref}"
    if words:
        joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        return f"{joined} than {ref}" if lev == "different" else f"{lead}: {joined}"
    return lead


def _imaging(block: dict, ref: str) -> str:
    words = [a["word"] for a in block.get("attributes", {}).values() if a.get("differs")]
    lev = level(block)
    if words:   # an attribute is clearly off (its own test): say how far, whatever the omnibus p
        rel = block.get("relative_to_baseline", float("nan"))   # no baseline: nothing to call it close against
        lev = "close" if rel is not None and math.isfinite(rel) and rel < DIFFERENT_RATIO else "different"
    return f"Imaging: {_head(lev, ref, words)} ({_stats(block, ref)})."


def _structure(block: dict, ref: str, name: str) -> str:
    lev = level(block)
    text = f"Structure: {_head(lev, ref, [])} ({_stats(block, ref)})"
    t = block.get("descriptors", {}).get("feature_size")
    if lev in ("close", "different") and t and t.get("differs"):
        word = "coarser" if t["effect_size"] > 0 else "finer"
        text += (f": {word} features (feature spacing {_num(t['fake_mean'], 1)} px in {name}, "
                 f"{_num(t['real_mean'], 1)} px in {ref})")
    return text + "."


def _diversity(cov: dict, ref: str, name: str) -> str:
    frac, exp = cov.get("duplicate_fraction", float("nan")), cov.get("duplicate_expected", 0.05)
    dr = cov.get("diversity_ratio", float("nan"))
    if cov.get("collapsed"):
        return (f"Diversity: collapsed: {100 * frac:.0f} % of {name}'s images have a near-duplicate in "
                f"the set ({100 * exp:.0f} % expected).")
    if cov.get("reduced_diversity"):
        lo, hi = cov.get("diversity_ratio_real_vs_real", [float("nan")] * 2)
        dup = (f"and {100 * frac:.0f} % of its images have a near-duplicate in the set ({100 * exp:.0f} % "
               "expected)" if frac >= NOTABLE_DUPLICATES else f"without near-duplicates ({100 * frac:.0f} %)")
        return (f"Diversity: reduced: {name} spreads {_num(dr)}x as much as {ref} (halves of {ref}: "
                f"{_num(lo)}-{_num(hi)}), {dup}.")
    if frac is None or not math.isfinite(frac):  # fewer than 3 images on a side: no check ran
        return (f"Diversity: too few images to check for collapse (near-duplicates need 3 in each "
                f"set); spread {_num(dr)}x {ref}'s.")
    if frac >= NOTABLE_DUPLICATES:  # "no sign of collapse (near-duplicates 44 %, 5 % expected)" misled
        from shapekit.realism.coverage import COLLAPSE_DUPLICATE_FRACTION

        return (f"Diversity: not flagged as collapsed (from {100 * COLLAPSE_DUPLICATE_FRACTION:.0f} %), "
                f"but {100 * frac:.0f} % of {name}'s images have a near-duplicate in the set "
                f"({100 * exp:.0f} % expected); spread {_num(dr)}x {ref}'s.")
    return (f"Diversity: no sign of collapse (near-duplicates {100 * frac:.0f} %, {100 * exp:.0f} % expected; "
            f"spread {_num(dr)}x {ref}'s).")


def _scale(res: dict, ref: str, name: str) -> str | None:
    fs = res.get("structure", {}).get("descriptors", {}).get("feature_size")
    if not fs or res.get("scale_known"):
        return None
    r, f = fs["real_mean"], fs["fake_mean"]
    if not (r > 0 and f > 0):
        return None
    ratio = max(r, f) / min(r, f)
    if ratio <= SCALE_RATIO:
        return None
    return (f"Scale: the pixel size of {'both sets' if res.get('um_per_px') is None else 'one set'} is unknown, "
            f"and the typical feature sizes differ {ratio:.1f}x (feature spacing {_num(r, 1)} px in {ref}, "
            f"{_num(f, 1)} px in {name}): either the two were imaged at different magnifications or their "
            "structures differ. Give the pixel sizes (--real-um-per-px / --fake-um-per-px, or um_per_px in a "
            "manifest) to tell which.")


def _resolution(res: dict, ref: str, name: str) -> str | None:
    r = res.get("structure", {}).get("resolution")
    if not r or not r.get("sigma_real", 0) > r.get("own_real", float("inf")):
        return None
    why = []
    if r.get("extra_real", 0) > 0:
        why.append(f"{name} is blurrier (measured blur {_num(r['blur_fake'])} px against {_num(r['blur_real'])} px)")
    if r.get("limited_by") == "noise of the synthetic set":
        why.append(f"{name} is noisier")
    return (f"Resolution: the structure was compared at a coarser resolution than {ref}'s own (Gaussian "
            f"smoothing {_num(r['sigma_real'])} px instead of {_num(r['own_real'])} px) because "
            + " and ".join(why or ["the other set needs it"]) + "; finer detail was not compared.")


def _groups(res: dict, ref: str, name: str) -> str | None:
    g = res.get("groups") or {}
    n = {"real": res.get("n_real"), "synthetic": res.get("n_fake")}
    # a group per image (a `shapekit synth` set's sample ids) changes nothing: no sentence for it
    shared = [k for k in ("real", "synthetic") if g.get(k) is not None and g[k] != n[k]]
    if not shared:
        return None
    per = [f"{g[k]} in {ref if k == 'real' else name}" for k in shared]
    return (f"Groups: resampled in whole groups of images ({', '.join(per)}), so the images of one group "
            "counted as one piece of evidence.")


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    """Sentences per question from a :func:`shapekit.realism.score` result.

    Returns
    -------
    dict
        ``structure``, ``imaging``, ``diversity``, ``scale``, ``resolution``, ``groups`` (a
        sentence or None when not computed / not relevant) and ``lines`` (the non-empty ones, in that order).

    Examples
    --------
    >>> res = {"names": {"real": "uhcs3", "synthetic": "gan"}, "scale_known": True,
    ...        "structure": {"p_value": 0.41, "relative_to_baseline": 0.9, "distance": 0.1},
    ...        "imaging": {"p_value": 0.005, "relative_to_baseline": 6.0, "distance": 2.0,
    ...                    "attributes": {"brightness": {"differs": True, "word": "brighter"},
    ...                                   "noise": {"differs": True, "word": "noisier"}}}}
    >>> v = verdict(res)
    >>> v["structure"]
    'Structure: indistinguishable from uhcs3 (distance 0.9x uhcs3 against itself, p = 0.41).'
    >>> v["imaging"]
    'Imaging: brighter and noisier than uhcs3 (distance 6.0x uhcs3 against itself, p = 0.005).'
    """
    ref, name = result["names"]["real"], result["names"]["synthetic"]
    st, im = result.get("structure"), result.get("imaging")
    out = {"structure": _structure(st, ref, name) if st else None,
           "imaging": _imaging(im, ref) if im else None,
           "diversity": _diversity(st["coverage"], ref, name) if st and st.get("coverage") else None,
           "scale": _scale(result, ref, name) if st else None,
           "resolution": _resolution(result, ref, name) if st else None,
           "groups": _groups(result, ref, name)}
    out["lines"] = [out[k] for k in ("structure", "imaging", "diversity", "scale", "resolution", "groups") if out[k]]
    return out
