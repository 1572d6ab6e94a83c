"""Training pairs made on the fly: crop HR, augment it, then degrade it with randomised parameters.

LR is always the degradation of the augmented HR patch, so the pair stays consistent
whatever the augmentation did. The HR crop carries ``context`` LR pixels of margin on each
side through the augmentation and degradation (k-space truncation and blur see real
neighbours instead of the crop's wrap-around), then both images are cut to the patch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, Resize

from mri_sr.data.augment import augment
from mri_sr.data.degradation import DegradationSampler, Draw

#: Defaults of the pair options of the model schema's ``train.random_degradation`` (its degradation
#: ranges default to :data:`mri_sr.data.degradation.SAMPLER_DEFAULTS`); the one source: the schema
#: does not repeat them.
DEFAULTS: dict[str, Any] = {"context": 6, "zoom": [1.0, 3.0]}


def make_pair(hr_slice: np.ndarray, lr_patch: int, context: int, pipeline: Compose, sampler: DegradationSampler,
              zoom: tuple[float, float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Draw]:
    """One training pair from one prepared HR slice.

    Args:
        hr_slice: (1, H, W) float32 in [0, 1], H and W multiples of the scale.
        lr_patch: LR patch side; the HR patch side is ``lr_patch * scale``.
        context: LR pixels of margin around the patch (fewer where the slice is too small).
        pipeline: seeded augmentation (:func:`mri_sr.data.augment.augmentation`).
        sampler: draws the sample's degradation (its base gives the scale).
        zoom: [low, high]: a region ``zoom`` times larger (drawn in the range) is area-averaged
            onto the patch grid first (voxels ``zoom`` times larger: anatomy at a coarser scale);
            (1, 1): none.
        rng: the batch's generator (crop position, degradation, noise seed).

    Returns:
        ``lr`` (1, p, p) and ``hr`` (1, p*s, p*s) float32 in [0, 1], and the draw that made LR
        from the augmented HR (with its margin).
    """
    s, size = sampler.base.scale, min(hr_slice.shape[-2:])
    low, high = zoom
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
    draw = sampler.draw(rng)
    lr = draw(hr)
    hr_out = hr[c * s:(c + lr_patch) * s, c * s:(c + lr_patch) * s].astype(np.float32)
    return lr[None, c:c + lr_patch, c:c + lr_patch], hr_out[None], draw
