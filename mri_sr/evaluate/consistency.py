"""LR consistency: degrade the SR output again and compare it with the LR input.

A method that only adds detail the LR image supports gives back the LR image when its output is
degraded the same way the LR was made: high PSNR. Low values mean the output contradicts the
input (invented structure, shifted intensities).

- Natural images: MATLAB bicubic downscaling in uint8 mode of the uint8 SR output (as the
  benchmark LR images are made), PSNR on the BT.601 Y channel, ``data_range`` 255, no border crop.
- MRI: the prepared data's degradation (kind, scale and blur from the manifest row, no noise) of
  the SR slice, PSNR with ``data_range`` 1 on normalised intensities, no border crop.
"""

from __future__ import annotations

import numpy as np

from mri_sr.data.degradation import Degradation, from_row
from mri_sr.resample import imresize
from mri_sr.metrics import per_slice, psnr, psnr_batch, rgb_to_y


def natural_lr_consistency(sr_rgb: np.ndarray, lr_rgb: np.ndarray, scale: int) -> tuple[float, np.ndarray]:
    """LR consistency of one natural-image SR output.

    Args:
        sr_rgb: (h*scale, w*scale, 3) uint8 RGB SR output.
        lr_rgb: (h, w, 3) uint8 RGB LR input.
        scale: SR factor.

    Returns:
        ``(psnr_db, error)``: PSNR of the re-degraded Y against the LR Y, and the (h, w) float32
        absolute Y difference divided by 255 (so in [0, 1]).
    """
    degraded = imresize(sr_rgb, output_shape=lr_rgb.shape[:2])
    y_degraded, y_lr = rgb_to_y(degraded), rgb_to_y(lr_rgb)
    return psnr(y_degraded, y_lr, 255.0), (np.abs(y_degraded - y_lr) / 255.0).astype(np.float32)


def mri_degradation(meta: dict) -> Degradation:
    """The degradation of a manifest row, without noise (noise cannot be undone or repeated)."""
    return from_row(meta).replace(noise_sigma=0.0)


def mri_lr_consistency(sr: np.ndarray, lr: np.ndarray, degradation: Degradation) -> tuple[np.ndarray, np.ndarray]:
    """LR consistency of a stack of SR slices.

    Args:
        sr: (N, H, W) float32 SR slices in [0, 1], H and W multiples of the scale.
        lr: (N, H / scale, W / scale) float32 LR slices in [0, 1].
        degradation: how LR was made (noise_sigma 0).

    Returns:
        ``(psnr_db, error)``: (N,) float64 PSNR (``data_range`` 1) of each degraded SR slice against
        its LR slice, and the (N, h, w) float32 absolute differences.
    """
    degraded = np.stack([degradation(s, np.random.default_rng(0)) for s in sr])
    return per_slice(psnr_batch, degraded, lr), np.abs(degraded - lr).astype(np.float32)
