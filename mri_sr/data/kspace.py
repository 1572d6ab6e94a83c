"""k-space zero filling and data consistency in torch, for :func:`mri_sr.data.degrade.kspace_truncate`'s degradation."""

from __future__ import annotations

import math

import torch


def kspace_zero_fill(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bring LR images to HR size by zero-filling k-space, as a scanner's interpolation does.

    The inverse of the resampling in ``kspace_truncate`` (up to its magnitude and the Nyquist bin
    of even sizes: on an MNI slice ``kspace_truncate`` of the result is within 0.003 mean absolute
    error of the LR input, against 0.008 for bicubic upscaling): the LR spectrum becomes the centre
    of an HR-sized spectrum (zeros elsewhere), the half-block shift of the truncation is undone by a
    linear phase, and intensities keep their scale. No detail is added and the noise and ringing
    of the LR image stay: the result is still an LR-domain image, at HR size.

    Args:
        lr: (B, C, h, w) float images (intensities in any units).
        scale: integer factor; the output is (B, C, h*scale, w*scale).

    Returns:
        (B, C, h*scale, w*scale), the real part of the inverse transform, in ``lr``'s dtype.
    """
    h, w = lr.shape[-2] * scale, lr.shape[-1] * scale
    spectrum = torch.fft.fft2(lr.to(torch.float64 if lr.dtype == torch.float64 else torch.float32)) * scale**2
    rows = _centre_indices(lr.shape[-2], h, lr.device)
    cols = _centre_indices(lr.shape[-1], w, lr.device)
    full = spectrum.new_zeros((*lr.shape[:-2], h, w))
    full[..., rows[:, None], cols[None, :]] = spectrum
    shift = (scale - 1) / 2
    ky = torch.fft.fftfreq(h, device=lr.device)[:, None]
    kx = torch.fft.fftfreq(w, device=lr.device)[None, :]
    phase = torch.exp(torch.complex(torch.zeros_like(ky + kx), -2 * math.pi * shift * (ky + kx)))
    return torch.fft.ifft2(full * phase.to(full.dtype)).real.to(lr.dtype)


def kspace_truncate_torch(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Batched, differentiable :func:`mri_sr.data.degrade.kspace_truncate` (same phase, indices, scaling).

    Args:
        hr: (B, C, H, W) float, H and W multiples of ``scale``.
        scale: integer factor.

    Returns:
        (B, C, H // scale, W // scale) magnitude images, in ``hr``'s dtype.
    """
    h, w = hr.shape[-2], hr.shape[-1]
    shift = (scale - 1) / 2
    ky = torch.fft.fftfreq(h, device=hr.device, dtype=torch.float64)[:, None]
    kx = torch.fft.fftfreq(w, device=hr.device, dtype=torch.float64)[None, :]
    phase = torch.exp(torch.complex(torch.zeros_like(ky + kx), 2 * math.pi * shift * (ky + kx)))
    spectrum = torch.fft.fft2(hr.to(torch.float64)) * phase
    rows = _centre_indices(h // scale, h, hr.device)
    cols = _centre_indices(w // scale, w, hr.device)
    low = spectrum[..., rows[:, None], cols[None, :]]
    return (torch.fft.ifft2(low).abs() / scale**2).to(hr.dtype)


def consistency_noise(kind: str, blur_sigma: float, noise_sigma: float) -> float | None:
    """The noise level at which to project onto the LR's k-space (:func:`kspace_consistency`) for
    LR made by this degradation: its noise level for k-space truncation without blur, else None
    (bicubic LR, or LR blurred first, is not a truncation of the HR's k-space)."""
    if kind != "kspace" or float(blur_sigma) != 0.0:
        return None
    return float(noise_sigma)


def kspace_consistency(sr: torch.Tensor, lr: torch.Tensor, scale: int, noise_sigma: float) -> torch.Tensor:
    """Project SR images onto the set of images that agree with their LR images up to the noise.

    An LR image of the k-space degradation is ``T(hr) + n``: ``T`` keeps the central k-space
    (:func:`kspace_truncate_torch`) and ``n`` is noise of standard deviation ``noise_sigma``. So
    the true HR image lies (about) in ``{x : ||Z(lr - T(x))|| <= noise_sigma * sqrt(N)}``, with
    ``Z`` the zero filling back to HR size (:func:`kspace_zero_fill`, which keeps the per-pixel
    noise level) and ``N`` the HR pixels. Each image outside that ball moves in a straight line to
    its surface: only its low frequencies change, by the part of its disagreement with the LR that
    the noise cannot explain. The set is convex, so the projection brings the output no farther
    from any image in it, the HR image included (MRI reconstruction's data-consistency step, with
    the noise-level ball of constrained reconstruction instead of an exact fit to noisy data).

    Args:
        sr: (B, C, H, W) float super-resolved images; lr: (B, C, H // scale, W // scale) their inputs.
        scale: integer factor.
        noise_sigma: standard deviation of the LR noise, in the images' units (0: exact fit).

    Returns:
        (B, C, H, W) in ``sr``'s dtype.
    """
    sr64 = sr.to(torch.float64)
    residual = kspace_zero_fill(lr.to(torch.float64) - kspace_truncate_torch(sr64, scale), scale)
    distance = residual.flatten(1).norm(dim=1)
    radius = noise_sigma * math.sqrt(residual[0].numel())
    step = (1.0 - radius / distance.clamp_min(1e-12)).clamp_min(0.0)
    return (sr64 + step.view(-1, *[1] * (sr.dim() - 1)) * residual).to(sr.dtype)


def _centre_indices(n_low: int, n_high: int, device: torch.device) -> torch.Tensor:
    """HR spectrum indices of the ``n_low`` lowest frequencies (numpy's LR-sized FFT order)."""
    freqs = torch.fft.fftfreq(n_low, d=1.0 / n_low, device=device).round().long()
    return freqs % n_high
