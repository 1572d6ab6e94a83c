"""Training pairs made on the fly: crop HR, augment it, then degrade it with randomised parameters.

LR is always the degradation of the augmented HR patch, so the pair stays consistent
whatever the augmentation did. The HR crop carries ``context`` LR pixels of margin on each
side through the augmentation and degradation (k-space truncation and blur see real
neighbours instead of the crop's wrap-around), then both images are cut to the patch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, Resize

from mri_sr.data.augment import augment
from mri_sr.data.degrade import Degradation

#: Defaults of the model schema's ``train.degradation``.
DEFAULTS: dict[str, Any] = {
    "kspace_factor": [1.0, 1.25], "blur_sigma": [0.0, 0.6], "noise_sigma": [0.0, 0.03],
    "other_kind": 0.1, "context": 6, "zoom": [1.0, 3.0],
}


@dataclass(frozen=True)
class Draw:
    """One sample's degradation: the parameters and the seed of its noise."""

    degradation: Degradation
    noise_seed: int

    def __call__(self, hr: np.ndarray) -> np.ndarray:
        """(H, W) HR in [0, 1] -> (H / s, W / s) float32 LR in [0, 1]; the same output every call."""
        return self.degradation(hr, np.random.default_rng(self.noise_seed))


def draw_degradation(base: Degradation, options: dict[str, Any] | None, rng: np.random.Generator) -> Draw:
    """Draw one sample's degradation around the prepared one (the zoom is drawn in :func:`make_pair`).

    Args:
        base: the prepared data's degradation (kind and scale; its blur and noise when
            ``options`` is None).
        options: ranges (keys of :data:`DEFAULTS`): ``kspace_factor`` [low, high] (>= 1,
            see :class:`Degradation`), ``blur_sigma`` [low, high] HR pixels, ``noise_sigma``
            [low, high] normalised units, ``other_kind`` probability of the other kind
            (bicubic instead of kspace, or the reverse). None: ``base`` itself.
        rng: the batch's generator.
    """
    if options is None:
        return Draw(base, int(rng.integers(2**31 - 1)))
    o = {**DEFAULTS, **options}
    kind = base.kind
    if rng.random() < o["other_kind"]:
        kind = "bicubic" if kind == "kspace" else "kspace"
    degradation = replace(base, kind=kind, kspace_factor=float(rng.uniform(*o["kspace_factor"])),
                          blur_sigma=float(rng.uniform(*o["blur_sigma"])),
                          noise_sigma=float(rng.uniform(*o["noise_sigma"])))
    return Draw(degradation, int(rng.integers(2**31 - 1)))


def make_pair(hr_slice: np.ndarray, lr_patch: int, context: int, pipeline: Compose, base: Degradation,
              options: dict[str, Any] | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Draw]:
    """One training pair from one prepared HR slice.

    Args:
        hr_slice: (1, H, W) float32 in [0, 1], H and W multiples of the scale.
        lr_patch: LR patch side; the HR patch side is ``lr_patch * scale``.
        context: LR pixels of margin around the patch (fewer where the slice is too small).
            With ``options["zoom"]`` [low, high], a region ``zoom`` times larger is area-averaged
            onto the patch grid first (voxels ``zoom`` times larger: anatomy at a coarser scale).
        pipeline: seeded augmentation (:func:`mri_sr.data.augment.augmentation`).
        base, options: see :func:`draw_degradation`.
        rng: the batch's generator (crop position, degradation, noise seed).

    Returns:
        ``lr`` (1, p, p) and ``hr`` (1, p*s, p*s) float32 in [0, 1], and the draw that made LR
        from the augmented HR (with its margin).
    """
    s, size = base.scale, min(hr_slice.shape[-2:])
    low, high = {**DEFAULTS, **options}["zoom"] if options is not None else (1.0, 1.0)
    zoom = min(low + (high - low) * rng.random(), size / (lr_patch * s))
    c = max(0, min(context, (int(size / zoom) // s - lr_patch) // 2))
    side = (lr_patch + 2 * c) * s
    region = min(size, round(side * zoom))
    top = int(rng.integers(0, hr_slice.shape[-2] - region + 1))
    left = int(rng.integers(0, hr_slice.shape[-1] - region + 1))
    crop = hr_slice[..., top:top + region, left:left + region]
    if region != side:  # coarser voxels: the crop's area averaged onto the patch grid
        crop = np.asarray(Resize((side, side), mode="area")(torch.as_tensor(np.ascontiguousarray(crop))))
    hr = augment(pipeline, crop)[0]
    draw = draw_degradation(base, options, rng)
    lr = draw(hr)
    hr_out = hr[c * s:(c + lr_patch) * s, c * s:(c + lr_patch) * s].astype(np.float32)
    return lr[None, c:c + lr_patch, c:c + lr_patch], hr_out[None], draw
