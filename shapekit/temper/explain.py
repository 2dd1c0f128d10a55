"""Explain a TopTemp verdict: the persistence pairs that drive it, drawn where they are born.

The model stores a permutation importance per classifier column, and its feature pipeline says
which ``(scale, filtration, homology dimension)`` diagram block every column comes from
(:func:`shapekit.topology.feature_blocks`); a block's importance is the sum over its columns.
Each persistence pair of the scan, computed with birth/death pixels by
:func:`shapekit.topology.persistence_pairs_with_locations` on the scan as the model's own
``standardize`` and ``pyramid`` steps see it at that scale, gets the score
``block importance x pair persistence / block total persistence``: its share of what the
classifier looked at.  :func:`explain_scan` computes this;
:func:`~shapekit.temper.explainplot.plot_explanation` draws the ``top`` pairs at their birth
pixels (marker area ~ score; colour = filtration and dimension) beside the persistence diagram of
the most important block, and :func:`~shapekit.temper.explainplot.plot_tile_map` the per-tile
verdicts over the scan (both also importable from here); saving a figure is the caller's
(``shapekit._atomic.save_figure``).

In physical terms (:data:`MEANING`): superlevel H0 pairs are bright particles or islands,
superlevel H1 loops are cells enclosed by a bright network, sublevel H0 dark particles or pits,
sublevel H1 cells enclosed by a dark network (in secondary-electron images of steels the carbide
phase is the bright one). A pair's size is twice the distance between the pixel where it is born
(where a loop closes) and where it dies (the cell's deepest point): roughly the cell's diameter.
A particle's size is measured on the particle itself: the equivalent-circle diameter of its
component half-way through its life (the pixels brighter, or darker, than the level half-way
between its extremum and the saddle where it merges with a neighbour; :func:`particle_diameter`).
Twice the distance to that saddle would be the spacing to the neighbour, not the particle's
size. Sizes are in micrometres where the scan's pixel size is known. Pairs whose feature would
reach past the scan's edge (a disc around the birth pixel as far as the death pixel, at least
one pixel of its scale) are cut by the field of view: they are left out.

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
from typing import Any, NamedTuple

import numpy as np

from shapekit.errors import InputError
# the figures (they read only an Explanation's attributes); importable from here as before
from shapekit.temper.explainplot import COLORS, plot_confusion, plot_explanation, plot_tile_map  # noqa: F401

#: float32-sized words of memory a pixel of the scan that explain's pairs take (checked against
#: the pixel budget before the verdict): GUDHI's persistence with locations, one (scale,
#: filtration) at a time, and each block's best pairs, measured (peak RSS growth) at ~255 bytes a
#: pixel on uniform noise with the shipped model (the torch backend, used on CUDA, takes ~100)
PAIR_WORK = 80

#: what a (filtration, homology dimension) block's pairs are in a micrograph
MEANING = {("superlevel", 0): "bright particles", ("superlevel", 1): "cells of a bright network",
           ("sublevel", 0): "dark particles or pits", ("sublevel", 1): "cells of a dark network"}


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


#: the columns of :func:`pair_table` (``superlevel``: 1.0 or 0.0; ``reach``: birth-to-death
#: distance in px of the scan; ``birth_*``/``death_*``: pixels of the level image at ``scale``)
PAIR_COLUMNS = ("scale", "superlevel", "dim", "birth", "death", "row", "col", "reach", "score",
                "birth_row", "birth_col", "death_row", "death_col")


class PairTable(NamedTuple):
    """What :func:`pair_table` found: the best pairs as rows, how many there are, the diagram of
    the most important block."""

    rows: np.ndarray
    """``(k, 13)`` float64, columns :data:`PAIR_COLUMNS`, best score first."""
    n_pairs: int
    """Every scored pair not cut by the scan's edge (``k`` of them are in ``rows``)."""
    diagram: np.ndarray
    """``(m, 3)``: birth, death, score of every such pair of the most important block."""


