"""Classic materials statistics of a binarised phase: phase fraction, two-point correlation, chords.

A micrograph is binarised (Otsu's threshold unless one is given; the *bright* phase, e.g. cementite
in UHCS or gamma-prime in the superalloy images, is the phase of interest), then

* the **phase fraction** is the mean of the mask;
* the **two-point correlation** ``S2(r)`` is the probability that two points a distance ``r`` apart
  both lie in the phase, computed with zero-padded FFTs (non-periodic: each lag is normalised by
  the number of pixel pairs it has inside the image) and averaged over directions;
* the **chord-length distribution** is the histogram of the lengths of runs of phase pixels along
  rows and columns (chords touching the image border are dropped: their length is unknown).

All of it is plain numpy/scipy; no PoreSpy.

References
----------
.. [1] Torquato, S. *Random Heterogeneous Materials: Microstructure and Macroscopic Properties*,
   Springer (2002), ch. 2 (two-point probability function, lineal path, chord-length density).
.. [2] Otsu, N. "A threshold selection method from gray-level histograms", IEEE Trans. SMC 9 (1979).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sfft

__all__ = ["binarize", "otsu_threshold", "phase_fraction", "two_point_correlation", "chord_lengths", "compare_materials",
           "chord_length_histogram", "materials_statistics"]


def binarize(image: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Boolean mask of the bright phase: ``image > threshold`` (Otsu's threshold by default).

    A constant image has no second phase: its mask is all ``False`` (documented, not an error).

    Parameters
    ----------
    image : ndarray (h, w)
        Grey image in [0, 1].
    threshold : float, optional
        Fixed threshold; Otsu's when None.

    Returns
    -------
    ndarray of bool (h, w)

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 4), np.float32); img[:, 2:] = 1.0
    >>> int(binarize(img).sum())
    8
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {img.shape}")
    if threshold is None:
        lo, hi = float(img.min()), float(img.max())
        if hi - lo <= 1e-12:
            return np.zeros(img.shape, dtype=bool)
        threshold = otsu_threshold(img, lo, hi)
    return img > threshold


def otsu_threshold(image: np.ndarray, lo: float | None = None, hi: float | None = None,
                   nbins: int = 256) -> float:
    """Otsu's threshold from a ``nbins`` histogram between the image's min and max (bincount based).

    Same rule as ``skimage.filters.threshold_otsu`` (the bin centre maximising the between-class
    variance), a few times faster on large images.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.r_[np.full(50, 0.2), np.full(50, 0.8)].reshape(10, 10)
    >>> 0.2 <= otsu_threshold(img) < 0.8
    True
    """
    img = np.asarray(image, dtype=np.float32)
    lo = float(img.min()) if lo is None else lo
    hi = float(img.max()) if hi is None else hi
    if hi - lo <= 1e-12:
        return lo
    idx = np.minimum(((img - lo) * (nbins / (hi - lo))).astype(np.int64), nbins - 1)
    hist = np.bincount(idx.ravel(), minlength=nbins).astype(np.float64)
    centres = lo + (np.arange(nbins) + 0.5) * (hi - lo) / nbins
    w1 = np.cumsum(hist)
    w2 = np.cumsum(hist[::-1])[::-1]
    m1 = np.cumsum(hist * centres) / np.maximum(w1, 1e-300)
    m2 = (np.cumsum((hist * centres)[::-1]) / np.maximum(w2[::-1], 1e-300))[::-1]
    var = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
    return float(centres[int(np.argmax(var))])


def phase_fraction(mask: np.ndarray) -> float:
    """Fraction of pixels in the phase.

    Examples
    --------
    >>> import numpy as np
    >>> phase_fraction(np.array([[True, False], [False, False]]))
    0.25
    """
    return float(np.asarray(mask, dtype=bool).mean())


@lru_cache(maxsize=8)
def _pair_counts(shape: tuple[int, int], fshape: tuple[int, int]) -> np.ndarray:
    ones = np.zeros(fshape, np.float64)
    ones[: shape[0], : shape[1]] = 1.0
    f = sfft.rfft2(ones)
    counts = sfft.irfft2(f * np.conj(f), s=fshape)
    return np.maximum(np.rint(counts), 1.0)


@lru_cache(maxsize=8)
def _radial_bins(fshape: tuple[int, int], r_max: int) -> tuple[np.ndarray, np.ndarray]:
    dy = np.fft.fftfreq(fshape[0]) * fshape[0]
    dx = np.fft.fftfreq(fshape[1]) * fshape[1]
    r = np.rint(np.hypot(dy[:, None], dx[None, :])).astype(np.int64)
    keep = r <= r_max
    return r[keep], keep


def two_point_correlation(mask: np.ndarray, r_max: int | None = None) -> np.ndarray:
    """Direction-averaged two-point probability ``S2(r)``, ``r = 0 .. r_max`` pixels.

    ``S2(0)`` is the phase fraction; for a random medium ``S2(r) -> phi**2`` at large ``r``.
    Zero-padded FFT autocorrelation, each lag divided by its number of in-image pixel pairs.

    Parameters
    ----------
    mask : ndarray of bool (h, w)
    r_max : int, optional
        Largest lag; ``min(h, w) // 4`` by default.

    Returns
    -------
    ndarray (r_max + 1,)

    References
    ----------
    Torquato (2002), *Random Heterogeneous Materials*, sec. 2.2.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.random.default_rng(0).random((128, 128)) < 0.3    # uncorrelated, phi = 0.3
    >>> s2 = two_point_correlation(m, r_max=8)
    >>> bool(abs(s2[0] - m.mean()) < 1e-9), round(float(s2[8]), 2)    # phi, then phi**2
    (True, 0.09)
    """
    m = np.asarray(mask, dtype=np.float64)
    h, w = m.shape
    if r_max is None:
        r_max = max(1, min(h, w) // 4)
    r_max = int(min(r_max, min(h, w) - 1))
    fshape = (sfft.next_fast_len(h + r_max, real=True), sfft.next_fast_len(w + r_max, real=True))
    f = sfft.rfft2(m, s=fshape)
    auto = sfft.irfft2(f * np.conj(f), s=fshape) / _pair_counts((h, w), fshape)
    rbin, keep = _radial_bins(fshape, r_max)
    # only lags that fit inside the image with enough pairs: |dy| < h and |dx| < w by construction
    sums = np.bincount(rbin, weights=auto[keep], minlength=r_max + 1)
    n = np.bincount(rbin, minlength=r_max + 1)
    return (sums / np.maximum(n, 1))[: r_max + 1]


def chord_lengths(mask: np.ndarray, *, drop_border: bool = True) -> np.ndarray:
    """Lengths (pixels) of all runs of phase pixels along rows and along columns.

    Parameters
    ----------
    mask : ndarray of bool (h, w)
    drop_border : bool
        Drop chords that touch the image border (their true length is unknown).

    Returns
    -------
    ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((3, 8), bool); m[1, 2:5] = True
    >>> sorted(chord_lengths(m).tolist())
    [1, 1, 1, 3]
    """
    m = np.asarray(mask, dtype=bool)
    out = []
    for a in (m, m.T):
        padded = np.zeros((a.shape[0], a.shape[1] + 2), dtype=np.int8)
        padded[:, 1:-1] = a
        d = np.diff(padded, axis=1)
        rs, cs = np.nonzero(d == 1)
        re, ce = np.nonzero(d == -1)
        # starts and ends come in the same row-major order, so they pair up
        lengths = ce - cs
        if drop_border:
            ok = (cs > 0) & (ce < a.shape[1])
            lengths = lengths[ok]
        out.append(lengths)
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def _hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` (last bin closed) via searchsorted + bincount."""
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    ok = (idx >= 0) & (idx < len(edges) - 1)
    return np.bincount(idx[ok], minlength=len(edges) - 1).astype(np.float64)


