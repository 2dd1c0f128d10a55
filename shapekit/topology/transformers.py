"""scikit-learn steps from images to persistence diagrams (the first half of the pipeline).

Images -> images: :class:`Standardize` (per-image z-score), :class:`Pyramid` (multi-scale,
smoothed, optionally re-z-scored; :mod:`shapekit.topology.preprocessing`).
Images -> diagrams: :class:`CubicalDiagrams` (one :class:`~shapekit.topology.diagrams.Diagrams`
per image, every scale, filtration and dimension, through the one backend dispatch of
:mod:`shapekit.topology.persistence`, one batch per scale: on the CPU each image in every
filtration in turn, on the torch backend one stacked batch per filtration).
The second half, diagrams -> features, is :mod:`shapekit.topology.vectorizers`.  These steps
learn nothing: ``fit`` checks the parameters.

Examples
--------
>>> from sklearn.pipeline import make_pipeline
>>> from shapekit.topology.vectorizers import PersistenceStatistics, feature_blocks
>>> pipe = make_pipeline(Standardize(), Pyramid(scales=(1, 2)), CubicalDiagrams(),
...                      PersistenceStatistics(quantiles=(0.5,)))
>>> X = pipe.fit_transform(np.random.default_rng(0).random((3, 32, 32)))
>>> X.shape, pipe.get_feature_names_out()[0], feature_blocks(pipe)[-1].name
((3, 120), 's1_sublevel_h0_n_pairs', 's2_superlevel_h1')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from shapekit._params import check_bool, check_int, check_number, check_numbers
from shapekit.errors import InputError
from shapekit.topology.diagrams import DIMS, FILTRATIONS, Block, Diagrams
from shapekit.topology.persistence import (check_options, resolve_backend, sublevel_pairs,
                                           validate_image)
from shapekit.topology.preprocessing import pyramid, standardize

__all__ = ["Standardize", "Pyramid", "CubicalDiagrams"]


def _images(X: Any) -> list[np.ndarray]:
    if isinstance(X, np.ndarray) and X.ndim == 2:
        raise InputError(f"expected a list of 2-D images or an (n, h, w) array, got shape {X.shape}")
    try:
        imgs = list(X)
    except TypeError:
        raise InputError(f"expected a list of images, got {type(X).__name__}") from None
    if not imgs:
        raise InputError("no images")
    return imgs


class _Filtrations(Sequence):
    """Every image of a batch in each filtration, image by image: ``image`` for the sublevel
    filtration, ``-image`` (made when the persistence backend reaches it) for the superlevel one.

    Negated up front, a scale's superlevel batch would be a second copy of it (16 MB for 64
    tiles of 256^2) written and read back from memory; in this order each image is read from
    memory once and is still in the cache for its second filtration and its negation
    (``benchmarks/bench_featurize.py``).

    Examples
    --------
    >>> f = _Filtrations([np.ones((1, 2), np.float32)], ("sublevel", "superlevel"))
    >>> len(f), [a.tolist() for a in f], len(f[:1])
    (2, [[[1.0, 1.0]], [[-1.0, -1.0]]], 1)
    """

    def __init__(self, imgs: Sequence[np.ndarray], filtrations: Sequence[str]) -> None:
        self._imgs, self._filtrations = imgs, tuple(filtrations)

    def __len__(self) -> int:
        return len(self._imgs) * len(self._filtrations)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        img, f = divmod(i % len(self), len(self._filtrations))
        a = self._imgs[img]
        return np.negative(a) if self._filtrations[f] == "superlevel" else a


def _block(imgs: list[Any], shape_of: Any = None) -> np.ndarray | None:
    """One float32 array ``(n, *shape)`` for the outputs of a batch of same-shape images, or None.

    Writing a batch's outputs into one large array instead of one fresh array per image lets
    numpy back it with huge pages (it does for arrays of 4 MB and more): the pipeline then misses
    the TLB far less, and its speed no longer depends on where the allocator happens to place many
    256 KB arrays (``benchmarks/bench_featurize.py``: 0.75-0.76x or 0.80-0.81x of raw PH from one
    process to the next before, RESULTS.md section 1).
    """
    shapes = {np.shape(a) for a in imgs}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        return None
    shape = next(iter(shapes)) if shape_of is None else shape_of(next(iter(shapes)))
    return np.empty((len(imgs), *shape), np.float32)


class _Stateless(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """A step that learns nothing (``fit`` checks the parameters) and outputs images or diagrams,
    not feature columns (so no pandas output and no feature names of its own).

    Its subclasses are not wrapped by scikit-learn's ``set_output`` either (``auto_wrap_output_keys``
    is a per-class setting), and ``set_output`` is accepted and ignored, so that
    ``pipe.set_output(transform="pandas")`` gives the vectoriser's columns as a DataFrame.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(auto_wrap_output_keys=None, **kwargs)

    def set_output(self, *, transform: Any = None) -> _Stateless:
        """Accepted for ``Pipeline.set_output``; images and diagrams stay as they are."""
        return self

    def fit(self, X: Any, y: Any = None) -> _Stateless:
        self._check_params()
        self.fitted_ = True
        return self

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """Pass-through (images and diagrams have no columns), so ``Pipeline`` names work."""
        return input_features

    def _check_params(self) -> None:
        pass


