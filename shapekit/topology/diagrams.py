"""The one diagram type of shapekit: persistence diagrams keyed by (scale, filtration, dimension).

A :class:`Diagrams` object holds every persistence diagram computed from one image: for each
:class:`Block` ``(scale, filtration, dim)`` an ``(n, 2)`` float64 array of ``(birth, death)``
rows in the conventions of :mod:`shapekit.topology.persistence` (sublevel: ``birth <= death``,
essential death ``+inf``; superlevel in original units: ``birth >= death``, essential death
``-inf``).  It is an immutable :class:`~collections.abc.Mapping`: topology computes it, and the
vectorisers, the temper classifier, its explanations and the realism evaluator all read it.

Names follow one scheme, :attr:`Block.name` (``s2_superlevel_h1``), and a feature of a block is
``<block name>_<feature>`` (``s2_superlevel_h1_total_persistence``).  The defaults every module
uses are here: :data:`FILTRATIONS` and :data:`DIMS`.

Examples
--------
>>> d = Diagrams({(1, "sublevel", 0): [[0.0, 1.0], [0.2, np.inf]]})
>>> d[1, "sublevel", 0].shape, next(iter(d)).name
((2, 2), 's1_sublevel_h0')
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from shapekit.errors import InputError

__all__ = ["FILTRATIONS", "DIMS", "Block", "Diagrams", "blocks"]

#: both filtrations, in the order every block list uses
FILTRATIONS = ("sublevel", "superlevel")
#: the homology dimensions of a 2-D image
DIMS = (0, 1)


class Block(NamedTuple):
    """One diagram of an image: the image downsampled by ``scale``, a filtration, a dimension.

    Examples
    --------
    >>> b = Block(2, "superlevel", 1)
    >>> b.name, b.feature("n_pairs")
    ('s2_superlevel_h1', 's2_superlevel_h1_n_pairs')
    """

    scale: int
    filtration: str
    dim: int

    @property
    def name(self) -> str:
        """``s<scale>_<filtration>_h<dim>``."""
        return f"s{self.scale}_{self.filtration}_h{self.dim}"

    def feature(self, what: str) -> str:
        """Name of the feature ``what`` of this block."""
        return f"{self.name}_{what}"

    @classmethod
    def of(cls, key: Any) -> Block:
        """A :class:`Block` from a ``(scale, filtration, dim)`` triple, checked.

        Examples
        --------
        >>> Block.of((1, "sublevel", 0))
        Block(scale=1, filtration='sublevel', dim=0)
        >>> Block.of((1, "sub", 0))
        Traceback (most recent call last):
        ...
        shapekit.errors.InputError: diagram key (1, 'sub', 0): filtration must be one of ('sublevel', 'superlevel')
        """
        if isinstance(key, Block):
            return key
        try:
            s, f, k = key
            out = cls(int(s), str(f), int(k))
        except (TypeError, ValueError):
            raise InputError(f"diagram key {key!r} is not a (scale, filtration, dim) triple") from None
        if f not in FILTRATIONS:
            raise InputError(f"diagram key {key!r}: filtration must be one of {FILTRATIONS}")
        if out.scale < 1 or out.dim < 0 or out.scale != s or out.dim != k:
            raise InputError(f"diagram key {key!r}: scale must be an int >= 1 and dim an int >= 0")
        return out


def blocks(scales: Iterable[int] = (1,), filtrations: Iterable[str] = FILTRATIONS,
           dims: Iterable[int] = DIMS) -> tuple[Block, ...]:
    """All blocks in the canonical order: scale, then filtration, then dimension.

    Examples
    --------
    >>> [b.name for b in blocks((1, 2), ("superlevel",), (0,))]
    ['s1_superlevel_h0', 's2_superlevel_h0']
    """
    return tuple(Block.of((s, f, k)) for s in scales for f in filtrations for k in dims)


def _frozen(arr: Any, key: Block) -> np.ndarray:
    d = np.asarray(arr, dtype=np.float64)
    if d.size == 0:
        d = np.empty((0, 2))
    if d.ndim != 2 or d.shape[1] != 2:
        raise InputError(f"diagram {key.name}: expected shape (n, 2), got {d.shape}")
    if d.flags.writeable:
        d = d.view()          # freeze a view: the caller's array stays writable
        d.flags.writeable = False
    return d


class Diagrams(Mapping):
    """Immutable mapping :class:`Block` -> ``(n, 2)`` float64 array of ``(birth, death)`` rows.

    Parameters
    ----------
    diagrams : mapping or iterable of (key, array)
        Keys are :class:`Block` or ``(scale, filtration, dim)`` triples; arrays are ``(n, 2)``.
        Order is kept (the producers of shapekit use the order of :func:`blocks`).
    area : int, optional
        Number of pixels of the image the diagrams were computed from (per-area densities).

    Examples
    --------
    >>> d = Diagrams({(1, "superlevel", 0): np.array([[0.9, 0.2], [1.0, -np.inf]])}, area=64)
    >>> d[Block(1, "superlevel", 0)][:, 0].tolist(), d.area, len(d)
    ([0.9, 1.0], 64, 1)
    >>> d[1, "superlevel", 0][0, 0] = 5.0
    Traceback (most recent call last):
    ...
    ValueError: assignment destination is read-only
    """

    __slots__ = ("_d", "area")

    def __init__(self, diagrams: Mapping[Any, Any] | Iterable[tuple[Any, Any]],
                 area: int | None = None) -> None:
        items = diagrams.items() if isinstance(diagrams, Mapping) else diagrams
        out: dict[Block, np.ndarray] = {}
        for key, arr in items:
            b = Block.of(key)
            out[b] = _frozen(arr, b)
        self._d = out
        self.area = None if area is None else int(area)

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            return self._d[key if isinstance(key, Block) else Block.of(key)]
        except KeyError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[Block]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagrams):
            return NotImplemented
        return (self.area == other.area and list(self._d) == list(other._d)
                and all(np.array_equal(a, other._d[k]) for k, a in self._d.items()))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k.name}: {len(v)}" for k, v in self._d.items())
        return f"Diagrams({{{inner}}}, area={self.area})"

    def select(self, keys: Sequence[Any]) -> Diagrams:
        """The diagrams of ``keys`` only, in that order.

        Examples
        --------
        >>> d = Diagrams({(1, "sublevel", 0): [], (1, "sublevel", 1): []})
        >>> [b.dim for b in d.select([(1, "sublevel", 1)])]
        [1]
        """
        return Diagrams(((Block.of(k), self[k]) for k in keys), area=self.area)
