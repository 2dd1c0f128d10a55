"""On-disk cache of per-image topology, keyed by image content hash + featurizer parameters.

What is cached is the fit-independent, expensive stage of :class:`TopTempFeaturizer`: the
persistence diagrams of every (scale, filtration, dimension) block of one image, stored as an
uncompressed ``.npz`` (float32: the diagrams of a float32 image are float32 values, so this is
lossless).  Vectorisation (which depends on the grids fitted in ``fit``) is cheap and redone, so a
cached image is served whatever the fold of a cross-validation.  Files are written atomically
(temporary file + rename); a corrupt or unreadable entry is treated as a miss and rewritten.

Size: about 8 bytes per persistence pair, i.e. ~1 MB for a 645x475 SEM image at scales 1, 2, 4
and both filtrations without ``min_persistence`` (a few hundred kB with it).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from shapekit._atomic import atomic_path

__all__ = ["FeatureCache", "image_digest", "params_digest"]

CACHE_FORMAT = 1


def image_digest(image: np.ndarray) -> str:
    """Content hash of an image: BLAKE2b of its float32 pixels and shape (hex, 32 chars).

    Examples
    --------
    >>> a = np.zeros((2, 3), np.float32)
    >>> image_digest(a) == image_digest(a.astype(np.float64)), image_digest(a) == image_digest(a.T)
    (True, False)
    """
    arr = np.ascontiguousarray(image, dtype=np.float32)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(arr.shape).encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def params_digest(params: dict) -> str:
    """Hash of JSON-serialisable parameters (sorted keys; tuples and lists hash alike).

    Examples
    --------
    >>> params_digest({"a": (1, 2)}) == params_digest({"a": [1, 2]})
    True
    """
    text = json.dumps({"_format": CACHE_FORMAT, **params}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class FeatureCache:
    """A directory of ``<params>/<image hash>.npz`` entries.

    Parameters
    ----------
    directory : path-like
        Created on first write.

    Examples
    --------
    >>> import tempfile
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> key = cache.key(np.ones((4, 4)), {"scales": [1]})
    >>> cache.load(key) is None
    True
    >>> cache.save(key, {"d": np.arange(3.0)})
    >>> cache.load(key)["d"].tolist()
    [0.0, 1.0, 2.0]
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def key(self, image: np.ndarray, params: dict) -> str:
        """Relative key of ``image`` under ``params``."""
        return f"{params_digest(params)}/{image_digest(image)}"

    def path(self, key: str) -> Path:
        """File of ``key``."""
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None on a miss or an unreadable entry."""
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return {name: z[name] for name in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError):
            return None

    def save(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        """Store ``arrays`` under ``key`` atomically."""
        with atomic_path(self.path(key)) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.npz")) if self.directory.is_dir() else 0
