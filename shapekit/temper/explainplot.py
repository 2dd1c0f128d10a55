"""Figures of a TopTemp explanation: the top persistence pairs on the scan beside the diagram of
the most important block (:func:`plot_explanation`), the per-tile verdicts over the scan
(:func:`plot_tile_map`), and a confusion matrix (:func:`plot_confusion`).

Each takes what :func:`shapekit.temper.explain.explain_scan` returns (an
:class:`~shapekit.temper.explain.Explanation`; only its attributes are read, so this module does
not import that one) and returns a matplotlib ``Figure``; saving it is the caller's
(``shapekit._atomic.save_figure``). Colours: :data:`COLORS`, per (filtration, homology dimension).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

COLORS = {("sublevel", 0): "tab:blue", ("sublevel", 1): "tab:cyan",
          ("superlevel", 0): "tab:red", ("superlevel", 1): "tab:orange"}


def _figure():
    from shapekit._mpl import headless

    headless()
    import matplotlib.pyplot as plt

    return plt


def plot_explanation(explanation: Any) -> Any:
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
    diagram = getattr(explanation, "diagram", None)   # every pair of the best block, or those shown
    if diagram is None:
        diagram = np.array([(r["birth"], r["death"], r["score"]) for r in pairs
                            if (r["scale"], r["filtration"], r["dim"]) == best]).reshape(-1, 3)
    if len(diagram):
        b, d, sc = diagram[:, 0], diagram[:, 1], diagram[:, 2]
        axd.scatter(b, d, s=4, c="lightgray")
        # coloured: the block's pairs drawn on the scan (its best ones among the ``top``)
        n_drawn = sum((r["scale"], r["filtration"], r["dim"]) == best for r in shown)
        topk = np.argsort(-sc, kind="stable")[:n_drawn]
        axd.scatter(b[topk], d[topk], s=10, c=COLORS[best[1:]])
        lo, hi = float(min(b.min(), d.min())), float(max(b.max(), d.max()))
        axd.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    axd.set_xlabel("birth (z units)")
    axd.set_ylabel("death (z units)")
    axd.set_title(f"diagram of the top block: scale {best[0]}, {best[1]} H{best[2]} "
                  f"(importance {blocks[best]:.2f})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_tile_map(explanation: Any) -> Any:
    """Figure of the per-tile verdicts over the scan: each tile filled with its temper's colour,
    more opaque the surer it is, labelled with that temper and probability; the scan's verdict
    (or "unknown", outside the training data, with a red frame) in the title.

    Examples
    --------
    >>> v = {"image": "x", "temper": "a", "probabilities": {"a": 0.8, "b": 0.2}, "tiles": 2,
    ...      "ood_score": 0.4, "tile_map": {"tile_size": [8, 8], "labels": ["a", "b"], "tiles": [
    ...          {"row": 0, "col": 0, "temper": "a", "p": [0.9, 0.1]},
    ...          {"row": 0, "col": 8, "temper": "b", "p": [0.3, 0.7]}]}}
    >>> from shapekit.temper.explain import Explanation
    >>> fig = plot_tile_map(Explanation(v, {}, [], np.zeros((8, 16)), 1))
    >>> len(fig.axes[0].patches)
    2
    """
    plt = _figure()
    from matplotlib.patches import Patch, Rectangle

    v, img = explanation.verdict, explanation.scan
    tmap = v["tile_map"]
    labels = list(tmap["labels"])
    cmap = plt.get_cmap("tab10")
    colour = {lab: cmap(i % 10) for i, lab in enumerate(labels)}
    h, w = img.shape
    fig, ax = plt.subplots(figsize=(8, 8 * h / w + 0.8))
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    th, tw = tmap["tile_size"]
    for t in tmap["tiles"]:
        pmax = max(t["p"])
        ax.add_patch(Rectangle((t["col"] - 0.5, t["row"] - 0.5), tw, th, facecolor=colour[t["temper"]],
                               alpha=0.15 + 0.45 * pmax, edgecolor="white", linewidth=0.8))
        if min(th, tw) >= 48:
            ax.text(t["col"] + tw / 2, t["row"] + th / 2, f"{t['temper']}\n{pmax:.2f}", ha="center",
                    va="center", fontsize=7, color="white")
    probs = ", ".join(f"{k} {p:.2f}" for k, p in v["probabilities"].items())
    from shapekit.temper.outside import over_limit

    s = v.get("ood_score")  # just over the limit 1: never '1.00' beside "unknown"
    ood = "" if s is None else f"; ood score {over_limit(s) if s > 1 else f'{s:.2f}'}"
    if v["temper"] == "unknown":
        ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="red", linewidth=4))
        title = f"unknown: outside the training data ({probs}{ood})"
    else:
        title = f"{v['temper']} ({probs}{ood})"
    ax.set_title(title, fontsize=9)
    ax.legend(handles=[Patch(color=colour[lab], label=lab) for lab in labels], loc="lower right",
              fontsize=7, framealpha=0.7)
    ax.set_axis_off()
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