def pair_table(levels: dict[int, np.ndarray], blocks: dict[Any, float], min_persistence: float = 0.0,
               shape: tuple[int, int] | None = None, n: int | None = None) -> PairTable:
    """The scored persistence pairs of the blocks: the ``n`` best as rows (None: all), their
    number, and the most important block's diagram.

    ``levels`` is the scan at each scale as the model's features see it (``{scale: image}``,
    the output of its ``standardize`` and ``pyramid`` steps) and ``min_persistence`` the
    model's, so the pairs are those the features were computed from. With ``shape`` (the scan's
    height and width) pairs that reach past its edge are left out (see the module docstring).
    A noisy scan, without smoothing or minimum persistence, has a pair for every two pixels: only
    each block's ``n`` best are kept as rows (ties in the order of ``blocks``, then of the pairs),
    and only those reported become dicts (:func:`pair_records`).
    """
    from shapekit.topology import persistence_pairs_with_locations

    live = {b: w for b, w in blocks.items() if w > 0}
    best = max(live, key=live.get, default=None)
    uses: dict[tuple[int, str], int] = {}
    for b in live:
        uses[(b.scale, b.filtration)] = uses.get((b.scale, b.filtration), 0) + 1
    parts, n_pairs, diagram = [np.zeros((0, len(PAIR_COLUMNS)))], 0, np.zeros((0, 3))
    found: dict[tuple[int, str], dict[int, np.ndarray]] = {}
    for b, w in live.items():
        key = (b.scale, b.filtration)
        if key not in found:   # one computation gives both dimensions
            # GUDHI on the CPU (persistence there is never hand-written), the exact torch
            # backend on CUDA ("auto"); GUDHI's generic complex takes ~250 bytes a pixel, one
            # (scale, filtration) at a time
            found[key] = persistence_pairs_with_locations(
                levels[b.scale], b.filtration, backend="auto", min_persistence=min_persistence)
        p = found[key].get(b.dim)
        uses[key] -= 1
        if not uses[key]:
            del found[key]
        p = p[np.isfinite(p[:, 1])] if p is not None and len(p) else np.zeros((0, 6))
        life = np.abs(p[:, 1] - p[:, 0])
        score = w * life / max(float(life.sum()), 1e-12)
        s = b.scale
        rows, cols = (p[:, 2] + 0.5) * s - 0.5, (p[:, 3] + 0.5) * s - 0.5
        radius = np.hypot(p[:, 4] - p[:, 2], p[:, 5] - p[:, 3]) * s
        keep = score > 0
        if shape is not None:
            reach = np.maximum(radius, s)
            keep &= (rows - reach >= 0) & (cols - reach >= 0) & \
                (rows + reach <= shape[0] - 1) & (cols + reach <= shape[1] - 1)
        k = np.flatnonzero(keep)
        n_pairs += len(k)
        if b == best:
            diagram = np.column_stack([p[k, 0], p[k, 1], score[k]])
        k = k[np.argsort(-score[k], kind="stable")[:n]]
        parts.append(np.column_stack([np.full(len(k), s), np.full(len(k), b.filtration == "superlevel"),
                                      np.full(len(k), b.dim), p[k, 0], p[k, 1], rows[k], cols[k],
                                      radius[k], score[k], p[k, 2:6]]))
    table = np.concatenate(parts)
    return PairTable(table[np.argsort(-table[:, 8], kind="stable")[:n]], n_pairs, diagram)


def pair_records(table: np.ndarray, levels: dict[int, np.ndarray], um_per_px: float | None = None,
                 n: int | None = None) -> list[dict[str, Any]]:
    """The first ``n`` rows of a :func:`pair_table` (None: all) as dicts with the pair's size.

    Keys: scale, filtration, dim, what, birth, death, row, col (birth pixel in the scan's
    coordinates), size_px (a particle's equivalent-circle diameter, :func:`particle_diameter`;
    a cell's twice its reach), reach_px, size_um (None without ``um_per_px``), score.
    """
    out = []
    for t in table[:n]:
        s, filtration, dim = int(t[0]), "superlevel" if t[1] else "sublevel", int(t[2])
        if dim == 0:
            img, at = levels[s], (int(t[9]), int(t[10]))
            mid = (float(img[at]) + float(img[int(t[11]), int(t[12])])) / 2
            size = particle_diameter(img, at, mid, filtration == "superlevel") * s
        else:
            size = 2.0 * float(t[7])
        out.append({"scale": s, "filtration": filtration, "dim": dim,
                    "what": MEANING[(filtration, dim)], "birth": float(t[3]), "death": float(t[4]),
                    "row": float(t[5]), "col": float(t[6]), "size_px": size, "reach_px": float(t[7]),
                    "size_um": None if um_per_px is None else size * float(um_per_px),
                    "score": float(t[8])})
    return out


def scored_pairs(levels: dict[int, np.ndarray], blocks: dict[Any, float],
                 min_persistence: float = 0.0, shape: tuple[int, int] | None = None,
                 um_per_px: float | None = None) -> list[dict[str, Any]]:
    """Persistence pairs of each block with birth pixels (original coordinates), sizes and scores,
    best first: :func:`pair_records` of every row of :func:`pair_table`.

    Examples
    --------
    >>> from shapekit.topology import Block
    >>> img = np.zeros((16, 16)); img[4, 4] = 0.9; img[10, 12] = 1.0   # the lower peak dies
    >>> p = scored_pairs({1: img}, {Block(1, "superlevel", 0): 1.0})
    >>> sorted((int(r["row"]), int(r["col"])) for r in p), p[0]["what"]
    ([(4, 4)], 'bright particles')
    >>> scored_pairs({1: img}, {Block(1, "superlevel", 0): 1.0}, shape=(16, 16))   # reaches the edge
    []
    """
    return pair_records(pair_table(levels, blocks, min_persistence, shape).rows, levels, um_per_px)