def chord_length_histogram(mask: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Normalised histogram (a probability vector over ``bins``) of :func:`chord_lengths`.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((3, 8), bool); m[1, 2:5] = True
    >>> chord_length_histogram(m, np.array([0, 2, 10])).tolist()
    [0.75, 0.25]
    """
    lengths = chord_lengths(mask)
    hist = _hist(lengths, np.asarray(bins))
    total = hist.sum()
    return hist / total if total > 0 else hist


def materials_statistics(images: list[np.ndarray], *, threshold: float | None = None,
                         r_max: int = 64, chord_bins: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-image phase fraction, two-point curve and chord-length histogram of a set of images.

    Parameters
    ----------
    images : list of ndarray (h, w)
        Images at a common physical scale.
    threshold : float, optional
        Fixed binarisation threshold (Otsu per image by default).
    r_max : int
        Largest lag of the two-point curves (clipped to the smallest image side - 1).
    chord_bins : ndarray, optional
        Chord-length bin edges in pixels (log-spaced 1 .. 256 by default).

    Returns
    -------
    dict
        ``phase_fraction`` (n,), ``two_point`` (n, r_max + 1), ``chord_hist`` (n, n_bins),
        ``chord_mean`` (n,) mean chord length (0 without chords), ``chord_bins`` (edges).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> st = materials_statistics([rng.random((32, 32)) for _ in range(2)], r_max=8)
    >>> st["two_point"].shape
    (2, 9)
    """
    if chord_bins is None:
        chord_bins = np.unique(np.round(np.geomspace(1, 257, 17)).astype(int))
    r_max = int(min([r_max] + [min(np.shape(im)) - 1 for im in images]))
    pf, s2, ch, cm = [], [], [], []
    for im in images:
        m = binarize(im, threshold)
        pf.append(phase_fraction(m))
        s2.append(two_point_correlation(m, r_max))
        lengths = chord_lengths(m)
        hist = _hist(lengths, chord_bins)
        ch.append(hist / hist.sum() if hist.sum() > 0 else hist)
        cm.append(float(lengths.mean()) if lengths.size else 0.0)
    return {"phase_fraction": np.asarray(pf), "two_point": np.asarray(s2).reshape(len(images), -1),
            "chord_hist": np.asarray(ch).reshape(len(images), -1), "chord_mean": np.asarray(cm),
            "chord_bins": np.asarray(chord_bins)}


def compare_materials(real: dict[str, np.ndarray], fake: dict[str, np.ndarray]) -> dict:
    """Set-level comparison of two :func:`materials_statistics` results.

    Returns
    -------
    dict
        ``two_point``: ``distance`` (mean absolute difference of the mean ``S2`` curves, a
        probability) with the curves; ``phase_fraction`` and ``chord_mean_px``: means and the
        Wasserstein-1 distance between the per-image values; ``chord_hist_l1``: L1 distance between
        the mean chord-length histograms.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = materials_statistics([rng.random((32, 32)) for _ in range(3)], r_max=8)
    >>> compare_materials(a, a)["two_point"]["distance"]
    0.0
    """
    from scipy.stats import wasserstein_distance

    r_max = min(real["two_point"].shape[1], fake["two_point"].shape[1])
    s2r = real["two_point"][:, :r_max].mean(axis=0)
    s2f = fake["two_point"][:, :r_max].mean(axis=0)
    out = {"two_point": {"distance": float(np.mean(np.abs(s2r - s2f))), "r_px": list(range(r_max)),
                         "real_mean": s2r.tolist(), "fake_mean": s2f.tolist()}}
    for key, name in (("phase_fraction", "phase_fraction"), ("chord_mean", "chord_mean_px")):
        out[name] = {"real_mean": float(real[key].mean()), "fake_mean": float(fake[key].mean()),
                     "w1": float(wasserstein_distance(real[key], fake[key]))}
    out["chord_hist_l1"] = float(np.abs(real["chord_hist"].mean(0) - fake["chord_hist"].mean(0)).sum())
    return out
