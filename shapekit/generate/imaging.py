"""The imaging stage of a generator: magnification, probe blur and shot noise, per class.

A generator learns the structure of its training micrographs better than how they were imaged:
scored against their references, the shipped generators' images read sharper or blurrier and
noisier or less noisy than the real ones, with the same noise level in every image where real
scans vary from scan to scan (RESULTS.md section 6). The stage models the microscope after the
network: the network's output is taken as the specimen signal ``u`` in [0, 1], blurred by a
Gaussian probe of ``blur_px`` pixels (one value per class), then counted with shot noise in
the Gaussian approximation of the Poisson law, ``y = u + sqrt(u) k e`` (``e`` standard normal,
as :class:`~shapekit.generate.detector.ShotNoise` and step 5 of :mod:`shapekit.synth.render`).
The amplitude ``k`` of each image is set so that its added noise at its median grey level is
``sqrt(t^2 - r^2)``: ``t`` a noise level drawn from the class's training images' own (stored as
quantiles: real scans differ in dose), ``r`` what the blurred network output already has.

Magnification (version 2, optional per class): a model trained on images without a common pixel
size (uhcs3 mixes magnifications from about 50x to 25000x) may draw a narrower spread of feature
sizes than its training images. For such a class the stage stores quantiles of a **zoom** factor
``z``: each image draws one (:meth:`ImagingStage.zooms`), the network draws a field ``1/z`` times
the requested size, and :func:`shapekit.io.resample` brings it to the requested size (area
averaging when shrinking, bicubic when enlarging), before the blur and the noise.

Orientation (version 3, optional per class): a generator trained on crops turned by 90 degrees
may draw a set whose shared direction of elongation lies across the real scans' (the scans keep
their raster's axes; RESULTS.md section 6). Such a class stores ``turn: 1``: each image is drawn
on a field of the transposed size and turned a quarter counter-clockwise (``np.rot90``), which
moves the set's axial direction by 90 degrees and changes nothing a persistence diagram sees.

The numbers are fitted on the training images (:func:`shapekit.cli.calibrate.fit_imaging_stage`,
``shapekit calibrate-imaging RUN``) and stored in ``generator.json`` under ``"imaging"``; an
export without the key has no stage. Sampling draws the noise from its own seeded stream, with
the same normal field for the same seed, image and size whatever the conditions, so a sweep
shows the conditions' effect and not the noise's.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch

from shapekit._torchops import gaussian_blur
from shapekit.errors import ModelFormatError

__all__ = ["ImagingStage", "STAGE_VERSION", "fit_turn"]

#: format version of the ``"imaging"`` block of ``generator.json`` written by this shapekit
STAGE_VERSION = 3
#: versions it reads (1: blur and noise; 2: plus the optional per-class ``zoom``; 3: plus the
#: optional per-class ``turn``)
READ_VERSIONS = (1, 2, 3)
#: the zoom factors a stage may hold (a field at most 4x the requested side, or 1/4 of it)
ZOOM_RANGE = (0.25, 4.0)


class ImagingStage:
    """Per-class probe blur and drawn shot-noise level applied to generated images.

    Parameters
    ----------
    labels : mapping
        Per class name: ``blur_px`` (Gaussian sigma, px, >= 0), ``noise`` (increasing quantiles
        of the training images' noise sd, grey levels in [0, 1], at evenly spaced levels from 0
        to 1) and ``residual_noise`` (the noise sd of the blurred network output); optionally
        ``zoom`` (increasing quantiles of the magnification factor at evenly spaced levels, in
        :data:`ZOOM_RANGE`; absent: every image at the network's own scale) and ``turn`` (0 or
        1 quarter turns of every image of the class; absent: 0).

    Examples
    --------
    >>> stage = ImagingStage({"a": {"blur_px": 1.0, "noise": [0.05, 0.05], "residual_noise": 0.0}})
    >>> x = torch.full((2, 64, 64), 0.5)
    >>> y = stage.apply(x, ["a", "b"], torch.Generator().manual_seed(0))  # "b" has no stage
    >>> [round(float(v), 3) for v in y.std(dim=(1, 2))]
    [0.05, 0.0]
    >>> stage.to_dict()["version"]  # 2 only for a stage that magnifies, 3 for one that turns
    1
    >>> ImagingStage({"a": {"blur_px": 0, "noise": [0, 0], "residual_noise": 0,
    ...                     "zoom": [2.0, 2.0]}}).zooms(["a", "b"], seed=0).tolist()
    [2.0, 1.0]
    """

    def __init__(self, labels: Mapping[str, Mapping[str, Any]]) -> None:
        self.labels: dict[str, dict[str, Any]] = {}
        for name, p in labels.items():
            try:
                blur, res = float(p["blur_px"]), float(p["residual_noise"])
                q = [float(v) for v in p["noise"]]
            except (KeyError, TypeError, ValueError) as e:
                raise ModelFormatError(f"imaging stage of class {name!r}: {e}") from None
            if not (0 <= blur <= 8 and res >= 0 and len(q) >= 2 and min(q) >= 0
                    and all(np.isfinite(q)) and list(q) == sorted(q)):
                raise ModelFormatError(f"imaging stage of class {name!r} is malformed: blur_px "
                                       f"{blur}, residual_noise {res}, noise quantiles {q}")
            self.labels[str(name)] = {"blur_px": blur, "noise": q, "residual_noise": res}
            if p.get("zoom") is not None:
                try:
                    z = [float(v) for v in p["zoom"]]
                except (TypeError, ValueError) as e:
                    raise ModelFormatError(f"imaging stage of class {name!r}: zoom: {e}") from None
                if not (len(z) >= 2 and all(np.isfinite(z)) and z == sorted(z)
                        and ZOOM_RANGE[0] <= z[0] and z[-1] <= ZOOM_RANGE[1]):
                    raise ModelFormatError(f"imaging stage of class {name!r}: zoom quantiles {z} "
                                           f"are not increasing within {ZOOM_RANGE}")
                self.labels[str(name)]["zoom"] = z
            if p.get("turn", 0) not in (0, 1) or isinstance(p.get("turn"), bool):
                raise ModelFormatError(f"imaging stage of class {name!r}: turn must be 0 or 1 "
                                       f"quarter turns, got {p.get('turn')!r}")
            if p.get("turn"):
                self.labels[str(name)]["turn"] = 1

    @classmethod
    def from_dict(cls, block: Mapping[str, Any]) -> "ImagingStage":
        """The stage of a ``generator.json`` ``"imaging"`` block (ModelFormatError if unknown)."""
        if not isinstance(block, Mapping) or block.get("version") not in READ_VERSIONS:
            got = block.get("version") if isinstance(block, Mapping) else block
            raise ModelFormatError(f"imaging stage version {got!r} is not supported (this "
                                   f"shapekit reads versions "
                                   f"{', '.join(map(str, READ_VERSIONS))})")
        labels = block.get("labels", {})
        for key, since in (("zoom", 2), ("turn", 3)):
            if block["version"] < since and any(key in p for p in labels.values()
                                                if isinstance(p, Mapping)):
                raise ModelFormatError(f"imaging stage version {block['version']} has no {key}")
        return cls(labels)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready block for ``generator.json`` (the lowest version that holds it: 1, 2 once a
        class has a ``zoom``, 3 once one turns, so that an older shapekit reads what it can)."""
        turns = any("turn" in p for p in self.labels.values())
        version = 3 if turns else 2 if self.magnifies else 1
        return {"version": version, "labels": self.labels}

    @property
    def magnifies(self) -> bool:
        """Whether any class draws a magnification."""
        return any("zoom" in p for p in self.labels.values())

    def turns(self, labels: list[str]) -> np.ndarray:
        """The quarter turns of each image (0 for classes without ``turn``)."""
        return np.array([self.labels.get(name, {}).get("turn", 0) for name in labels], dtype=int)

    def zooms(self, labels: list[str], seed: int) -> np.ndarray:
        """The magnification factor of each image (1 for classes without ``zoom``).

        Drawn from the stage's own stream for ``seed`` (one level per image, in image order),
        apart from the network's latents and the noise of :meth:`apply`.
        """
        u = np.random.default_rng(np.random.SeedSequence([int(seed), 2])).random(len(labels))
        out = np.ones(len(labels))
        for i, name in enumerate(labels):
            z = self.labels.get(name, {}).get("zoom")
            if z is not None:
                out[i] = float(np.interp(u[i], np.linspace(0.0, 1.0, len(z)), z))
        return out

    def apply(self, x: torch.Tensor, labels: list[str], generator: torch.Generator) -> torch.Tensor:
        """Blurred, noisy images ``(B, H, W)`` in [0, 1] from network outputs ``x`` in [0, 1].

        Each image draws a quantile level and a standard-normal field from ``generator`` (on
        the CPU), in image order; classes without stage numbers pass unchanged.
        """
        if x.ndim != 3 or len(labels) != x.shape[0]:
            raise ValueError(f"expected (B, H, W) images and B labels, got {tuple(x.shape)} "
                             f"and {len(labels)}")
        levels = torch.rand(x.shape[0], generator=generator, dtype=torch.float64).numpy()
        e = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        out = []
        for i, name in enumerate(labels):
            p = self.labels.get(name)
            if p is None:
                out.append(x[i])
                continue
            u = x[i] if p["blur_px"] <= 0 else gaussian_blur(
                x[i][None, None], p["blur_px"], radius=max(1, math.ceil(4 * p["blur_px"])))[0, 0]
            u = u.clamp(0, 1)
            grid = np.linspace(0.0, 1.0, len(p["noise"]))
            target = float(np.interp(levels[i], grid, p["noise"]))
            extra2 = target * target - p["residual_noise"] ** 2
            if extra2 > 0:
                level = max(float(u.median()), 1e-3)
                u = u + torch.sqrt(u * (extra2 / level)) * e[i]
            out.append(u.clamp(0, 1))
        return torch.stack(out)


