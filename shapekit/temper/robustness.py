"""Image perturbations of the robustness study: noise, blur, contrast, brightness, rotation, JPEG.

Train on clean images, classify perturbed copies, report accuracy per perturbation. The list
(:data:`PERTURBATIONS`) is the one of the TopTemp issue: Gaussian noise sigma 0.02/0.05/0.1, Gaussian
blur sigma 1/2, contrast x0.8/x1.2 (about the mean), brightness +-0.1, rotation by 90 degrees and
JPEG quality 30. Every perturbation maps a float image in ``[0, 1]`` to one in ``[0, 1]`` and is
deterministic per seed.

References
----------
.. [1] D. Hendrycks, T. Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions
   and Perturbations", ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shapekit.errors import InputError

PERTURBATIONS: dict[str, tuple[str, float]] = {
    "noise_0.02": ("noise", 0.02),
    "noise_0.05": ("noise", 0.05),
    "noise_0.1": ("noise", 0.1),
    "blur_1": ("blur", 1.0),
    "blur_2": ("blur", 2.0),
    "contrast_x0.8": ("contrast", 0.8),
    "contrast_x1.2": ("contrast", 1.2),
    "brightness_+0.1": ("brightness", 0.1),
    "brightness_-0.1": ("brightness", -0.1),
    "rot90": ("rot90", 1.0),
    "jpeg_q30": ("jpeg", 30.0),
}


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise InputError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def apply_perturbation(image: np.ndarray, kind: str, value: float, seed: int = 0) -> np.ndarray:
    """Apply one perturbation ``kind`` of strength ``value`` to a ``[0, 1]`` image.

    Parameters
    ----------
    image : ndarray (h, w)
    kind : {"noise", "blur", "contrast", "brightness", "rot90", "jpeg"}
        noise: add N(0, value^2) per pixel; blur: Gaussian of sigma ``value`` px; contrast:
        ``mean + value * (x - mean)``; brightness: ``x + value``; rot90: ``value`` quarter turns;
        jpeg: encode/decode at quality ``value``. Results are clipped to ``[0, 1]``.
    value : float
    seed : int
        Seeds the noise.

    Examples
    --------
    >>> img = np.full((4, 4), 0.5, np.float32)
    >>> round(float(apply_perturbation(img, "brightness", 0.1).mean()), 4)
    0.6
    >>> apply_perturbation(np.zeros((2, 3)), "rot90", 1).shape
    (3, 2)
    """
    from scipy.ndimage import gaussian_filter

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"perturbations expect a 2-D grey image, got shape {img.shape}")
    if kind == "noise":
        out = img + np.random.default_rng(seed).normal(0, value, img.shape).astype(np.float32)
    elif kind == "blur":
        out = gaussian_filter(img, value, mode="reflect")
    elif kind == "contrast":
        m = float(img.mean())
        out = m + value * (img - m)
    elif kind == "brightness":
        out = img + value
    elif kind == "rot90":
        out = np.rot90(img, int(value))
    elif kind == "jpeg":
        out = _jpeg(img, int(value))
    else:
        raise InputError(f"unknown perturbation kind {kind!r}")
    return np.ascontiguousarray(np.clip(out, 0, 1), dtype=np.float32)


def perturb(image: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """Apply the named perturbation of :data:`PERTURBATIONS` (e.g. ``"blur_2"``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = perturb(rng.random((8, 8)).astype(np.float32), "noise_0.1", seed=1)
    >>> a.dtype, bool((a >= 0).all() and (a <= 1).all())
    (dtype('float32'), True)
    """
    if name not in PERTURBATIONS:
        raise InputError(f"unknown perturbation {name!r}; known: {', '.join(PERTURBATIONS)}")
    kind, value = PERTURBATIONS[name]
    return apply_perturbation(image, kind, value, seed)


def robustness_table(predict: Callable[[list[np.ndarray]], np.ndarray], images: Sequence[np.ndarray],
                     y: np.ndarray, names: Sequence[str] | None = None,
                     seed: int = 0) -> dict[str, Any]:
    """Accuracy of ``predict`` on clean and perturbed copies of ``images``.

    Parameters
    ----------
    predict : callable
        List of images -> predicted class indices.
    images : sequence of ndarray
    y : ndarray of int
        True class indices.
    names : sequence of str, optional
        Perturbations (default: all of :data:`PERTURBATIONS`).
    seed : int
        Image ``i`` is perturbed with seed ``seed + i``.

    Returns
    -------
    dict
        ``{"n", "clean", "accuracy": {name: acc}, "drop": {name: clean - acc}, "max_drop"}``.

    Examples
    --------
    >>> imgs = [np.full((8, 8), v, np.float32) for v in (0.2, 0.8)]
    >>> r = robustness_table(lambda ims: np.array([int(im.mean() > 0.5) for im in ims]), imgs,
    ...                      np.array([0, 1]), ["rot90", "brightness_+0.1"])
    >>> r["accuracy"]
    {'rot90': 1.0, 'brightness_+0.1': 1.0}
    """
    from shapekit._progress import progress

    y = np.asarray(y)
    names = list(PERTURBATIONS) if names is None else list(names)
    clean = float((np.asarray(predict(list(images))) == y).mean())
    acc = {}
    for name in progress(names, desc="perturbations"):
        pimgs = [perturb(im, name, seed + i) for i, im in enumerate(images)]
        acc[name] = float((np.asarray(predict(pimgs)) == y).mean())
    drop = {k: round(clean - v, 4) for k, v in acc.items()}  # from the exact accuracies
    acc = {k: round(v, 4) for k, v in acc.items()}
    return {"n": int(len(y)), "clean": round(clean, 4), "accuracy": acc, "drop": drop,
            "max_drop": max(drop.values()) if drop else 0.0}


def random_degradation(image: np.ndarray, rng: np.random.Generator, max_noise: float = 0.1,
                       max_blur: float = 2.0, jpeg_prob: float = 0.3) -> np.ndarray:
    """A randomly degraded copy for training augmentation: blur, noise and maybe JPEG.

    Blur sigma ~ U(0, ``max_blur``), noise sigma ~ U(0, ``max_noise``), then with probability
    ``jpeg_prob`` JPEG at a quality ~ U(30, 90).

    Examples
    --------
    >>> out = random_degradation(np.full((16, 16), 0.5, np.float32), np.random.default_rng(0))
    >>> out.shape, out.dtype
    ((16, 16), dtype('float32'))
    """
    out = np.asarray(image, dtype=np.float32)
    blur = float(rng.uniform(0, max_blur))
    if blur > 0.3:
        out = apply_perturbation(out, "blur", blur)
    out = apply_perturbation(out, "noise", float(rng.uniform(0, max_noise)), int(rng.integers(2**31)))
    if rng.random() < jpeg_prob:
        out = apply_perturbation(out, "jpeg", float(rng.integers(30, 91)))
    return out


def augmented_copies(images: Sequence[np.ndarray], n_copies: int, seed: int = 0,
                     **kwargs: Any) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``n_copies`` degraded copies of every image: ``(copies, scan index, copy index)``.

    Examples
    --------
    >>> c, s, k = augmented_copies([np.zeros((8, 8), np.float32)] * 2, 2)
    >>> len(c), s.tolist(), k.tolist()
    (4, [0, 1, 0, 1], [0, 0, 1, 1])
    """
    rng = np.random.default_rng(seed)
    out, scan, copy = [], [], []
    for c in range(int(n_copies)):
        for i, im in enumerate(images):
            out.append(random_degradation(im, rng, **kwargs))
            scan.append(i)
            copy.append(c)
    return out, np.asarray(scan, np.int64), np.asarray(copy, np.int64)
