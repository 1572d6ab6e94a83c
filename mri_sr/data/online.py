"""Online degradation on the training device: fresh blur and noise for every batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mri_sr.data.resize import imresize_torch


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image of a batch with its own isotropic Gaussian.

    Args:
        x: (B, C, H, W) float.
        sigma: (B,) standard deviations in pixels (0 leaves an image unchanged).

    Returns:
        (B, C, H, W), reflect-padded at the borders.
    """
    radius = int(torch.ceil(3 * sigma.max()).item()) if sigma.numel() else 0
    if radius == 0:
        return x
    b, c, h, w = x.shape
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    s = sigma.to(x).clamp_min(1e-6)[:, None]
    kernel = torch.exp(-0.5 * (t[None] / s) ** 2)
    kernel = torch.where(sigma.to(x)[:, None] > 0, kernel, (t[None] == 0).to(x))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, K)
    y = F.pad(x.reshape(1, b * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel[:, None, None, :], groups=b * c)
    y = F.conv2d(y, kernel[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)


def degrade_batch(hr: torch.Tensor, scale: int, blur_sigma: tuple[float, float], noise_sigma: tuple[float, float],
                  generator: torch.Generator) -> torch.Tensor:
    """Make LR from HR on HR's device: random blur, MATLAB bicubic downscaling, Rician noise.

    Args:
        hr: (B, C, H, W) float in [0, 1], H and W multiples of ``scale``.
        scale: downscaling factor.
        blur_sigma: (low, high) range of the per-image blur sigma, HR pixels.
        noise_sigma: (low, high) range of the per-image Rician noise level, [0, 1] units.
        generator: a CPU ``torch.Generator`` seeded per iteration (reproducible batches).

    Returns:
        (B, C, H // scale, W // scale) float in [0, 1].
    """
    b = hr.shape[0]
    blur = torch.empty(b).uniform_(*blur_sigma, generator=generator)
    noise = torch.empty(b).uniform_(*noise_sigma, generator=generator).to(hr)[:, None, None, None]
    lr = imresize_torch(gaussian_blur(hr, blur.to(hr.device)), scale=1.0 / scale)
    if noise_sigma[1] > 0:
        n = torch.randn((2, *lr.shape), generator=generator).to(hr) * noise
        lr = torch.sqrt((lr + n[0]) ** 2 + n[1] ** 2)
    return lr.clamp(0.0, 1.0)
