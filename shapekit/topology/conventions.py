"""Direct (diagram-free) topology of thresholded images: checks of the PH conventions.

These functions compute, from the binary image ``{f <= t}`` (sublevel) or ``{f >= t}``
(superlevel) alone, what the persistence diagrams of
:func:`~shapekit.topology.cubical_persistence` must reproduce at level ``t``:

* the number of connected components, with 8-connectivity for the T-construction and
  4-connectivity for the V-construction (:func:`count_components`);
* the Euler characteristic ``chi = #vertices - #edges + #squares`` of the cubical complex,
  counting cells explicitly (:func:`euler_characteristic`).  For T, a square is a pixel in the
  set and its edges/vertices are all faces of such squares; for V, a vertex is a pixel in the set,
  an edge joins two 4-adjacent set pixels and a square has its four corner pixels in the set.

From the diagrams, ``chi(t) = beta_0(t) - beta_1(t)`` with the Betti numbers of
:func:`~shapekit.topology.vectorize.betti_curve` (:func:`euler_curve_from_diagrams`).

References
----------
.. [1] T. Y. Kong, A. Rosenfeld, "Digital topology: introduction and survey", Computer Vision,
   Graphics, and Image Processing 48(3), 1989 (4/8-connectivity duality).
.. [2] H. Wagner, C. Chen, E. Vucini, "Efficient computation of persistent homology for cubical
   data", Topological Methods in Data Analysis and Visualization II, 2012.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from shapekit.topology.persistence import check_options, validate_image
from shapekit.topology.vectorize import betti_curve

__all__ = ["level_set", "count_components", "euler_characteristic", "euler_curve",
           "euler_curve_from_diagrams"]


def level_set(image: np.ndarray, t: float, filtration: str = "sublevel") -> np.ndarray:
    """Boolean mask ``image <= t`` (sublevel) or ``image >= t`` (superlevel).

    Examples
    --------
    >>> level_set(np.array([[0., 2.]]), 1.0).tolist()
    [[True, False]]
    """
    check_options(filtration)
    img = validate_image(image)
    return img <= t if filtration == "sublevel" else img >= t


def count_components(image: np.ndarray, t: float, construction: str = "T",
                     filtration: str = "sublevel") -> int:
    """Connected components of the level set: 8-connected for T, 4-connected for V.

    Examples
    --------
    >>> img = np.array([[0., 1.], [1., 0.]])      # two dark pixels touching at a corner
    >>> count_components(img, 0.5, "T"), count_components(img, 0.5, "V")
    (1, 2)
    """
    check_options(filtration, construction)
    mask = level_set(image, t, filtration)
    structure = np.ones((3, 3), bool) if construction == "T" else ndimage.generate_binary_structure(2, 1)
    return int(ndimage.label(mask, structure=structure)[1])


def euler_characteristic(image: np.ndarray, t: float, construction: str = "T",
                         filtration: str = "sublevel") -> int:
    """Euler characteristic of the level-``t`` cubical complex, by counting its cells.

    Examples
    --------
    >>> ring = np.ones((5, 5)); ring[1:4, 1:4] = 0; ring[2, 2] = 1
    >>> euler_characteristic(ring, 0.5)        # a dark annulus: one component, one hole
    0
    >>> euler_characteristic(ring, 0.5, filtration="superlevel")  # bright frame + bright dot
    1
    """
    check_options(filtration, construction)
    m = level_set(image, t, filtration)
    if construction == "V":
        v = int(m.sum())
        e = int((m[:, :-1] & m[:, 1:]).sum() + (m[:-1, :] & m[1:, :]).sum())
        f = int((m[:-1, :-1] & m[:-1, 1:] & m[1:, :-1] & m[1:, 1:]).sum())
        return v - e + f
    p = np.pad(m, 1)
    v = int((p[:-1, :-1] | p[:-1, 1:] | p[1:, :-1] | p[1:, 1:]).sum())
    e_h = int((p[:-1, 1:-1] | p[1:, 1:-1]).sum())   # horizontal edges: squares above/below
    e_v = int((p[1:-1, :-1] | p[1:-1, 1:]).sum())   # vertical edges: squares left/right
    return v - e_h - e_v + int(m.sum())


def euler_curve(image: np.ndarray, grid: object, construction: str = "T",
                filtration: str = "sublevel") -> np.ndarray:
    """:func:`euler_characteristic` at every level of ``grid``.

    Examples
    --------
    >>> euler_curve(np.array([[0., 1.], [1., 0.]]), [-1, 0, 1], "V")
    array([0, 2, 1])
    """
    return np.array([euler_characteristic(image, float(t), construction, filtration)
                     for t in np.asarray(grid, dtype=np.float64).ravel()])


def euler_curve_from_diagrams(diagrams: Mapping[int, np.ndarray], grid: object,
                              filtration: str = "sublevel") -> np.ndarray:
    """``sum_k (-1)^k beta_k(t)`` from persistence diagrams (all bars, essential included).

    Examples
    --------
    >>> from shapekit.topology import cubical_persistence
    >>> img = np.array([[0., 1.], [1., 0.]])
    >>> d = cubical_persistence(img, construction="V")
    >>> euler_curve_from_diagrams(d, [-1, 0, 1])
    array([0, 2, 1])
    """
    check_options(filtration)
    g = np.asarray(grid, dtype=np.float64).ravel()
    chi = np.zeros(len(g))
    for k, dgm in diagrams.items():
        chi += (-1) ** int(k) * betti_curve(dgm, g, filtration=filtration)
    return chi.astype(np.int64)
