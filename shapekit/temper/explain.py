"""Explain a TopTemp verdict: the persistence pairs that drive it, drawn where they are born.

The model stores a permutation importance per feature. Features come in blocks, one per
``(scale, filtration, homology dimension)`` diagram; a block's importance is the sum over its
features. Each persistence pair of the scan (computed with birth/death pixels by
:func:`shapekit.topology.persistence_pairs_with_locations` on the z-scored scan at that scale)
gets the score ``block importance x pair persistence / block total persistence``: its share of
what the classifier looked at. The overlay draws the ``top`` pairs at their birth pixels (marker
area ~ score; colour = filtration and dimension) beside the persistence diagram of the most
important block.

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
.. [2] L. Breiman, "Random Forests", Machine Learning 45, 2001 (permutation importance).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

COLORS = {("sublevel", 0): "tab:blue", ("sublevel", 1): "tab:cyan",
          ("superlevel", 0): "tab:red", ("superlevel", 1): "tab:orange"}


def block_importance(importance: np.ndarray, names: Sequence[str]) -> dict[tuple[int, str, int], float]:
    """Sum feature importances per ``(scale, filtration, dim)`` block (from the feature names).

    Examples
    --------
    >>> block_importance(np.array([0.2, 0.3, 0.5]),
    ...                  ["s1_sublevel_h0_a", "s1_sublevel_h0_b", "s2_superlevel_h1_a"])
    {(1, 'sublevel', 0): 0.5, (2, 'superlevel', 1): 0.5}
    """
    out: dict[tuple[int, str, int], float] = {}
    for w, n in zip(np.asarray(importance, dtype=np.float64), names):
        s, filt, h = n.split("_")[:3]
        key = (int(s[1:]), filt, int(h[1:]))
        out[key] = round(out.get(key, 0.0) + float(w), 12)
    return out


def scored_pairs(image: np.ndarray, blocks: dict[tuple[int, str, int], float],
                 smooth: float = 0.0, restandardize: bool = False,
                 min_persistence: float = 0.0) -> list[dict[str, Any]]:
    """Persistence pairs of each block with birth pixels (original coordinates) and scores.

    ``smooth``, ``restandardize`` and ``min_persistence`` mirror the model's feature parameters,
    so the pairs are those the features were computed from.

    Examples
    --------
    >>> img = np.zeros((16, 16)); img[4, 4] = img[10, 12] = 1.0
    >>> p = scored_pairs(img, {(1, "superlevel", 0): 1.0})
    >>> sorted((int(r["row"]), int(r["col"])) for r in p)
    [(4, 4)]
    """
    from shapekit.temper.features import rescale, standardize
    from shapekit.topology import persistence_pairs_with_locations

    z = standardize(image)
    out = []
    for s in sorted({k[0] for k in blocks}):
        a = rescale(z, s, smooth)
        if restandardize:
            a = standardize(a)
        for filt in ("sublevel", "superlevel"):
            if not any(blocks.get((s, filt, d), 0) > 0 for d in (0, 1)):
                continue
            pairs = persistence_pairs_with_locations(a, filt, min_persistence=min_persistence)
            for dim in (0, 1):
                w = blocks.get((s, filt, dim), 0.0)
                p = pairs.get(dim, np.zeros((0, 6)))
                p = p[np.isfinite(p[:, 1])] if len(p) else p
                if w <= 0 or not len(p):
                    continue
                life = np.abs(p[:, 1] - p[:, 0])
                score = w * life / max(float(life.sum()), 1e-12)
                for k in np.flatnonzero(score > 0):
                    out.append({"scale": s, "filtration": filt, "dim": dim,
                                "birth": float(p[k, 0]), "death": float(p[k, 1]),
                                "row": (p[k, 2] + 0.5) * s - 0.5, "col": (p[k, 3] + 0.5) * s - 0.5,
                                "score": float(score[k])})
    return out


def model_pairs(model: Any, image: np.ndarray) -> tuple[dict[tuple[int, str, int], float], list[dict[str, Any]]]:
    """Block importances of a TopTemp model and the scored pairs of one scan array, best first.

    The pairs are computed with the model's own feature parameters (smoothing,
    re-standardisation, minimum persistence); coordinates are in the array's pixels.

    Examples
    --------
    >>> import tempfile
    >>> from shapekit.temper.toy import toy_dataset
    >>> from shapekit.temper.train import train_on_images
    >>> imgs, labels = toy_dataset(2, 48, seed=0)
    >>> m = train_on_images(imgs, labels, tempfile.mkdtemp(), model="logreg", tile_size=48,
    ...                     feature_params={"scales": [1]}, cv_folds=2, augment=0)
    >>> blocks, pairs = model_pairs(m, imgs[0])
    >>> len(pairs) > 0 and pairs[0]["score"] >= pairs[-1]["score"]
    True
    """
    if model.kind != "toptemp" or model.importance is None:
        raise InputError("explain needs a TopTemp model with feature importances (not --model cnn)")
    blocks = block_importance(model.importance, model.config["feature_names"])
    fp = model.feature_params
    pairs = scored_pairs(image, blocks, float(fp.get("smooth", 0.0)), bool(fp.get("restandardize", False)),
                         float(fp.get("min_persistence", 0.0)))
    pairs.sort(key=lambda r: -r["score"])
    return blocks, pairs


def explain_scan(model: Any, image: str | os.PathLike[str] | np.ndarray,
                 out: str | os.PathLike[str], top: int = 300) -> dict[str, Any]:
    """Write the explanation overlay PNG of one scan and return its summary.

    Parameters
    ----------
    model : TemperModel
        A TopTemp model (CNN models are refused).
    image : path or 2-D array
    out : path-like
        PNG to write (atomically).
    top : int
        Number of highest-scoring pairs drawn.

    Returns
    -------
    dict
        ``{"image", "temper", "probabilities", "out", "blocks": [...], "pairs": [...]}`` with the
        block importances and the drawn pairs (scale, filtration, dim, birth, death, row, col,
        score), highest score first.
    """
    if model.kind != "toptemp" or model.importance is None:
        raise InputError("explain needs a TopTemp model with feature importances (not --model cnn)")
    if top < 1:
        raise InputError(f"--top must be positive, got {top}")
    name, img = model.load(image)
    verdict = model.classify([img])[0]
    verdict["image"] = name
    blocks, pairs = model_pairs(model, img)
    shown = pairs[:top]
    _draw(img, shown, pairs, blocks, verdict, out)
    return {**verdict, "out": str(out),
            "blocks": [{"scale": k[0], "filtration": k[1], "dim": k[2], "importance": round(v, 6)}
                       for k, v in sorted(blocks.items(), key=lambda kv: -kv[1])],
            "pairs": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                      for r in shown[:50]]}


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _draw(img: np.ndarray, shown: list[dict[str, Any]], pairs: list[dict[str, Any]],
          blocks: dict[tuple[int, str, int], float], verdict: dict[str, Any],
          out: str | os.PathLike[str]) -> None:
    from shapekit._atomic import atomic_path

    plt = _figure()
    fig, (ax, axd) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.6, 1]})
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    smax = max((r["score"] for r in shown), default=1.0)
    for key, color in COLORS.items():
        sel = [r for r in shown if (r["filtration"], r["dim"]) == key]
        if sel:
            ax.scatter([r["col"] for r in sel], [r["row"] for r in sel],
                       s=[8 + 120 * r["score"] / smax for r in sel], facecolors="none",
                       edgecolors=color, linewidths=1.0, label=f"{key[0]} H{key[1]}")
    probs = ", ".join(f"{k} {v:.2f}" for k, v in verdict["probabilities"].items())
    ax.set_title(f"{verdict['temper']}  ({probs})", fontsize=9)
    ax.set_axis_off()
    if shown:
        ax.legend(loc="lower right", fontsize=7, framealpha=0.7)
    best = max(blocks, key=blocks.get)
    sel = [r for r in pairs if (r["scale"], r["filtration"], r["dim"]) == best]
    if sel:
        b = np.array([r["birth"] for r in sel])
        d = np.array([r["death"] for r in sel])
        sc = np.array([r["score"] for r in sel])
        axd.scatter(b, d, s=4, c="lightgray")
        topk = np.argsort(-sc)[:max(1, min(len(sc), len(shown)))]
        axd.scatter(b[topk], d[topk], s=10, c=COLORS[best[1:]])
        lo, hi = float(min(b.min(), d.min())), float(max(b.max(), d.max()))
        axd.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    axd.set_xlabel("birth (z units)")
    axd.set_ylabel("death (z units)")
    axd.set_title(f"diagram of the top block: scale {best[0]}, {best[1]} H{best[2]} "
                  f"(importance {blocks[best]:.2f})", fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str],
                   out: str | os.PathLike[str]) -> None:
    """Write a confusion-matrix PNG (rows: true class, columns: predicted), atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.png"
    >>> plot_confusion([[3, 1], [0, 4]], ["a", "b"], p); p.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    from shapekit._atomic import atomic_path

    plt = _figure()
    cm = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