class Standardize(_Stateless):
    """Per-image z-score (float32; a constant image becomes zeros): brightness and contrast out.

    Examples
    --------
    >>> z = Standardize().fit_transform([np.array([[0., 2.], [4., 6.]])])[0]
    >>> z.dtype, round(float(z.std()), 5)
    (dtype('float32'), 1.0)
    """

    def transform(self, X: Any) -> list[np.ndarray]:
        imgs = _images(X)
        block = _block(imgs)
        if block is None:
            return [standardize(x) for x in imgs]
        return [standardize(x, out=b) for x, b in zip(imgs, block)]


class Pyramid(_Stateless):
    """Each image at several scales: ``{scale: image}`` (see :func:`~shapekit.topology.preprocessing.pyramid`).

    Parameters
    ----------
    scales : sequence of int
        Area-averaging factors (1 = full resolution).
    smooth : float
        Gaussian sigma in pixels of each scaled image (0: none).
    restandardize : bool
        Z-score each scaled, smoothed image again.

    Examples
    --------
    >>> p = Pyramid(scales=(1, 2)).fit_transform([np.zeros((8, 6))])[0]
    >>> {s: a.shape for s, a in p.items()}
    {1: (8, 6), 2: (4, 3)}
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4), smooth: float = 0.0,
                 restandardize: bool = False) -> None:
        self.scales = scales
        self.smooth = smooth
        self.restandardize = restandardize

    def _check_params(self) -> None:
        check_numbers("scales", self.scales, 1, integer=True, empty=False)
        if len({int(s) for s in self.scales}) != len(self.scales):
            raise InputError(f"scales={self.scales!r} must be distinct positive integers")
        check_number("smooth", self.smooth, low=0)
        check_bool("restandardize", self.restandardize)

    def transform(self, X: Any) -> list[dict[int, np.ndarray]]:
        self._check_params()
        imgs, scales = _images(X), [int(s) for s in self.scales]
        blocks = {s: _block(imgs, lambda hw, s=s: (hw[0] // s, hw[1] // s)) for s in scales}
        if any(b is None for b in blocks.values()) or min(b.shape[1] for b in blocks.values()) < 2 \
                or min(b.shape[2] for b in blocks.values()) < 2:
            blocks = {}             # mixed shapes, or too small: rescale says why
        return [pyramid(np.asarray(x, dtype=np.float32), scales, float(self.smooth),
                        bool(self.restandardize), {s: b[i] for s, b in blocks.items()} or None)
                for i, x in enumerate(imgs)]


class CubicalDiagrams(_Stateless):
    """Images (or :class:`Pyramid` levels) -> one :class:`~shapekit.topology.diagrams.Diagrams` each.

    Parameters
    ----------
    filtrations : sequence of {"sublevel", "superlevel"}
    dims : sequence of {0, 1}
    min_persistence : float
        Keep finite pairs with persistence ``> min_persistence``.
    construction : {"T", "V"}
    backend : {"auto", "gudhi", "cripser", "torch"}
        See :func:`~shapekit.topology.persistence.cubical_persistence`; the images of one scale
        go to the backend as one batch, each in every filtration in turn (torch: one stacked
        ``(B, H, W)`` batch per filtration of same-shape tiles).  ``"auto"`` (default):
        ``"torch"`` on CUDA, else ``"gudhi"``
        (:func:`~shapekit.topology.persistence.resolve_backend`), decided at ``transform``;
        the diagrams are the same either way.
    n_jobs : int or None
        joblib threads over the images of a batch (GUDHI releases the GIL).
    device : str or None
        torch device of the torch backend (None: CUDA when available, else the CPU); with
        ``backend="auto"``, ``"cpu"`` selects GUDHI and ``"cuda"`` torch.

    Examples
    --------
    >>> d = CubicalDiagrams(filtrations=("superlevel",)).fit_transform([np.eye(4)])[0]
    >>> [b.name for b in d], d[1, "superlevel", 0].tolist()
    (['s1_superlevel_h0', 's1_superlevel_h1'], [[1.0, -inf]])
    >>> t = CubicalDiagrams(backend="torch", device="cpu").fit_transform([np.eye(4)])[0]
    >>> t[1, "superlevel", 0].tolist()                 # the same pairs on the torch backend
    [[1.0, -inf]]
    """

    def __init__(self, filtrations: Sequence[str] = FILTRATIONS, dims: Sequence[int] = DIMS,
                 min_persistence: float = 0.0, construction: str = "T", backend: str = "auto",
                 n_jobs: int | None = 1, device: str | None = None) -> None:
        self.filtrations = filtrations
        self.dims = dims
        self.min_persistence = min_persistence
        self.construction = construction
        self.backend = backend
        self.n_jobs = n_jobs
        self.device = device

    def _check_params(self) -> None:
        if isinstance(self.filtrations, str) or not len(self.filtrations):
            raise InputError(f"filtrations={self.filtrations!r} must be a non-empty sequence")
        for f in self.filtrations:
            check_options(f, self.construction, self.backend, "keep", self.min_persistence)
        check_number("min_persistence", self.min_persistence, low=0)
        check_numbers("dims", self.dims, integer=True, empty=False)
        if set(self.dims) - set(DIMS):
            raise InputError(f"dims={self.dims!r}: a 2-D image has homology in dims 0 and 1 only")
        check_int("n_jobs", self.n_jobs, none=True, not_zero=True)

    def transform(self, X: Any) -> list[Diagrams]:
        self._check_params()
        backend = resolve_backend(self.backend, self.device)
        levels = [x if isinstance(x, Mapping) else {1: x} for x in _images(X)]
        scales = list(levels[0])
        if any(list(lv) != scales for lv in levels):
            raise InputError("every image must come with the same scales")
        out: list[dict[Block, np.ndarray]] = [{} for _ in levels]
        for s in scales:
            imgs = [validate_image(lv[s], f"image {i} (scale {s})") for i, lv in enumerate(levels)]
            if backend == "torch" and len({(a.shape, a.dtype) for a in imgs}) == 1:
                stack = np.stack(imgs)          # same-shape tiles: one (B, H, W) tensor batch
                per_filtration = [self._pairs(np.negative(stack) if f == "superlevel" else stack,
                                              backend) for f in self.filtrations]
            else:                               # image by image, both filtrations while in cache
                flat = self._pairs(_Filtrations(imgs, self.filtrations), backend)
                m = len(self.filtrations)
                per_filtration = [flat[j::m] for j in range(m)]
            for f, pairs in zip(self.filtrations, per_filtration):
                sup = f == "superlevel"
                for o, p in zip(out, pairs):
                    for k in self.dims:
                        d = np.asarray(p[k], dtype=np.float64).reshape(-1, 2)
                        o[Block(int(s), f, int(k))] = -d if sup else d
        return [Diagrams(o, area=lv[1].size if 1 in lv else None) for o, lv in zip(out, levels)]

    def _pairs(self, batch: Any, backend: str) -> list[list[np.ndarray]]:
        return sublevel_pairs(batch, backend=backend, construction=self.construction,
                              min_persistence=self.min_persistence, n_jobs=self.n_jobs,
                              device=self.device)
