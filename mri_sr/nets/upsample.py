"""Fixed (parameter-free) interpolation under a learned residual: bilinear, bicubic or windowed sinc.

``sinc`` is :func:`mri_sr.resample.sinc_upsample`, Lanczos interpolation with a wide window: close
to what k-space zero filling (a scanner's interpolation) gives for an image whose high frequencies
were cut, without zero filling's assumption that the image is periodic, so it also works on
training patches. ``bilinear`` and ``bicubic`` are torch's (``align_corners=False``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mri_sr.resample import sinc_upsample

MODES = ("bilinear", "bicubic", "sinc")


def upsample(lr: torch.Tensor, scale: int, mode: str, rows_only: bool = False) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, h*scale, w*scale) (``rows_only``: (B, C, h*scale, w)); pixel centres aligned."""
    if mode not in MODES:
        raise ValueError(f"upsample mode {mode!r} is not one of {', '.join(MODES)}")
    if mode != "sinc":
        factor = (scale, 1) if rows_only else scale
        return F.interpolate(lr, scale_factor=factor, mode=mode, align_corners=False)
    return sinc_upsample(lr, scale, rows_only)