def particle_diameter(level: np.ndarray, at: tuple[int, int], threshold: float,
                      bright: bool = True) -> float:
    """Equivalent-circle diameter (px) of the component of ``level >= threshold`` (``<=`` when
    not ``bright``) that holds the pixel ``at``, with 8-connectivity as in a cubical complex of
    pixels.

    The component is searched in a window around ``at`` that doubles while the component
    touches its side, so a small particle costs a small window.

    Examples
    --------
    >>> img = np.zeros((64, 64)); img[10:16, 20:26] = 1.0; img[40, 40] = 0.8
    >>> round(particle_diameter(img, (12, 22), 0.5), 2)   # a 6x6 square: area 36
    6.77
    >>> particle_diameter(img, (40, 40), 0.4)
    1.1283791670955126
    """
    from scipy import ndimage

    h, w = level.shape
    half = 8
    while True:
        r0, r1 = max(0, at[0] - half), min(h, at[0] + half + 1)
        c0, c1 = max(0, at[1] - half), min(w, at[1] + half + 1)
        sub = level[r0:r1, c0:c1]
        lab, _ = ndimage.label(sub >= threshold if bright else sub <= threshold,
                               structure=np.ones((3, 3), dtype=bool))
        comp = lab == lab[at[0] - r0, at[1] - c0]
        cut = ((r0 > 0 and comp[0].any()) or (r1 < h and comp[-1].any())
               or (c0 > 0 and comp[:, 0].any()) or (c1 < w and comp[:, -1].any()))
        if not cut:
            return float(2.0 * np.sqrt(comp.sum() / np.pi))
        half *= 2


@dataclass
class Explanation:
    """What :func:`explain_scan` found: the verdict, block importances, scored pairs, the scan.

    Attributes
    ----------
    verdict : dict
        The verdict of :meth:`~shapekit.temper.model.TemperModel.classify` (with the per-tile
        ``tile_map``).
    blocks : dict of Block -> float
        Importance of every diagram block.
    pairs : list of dict
        The ``top`` best-scoring pairs not cut by the scan's edge (scale, filtration, dim, what,
        birth, death, row, col, size_px, reach_px, size_um, score), best first.
    scan : ndarray
        The scan as read (info bar cropped, at the model's pixel size).
    top : int
        How many pairs the summary lists and the figure draws.
    um_per_px : float or None
        Pixel size of ``scan`` (None: unknown).
    n_pairs : int or None
        How many scored pairs there are in all (None: ``len(pairs)``).
    diagram : ndarray (n, 3) or None
        ``birth, death, score`` of every pair of the most important block, for its diagram
        (None: drawn from ``pairs``).
    """

    verdict: dict[str, Any]
    blocks: dict[Any, float]
    pairs: list[dict[str, Any]]
    scan: np.ndarray
    top: int = 300
    um_per_px: float | None = None
    n_pairs: int | None = None
    diagram: np.ndarray | None = None

    def block_summary(self) -> list[dict[str, Any]]:
        """Blocks, most important first, in physical terms: what their pairs are and the median
        size of the block's pairs that drive the verdict (its ``top`` best pairs)."""
        shown = self.pairs[:self.top]
        out = []
        for k, v in sorted(self.blocks.items(), key=lambda kv: -kv[1]):
            sizes = [r["size_px"] for r in shown if (r["scale"], r["filtration"], r["dim"]) == tuple(k)]
            px = float(np.median(sizes)) if sizes else None
            out.append({"scale": k.scale, "filtration": k.filtration, "dim": k.dim,
                        "what": MEANING[(k.filtration, k.dim)], "importance": round(v, 6),
                        "typical_size_px": None if px is None else round(px, 2),
                        "typical_size_um": None if px is None or self.um_per_px is None
                        else round(px * self.um_per_px, 4)})
        return out

    def reading(self, n_blocks: int = 3) -> list[str]:
        """The verdict and what drives it, as sentences a metallurgist reads."""
        v = self.verdict
        best = max(v["probabilities"], key=v["probabilities"].get)
        head = (f"{v['temper']} (p = {v['probabilities'][v['temper']]:.2f})" if v["temper"] != "unknown"
                else f"unknown: outside the training data (closest: {best}, p = {v['probabilities'][best]:.2f})")
        out = [f"verdict: {head}"]
        for b in self.block_summary()[:n_blocks]:
            size = "" if b["typical_size_px"] is None else (
                f", typically {b['typical_size_um']:.3g} um across" if b["typical_size_um"] is not None
                else f", typically {b['typical_size_px']:.3g} px across (pixel size unknown)")
            out.append(f"{b['what']} (H{b['dim']}, {b['filtration']}, scale {b['scale']}): "
                       f"{100 * b['importance']:.0f} % of what the classifier looks at{size}")
        return out

    def summary(self, n_pairs: int = 50) -> dict[str, Any]:
        """JSON: the verdict, its reading, block importances (largest first) and the
        ``n_pairs`` best pairs."""
        verdict = {k: v for k, v in self.verdict.items() if k != "tile_map"}
        return {**verdict, "reading": self.reading(), "blocks": self.block_summary(),
                "pairs": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()}
                          for r in self.pairs[:min(n_pairs, self.top)]]}


