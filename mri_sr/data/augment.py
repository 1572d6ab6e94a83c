"""Training-time augmentation of HR patches with MONAI transforms (before the degradation)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.transforms import (
    Compose,
    RandAdjustContrast,
    RandBiasField,
    RandFlip,
    RandGibbsNoise,
    RandHistogramShift,
    RandomizableTransform,
    RandRotate90,
    RandScaleIntensity,
)

from mri_sr.data.normalize import FOREGROUND_LEVEL

#: Defaults of the model schema's ``train.augmentation`` (probabilities per sample); the one source:
#: the schema does not repeat them.
DEFAULTS: dict[str, Any] = {
    "flip": 0.5, "rot90": 0.5, "bias_field": 0.3, "gamma": 0.3, "histogram_shift": 0.2,
    "scale_intensity": 0.3, "invert": 0.2, "gibbs": 0.1,
}


def invert_contrast(img: torch.Tensor) -> torch.Tensor:
    """T2/FLAIR-like contrast: ``1 - x`` inside the head, background kept dark.

    Args:
        img: (1, H, W) float in [0, 1].

    Returns:
        (1, H, W) float in [0, 1]: ``min(x / FOREGROUND_LEVEL, 1) * (1 - x)``
        (:data:`mri_sr.data.normalize.FOREGROUND_LEVEL`).
    """
    return (img / FOREGROUND_LEVEL).clamp(0.0, 1.0) * (1.0 - img)


class RandInvertContrast(RandomizableTransform):
    """:func:`invert_contrast` with probability ``prob``."""

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        self.randomize(None)
        return invert_contrast(torch.as_tensor(img)) if self._do_transform else img


def augmentation(options: dict[str, Any] | None) -> Compose:
    """The HR augmentation pipeline: geometry first, then intensity transforms.

    Args:
        options: probabilities by name (keys of :data:`DEFAULTS`; 0 turns a transform off).
            ``None`` gives flips and rot90 only (the plain paired crop's geometry).

    Returns:
        A MONAI ``Compose`` over (1, H, W) float tensors in [0, 1]; seed it with
        ``set_random_state`` for reproducible draws. Outputs are clipped to [0, 1].
    """
    p = {**DEFAULTS, **(options or {})} if options is not None else {**dict.fromkeys(DEFAULTS, 0.0),
                                                                       "flip": 0.5, "rot90": 0.5}
    transforms = [
        RandFlip(prob=p["flip"], spatial_axis=0),
        RandFlip(prob=p["flip"], spatial_axis=1),
        RandRotate90(prob=p["rot90"], max_k=3, spatial_axes=(0, 1)),
        RandBiasField(degree=3, coeff_range=(0.0, 0.2), prob=p["bias_field"]),
        RandAdjustContrast(prob=p["gamma"], gamma=(0.5, 2.0)),
        RandHistogramShift(num_control_points=(5, 12), prob=p["histogram_shift"]),
        RandScaleIntensity(factors=(-0.2, 0.2), prob=p["scale_intensity"]),
        RandInvertContrast(prob=p["invert"]),
        RandGibbsNoise(prob=p["gibbs"], alpha=(0.0, 0.5)),
    ]
    return Compose([t for t in transforms if getattr(t, "prob", 1.0) > 0])


def augment(pipeline: Compose, hr: np.ndarray) -> np.ndarray:
    """Apply ``pipeline`` to one HR patch.

    Args:
        pipeline: output of :func:`augmentation` (already seeded).
        hr: (1, H, W) float32 in [0, 1].

    Returns:
        (1, H', W') float64 in [0, 1] (H' and W' swap under an odd rot90).
    """
    out = pipeline(torch.as_tensor(np.ascontiguousarray(hr), dtype=torch.float32))
    return np.clip(np.asarray(torch.as_tensor(out), dtype=np.float64), 0.0, 1.0)