def fit_turn(generated: list[np.ndarray], real: list[np.ndarray], *,
             alpha: float = 0.01) -> dict[str, Any]:
    """Whether a class's images should be turned a quarter to lean as its real images do.

    Both sets' shared directions of elongation are measured
    (:func:`shapekit.generate.checks.orientation_bias`); the turn is 1 only when both are
    significant (Rayleigh ``p < alpha``) and lie more than 45 degrees apart (axially), so that a
    quarter turn brings them closer. Otherwise 0: no direction to match, or already matched.

    Parameters
    ----------
    generated, real : list of 2-D arrays
        Images of one class (sizes may differ).
    alpha : float
        Significance level of each set's direction.

    Returns
    -------
    dict
        ``{"turn": 0 | 1, "fit": {...}}``; ``fit`` holds both directions, their R and p, and
        the axial angle between them before and after.

    Examples
    --------
    >>> y, x = np.mgrid[:64, :64]
    >>> rows = [np.sin(2 * np.pi * (y + k) / 9) for k in range(12)]      # horizontal stripes
    >>> cols = [np.sin(2 * np.pi * (x + k) / 9) for k in range(12)]      # vertical stripes
    >>> fit_turn(cols, rows)["turn"], fit_turn(rows, rows)["turn"]
    (1, 0)
    >>> fit_turn(cols, rows)["fit"]["angle_after_deg"]
    0.0
    """
    from shapekit.generate.checks import orientation_bias

    g, r = orientation_bias(generated), orientation_bias(real)
    angle = abs((g["direction_deg"] - r["direction_deg"] + 90.0) % 180.0 - 90.0)
    turn = int(g["p"] < alpha and r["p"] < alpha and angle > 45.0)
    return {"turn": turn, "fit": {
        "direction_generated_deg": round(g["direction_deg"], 1),
        "r_generated": round(g["shared"], 3),
        "p_generated": float(f"{g['p']:.3g}"), "direction_real_deg": round(r["direction_deg"], 1),
        "r_real": round(r["shared"], 3), "p_real": float(f"{r['p']:.3g}"),
        "angle_before_deg": round(angle, 1),
        "angle_after_deg": round(90.0 - angle if turn else angle, 1)}}