def check_pair_budget(shape: tuple[int, ...], name: str = "the scan", max_pixels: int | None = None) -> None:
    """Refuse (:class:`InputError`, naming the limit and ``--map``) a scan whose pairs would take
    more than the pixel budget at :data:`PAIR_WORK` a pixel."""
    from shapekit.io.budget import check_pixel_budget

    h, w = shape[:2]
    check_pixel_budget((PAIR_WORK, h, w), f"{name}: explain's persistence pairs over the whole {w}x{h} "
                       f"scan (about {4 * PAIR_WORK} bytes a pixel; --map, each tile's verdict, needs "
                       f"none)", max_pixels=max_pixels)


def model_pair_table(model: Any, image: np.ndarray, n: int | None = None, max_pixels: int | None = None
                     ) -> tuple[dict[Any, float], PairTable, dict[int, np.ndarray]]:
    """Block importances of a TopTemp model, the :func:`pair_table` of one scan array (its ``n``
    best pairs; None: all) and the scan's levels (for :func:`pair_records`).

    The pairs come from the scan as the model's own ``standardize`` and ``pyramid`` steps see it,
    with its minimum persistence; coordinates are in the array's pixels; pairs cut by the scan's
    edge are left out.  Block keys are :class:`~shapekit.topology.Block` ``(scale, filtration,
    dim)`` tuples.  A scan over the budget (:func:`check_pair_budget`) is refused.
    """
    if model.kind != "toptemp" or model.importance is None:
        raise InputError("explain needs a TopTemp model with feature importances (not --model cnn)")
    check_pair_budget(np.shape(image), max_pixels=max_pixels)
    blocks = block_importance(model.importance, model.column_blocks())
    steps = model.features.named_steps
    levels = steps["pyramid"].transform(steps["standardize"].transform([image]))[0]
    table = pair_table(levels, blocks, float(steps["diagrams"].min_persistence), np.shape(image), n)
    return blocks, table, levels


def model_pairs(model: Any, image: np.ndarray, um_per_px: float | None = None, n: int | None = None
                ) -> tuple[dict[Any, float], list[dict[str, Any]]]:
    """Block importances of a TopTemp model and the ``n`` best scored pairs (None: all) of one
    scan array as :func:`pair_records`, best first (see :func:`model_pair_table`)."""
    blocks, table, levels = model_pair_table(model, image, n)
    return blocks, pair_records(table.rows, levels, um_per_px)


def explain_scan(model: Any, image: str | os.PathLike[str] | np.ndarray, top: int = 300,
                 pairs: bool = True, um_per_px: float | None = None) -> Explanation:
    """The persistence pairs behind a TopTemp model's verdict on one scan.

    Parameters
    ----------
    model : TemperModel
        A TopTemp model (CNN models are refused unless ``pairs=False``).
    image : path or 2-D array
    top : int
        Number of highest-scoring pairs drawn by :func:`plot_explanation`.
    pairs : bool
        Compute the pairs (False: only the verdict and its tile map, for :func:`plot_tile_map`).
    um_per_px : float, optional
        Pixel size of the scan (beats the file's own).

    Returns
    -------
    Explanation
    """
    if pairs and (model.kind != "toptemp" or model.importance is None):
        raise InputError("explain needs a TopTemp model with feature importances (not --model cnn); "
                         "--map works with any model")
    if top < 1:
        raise InputError(f"--top must be positive, got {top}")
    name, img, info = model.read(image, um_per_px)
    if pairs:  # refused before the verdict is computed, with the way that needs no pairs
        check_pair_budget(np.shape(img), name)
    verdict = {"image": name, **model.assess(img, name, info)}
    um = info.get("um_per_px")
    if not pairs:
        return Explanation(verdict, {}, [], img, int(top), um)
    blocks, table, levels = model_pair_table(model, img, int(top))
    return Explanation(verdict, blocks, pair_records(table.rows, levels, um), img, int(top), um,
                       n_pairs=table.n_pairs, diagram=table.diagram)
