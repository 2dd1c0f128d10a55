"""Explain a TopTemp verdict: the persistence pairs that drive it, drawn where they are born.

The model stores a permutation importance per classifier column, and its feature pipeline says
which ``(scale, filtration, homology dimension)`` diagram block every column comes from
(:func:`shapekit.topology.feature_blocks`); a block's importance is the sum over its columns.
Each persistence pair of the scan, computed with birth/death pixels by
:func:`shapekit.topology.persistence_pairs_with_locations` on the scan as the model's own
``standardize`` and ``pyramid`` steps see it at that scale, gets the score
``block importance x pair persistence / block total persistence``: its share of what the
classifier looked at.  :func:`explain_scan` computes this; :func:`plot_explanation` draws the
``top`` pairs at their birth pixels (marker area ~ score; colour = filtration and dimension)
beside the persistence diagram of the most important block; saving the figure is the caller's
(``shapekit._atomic.save_figure``).

References
----------
.. [1] L. Kassab et al., "TopTemp: Parsing Precipitate Structure from Temper Topology",
   arXiv:2204.00629, 2022.
.. [2] L. Breiman, "Random Forests", Machine Learning 45, 2001 (permutation importance).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shapekit.errors import InputError

COLORS = {("sublevel", 0): "tab:blue", ("sublevel", 1): "tab:cyan",
          ("superlevel", 0): "tab:red", ("superlevel", 1): "tab:orange"}


def block_importance(importance: np.ndarray, blocks: Sequence[Any]) -> dict[Any, float]:
    """Sum column importances per diagram block (one :class:`~shapekit.topology.Block` per column).

    Examples
    --------
    >>> from shapekit.topology import Block
    >>> b0, b1 = Block(1, "sublevel", 0), Block(2, "superlevel", 1)
    >>> block_importance(np.array([0.2, 0.3, 0.5]), [b0, b0, b1])
    {Block(scale=1, filtration='sublevel', dim=0): 0.5, Block(scale=2, filtration='superlevel', dim=1): 0.5}
    """
    imp = np.asarray(importance, dtype=np.float64)
    if len(imp) != len(blocks):
        raise InputError(f"{len(imp)} importances for {len(blocks)} feature columns")
    out: dict[Any, float] = {}
    for w, b in zip(imp, blocks):
        out[b] = round(out.get(b, 0.0) + float(w), 12)
    return out


def scored_pairs(levels: dict[int, np.ndarray], blocks: dict[Any, float],
                 min_persistence: float = 0.0) -> list[dict[str, Any]]:
    """Persistence pairs of each block with birth pixels (original coordinates) and scores.

    ``levels`` is the scan at each scale as the model's features see it (``{scale: image}``,
    the output of its ``standardize`` and ``pyramid`` steps) and ``min_persistence`` the
    model's, so the pairs are those the features were computed from.

    Examples
    --------
    >>> from shapekit.topology import Block
    >>> img = np.zeros((16, 16)); img[4, 4] = img[10, 12] = 1.0
    >>> p = scored_pairs({1: img}, {Block(1, "superlevel", 0): 1.0})
    >>> sorted((int(r["row"]), int(r["col"])) for r in p)
    [(4, 4)]
    """
    from shapekit.topology import persistence_pairs_with_locations

    out = []
    for b, w in blocks.items():
        if w <= 0:
            continue
        p = persistence_pairs_with_locations(levels[b.scale], b.filtration,
                                             min_persistence=min_persistence).get(b.dim)
        p = p[np.isfinite(p[:, 1])] if p is not None and len(p) else np.zeros((0, 6))
        if not len(p):
            continue
        life = np.abs(p[:, 1] - p[:, 0])
        score = w * life / max(float(life.sum()), 1e-12)
        s = b.scale
        for k in np.flatnonzero(score > 0):
            out.append({"scale": s, "filtration": b.filtration, "dim": b.dim,
                        "birth": float(p[k, 0]), "death": float(p[k, 1]),
                        "row": (p[k, 2] + 0.5) * s - 0.5, "col": (p[k, 3] + 0.5) * s - 0.5,
                        "score": float(score[k])})
    return out


@dataclass
class Explanation:
    """What :func:`explain_scan` found: the verdict, block importances, scored pairs, the scan.

    Attributes
    ----------
    verdict : dict
        ``{"image", "temper", "probabilities", "tiles"}`` (as ``TemperModel.classify``).
    blocks : dict of Block -> float
        Importance of every diagram block.
    pairs : list of dict
        Every scored pair (scale, filtration, dim, birth, death, row, col, score), best first.
    scan : ndarray
        The scan as read (info bar cropped, at the model's pixel size).
    top : int
        How many pairs the summary lists and the figure draws.
    """

    verdict: dict[str, Any]
    blocks: dict[Any, float]
    pairs: list[dict[str, Any]]
    scan: np.ndarray
    top: int = 300

    def summary(self, n_pairs: int = 50) -> dict[str, Any]:
        """JSON: the verdict, block importances (largest first) and the ``n_pairs`` best pairs."""
        return {**self.verdict,
                "blocks": [{"scale": k.scale, "filtration": k.filtration, "dim": k.dim,
                            "importance": round(v, 6)}
                           for k, v in sorted(self.blocks.items(), key=lambda kv: -kv[1])],
                "pairs": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                          for r in self.pairs[:min(n_pairs, self.top)]]}


def model_pairs(model: Any, image: np.ndarray) -> tuple[dict[Any, float], list[dict[str, Any]]]:
    """Block importances of a TopTemp model and the scored pairs of one scan array, best first.

    The pairs come from the scan as the model's own ``standardize`` and ``pyramid`` steps see it,
    with its minimum persistence; coordinates are in the array's pixels.  Block keys are
    :class:`~shapekit.topology.Block` ``(scale, filtration, dim)`` tuples.
    """
    if model.kind != "toptemp" or model.importance is None:
        raise InputError("explain needs a TopTemp model with feature importances (not --model cnn)")
    blocks = block_importance(model.importance, model.column_blocks())
    steps = model.features.named_steps
    levels = steps["pyramid"].transform(steps["standardize"].transform([image]))[0]
    pairs = scored_pairs(levels, blocks, float(steps["diagrams"].min_persistence))
    pairs.sort(key=lambda r: -r["score"])
    return blocks, pairs


def explain_scan(model: Any, image: str | os.PathLike[str] | np.ndarray,
                 top: int = 300) -> Explanation:
    """The persistence pairs behind a TopTemp model's verdict on one scan.

    Parameters
    ----------
    model : TemperModel
        A TopTemp model (CNN models are refused).
    image : path or 2-D array
    top : int
        Number of highest-scoring pairs drawn by :func:`plot_explanation`.

    Returns
    -------
    Explanation
    """
    if model.kind != "toptemp" or model.importance is None:
        raise InputError("explain needs a TopTemp model with feature importances (not --model cnn)")
    if top < 1:
        raise InputError(f"--top must be positive, got {top}")
    name, img = model.load(image)
    verdict = model.classify([img])[0]
    verdict["image"] = name
    blocks, pairs = model_pairs(model, img)
    return Explanation(verdict, blocks, pairs, img, int(top))


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_explanation(explanation: Explanation) -> Any:
    """Figure of an :func:`explain_scan` result: the top pairs on the scan, and the diagram of
    the most important block (a matplotlib ``Figure``; save it with
    ``shapekit._atomic.save_figure``)."""
    plt = _figure()
    img, pairs = explanation.scan, explanation.pairs
    shown = pairs[:explanation.top]
    blocks = {tuple(k): v for k, v in explanation.blocks.items()}
    fig, (ax, axd) = plt.subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.6, 1]})
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    smax = max((r["score"] for r in shown), default=1.0)
    for key, color in COLORS.items():
        sel = [r for r in shown if (r["filtration"], r["dim"]) == key]
        if sel:
            ax.scatter([r["col"] for r in sel], [r["row"] for r in sel],
                       s=[8 + 120 * r["score"] / smax for r in sel], facecolors="none",
                       edgecolors=color, linewidths=1.0, label=f"{key[0]} H{key[1]}")
    probs = ", ".join(f"{k} {v:.2f}" for k, v in explanation.verdict["probabilities"].items())
    ax.set_title(f"{explanation.verdict['temper']}  ({probs})", fontsize=9)
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
    return fig


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> Any:
    """Confusion-matrix figure (rows: true class, columns: predicted).

    Examples
    --------
    >>> fig = plot_confusion([[3, 1], [0, 4]], ["a", "b"])
    >>> fig.axes[0].get_xlabel()
    'predicted'
    """
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
    return fig
