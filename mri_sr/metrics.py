"""Image-quality metrics: PSNR and SSIM with an explicit ``data_range``, HFEN, and the SR-table convention.

One implementation of each metric, in torch (:func:`psnr_batch`, :func:`ssim_batch`, used by
training validation on (B, C, H, W) tensors); the NumPy functions :func:`psnr` and :func:`ssim`
(evaluation, one (H, W) image) call them.

- PSNR is ``monai.metrics.PSNRMetric``: ``10 log10(data_range^2 / MSE)``, computed in the dtype
  given (float64 for the NumPy API), ``inf`` for identical images.
- SSIM uses an 11x11 sampled Gaussian window (sigma 1.5), K1 0.01, K2 0.03, 'valid' filtering and
  the mean of the map: the convention of published SR tables (Wang's MATLAB ``ssim_index``,
  BasicSR ``calculate_ssim``). MONAI's ``compute_ssim_and_cs`` has the same math but always casts
  to float32, and the variance term E[x^2] - E[x]^2 then cancels badly: it moves SSIM by up to
  2e-5 per Set5 image and by 4e-5 on flat images, so published figures would not reproduce to
  their last digit. It is therefore written here in the input's dtype (float64 for the NumPy API).
- HFEN (high-frequency error norm, Ravishankar & Bresler 2011, as MRI reconstruction papers use
  it): ``||LoG(sr - hr)||_2 / ||LoG(hr)||_2`` with a 15x15 Laplacian-of-Gaussian of sigma 1.5 px
  (MATLAB ``fspecial('log', 15, 1.5)``: zero-sum), 'valid' filtering. Relative, so no
  ``data_range``; 0 for identical images, larger is worse; it sees lost sharpness that PSNR
  weighs little.
- SSIM's and HFEN's windows are filtered separably by SciPy (:mod:`mri_sr.separable`; the LoG is
  three separable terms): torch's float64 2D convolution on the CPU unfolds every window into
  memory and took 20 of the 24 s of an MRI evaluation; SciPy takes under a second.

:func:`benchmark_psnr_ssim` applies the published SR-table convention to 8-bit RGB images: BT.601
luma as MATLAB ``rgb2ycbcr`` (float, not rounded), a border of ``scale`` pixels cropped,
``data_range`` 255. With bicubic upscaling by MATLAB-exact :func:`mri_sr.data.resize.imresize` it
gives, on Set5, 33.67 dB / 0.9303 (x2), 30.40 / 0.8689 (x3) and 28.43 / 0.8111 (x4), against
the published 33.66 / 0.9299, 30.39 / 0.8682 and 28.42 / 0.8104.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.metrics import PSNRMetric

from mri_sr.separable import filter_valid, gaussian_taps, log_terms

# MATLAB rgb2ycbcr: [Y, Cb, Cr] = offset + matrix @ [R, G, B] / 255, with RGB in [0, 255].
_YCBCR_MATRIX = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_HFEN_SIZE = 15
_HFEN_SIGMA = 1.5


def _as_float(img: np.ndarray) -> np.ndarray:
    """``img`` as float (uint8 and other integers become float64); floats keep their dtype."""
    img = np.asarray(img)
    return img if np.issubdtype(img.dtype, np.floating) else img.astype(np.float64)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma as MATLAB ``rgb2ycbcr`` (channel 0), not rounded.

    Args:
        img: (..., 3) RGB, float or uint8, in [0, 255].

    Returns:
        (...) float Y in [16, 235]: ``16 + (65.481 R + 128.553 G + 24.966 B) / 255``.
    """
    img = _as_float(img)
    return img @ _YCBCR_MATRIX[0].astype(img.dtype) + float(_YCBCR_OFFSET[0])


def rgb_to_ycbcr(img: np.ndarray) -> np.ndarray:
    """RGB to YCbCr as MATLAB ``rgb2ycbcr`` (BT.601, studio range), not rounded.

    Args:
        img: (..., 3) RGB, float or uint8, in [0, 255].

    Returns:
        (..., 3) float YCbCr: Y in [16, 235], Cb and Cr in [16, 240].
    """
    img = _as_float(img)
    return img @ _YCBCR_MATRIX.T.astype(img.dtype) + _YCBCR_OFFSET.astype(img.dtype)


def ycbcr_to_rgb(img: np.ndarray) -> np.ndarray:
    """YCbCr to RGB as MATLAB ``ycbcr2rgb``: the exact inverse of :func:`rgb_to_ycbcr`.

    Args:
        img: (..., 3) float YCbCr in the [0, 255] scale (Y in [16, 235], Cb/Cr in [16, 240]).

    Returns:
        (..., 3) float RGB in [0, 255] (not clipped or rounded).
    """
    img = _as_float(img)
    inverse = np.linalg.inv(_YCBCR_MATRIX)
    return (img - _YCBCR_OFFSET.astype(img.dtype)) @ inverse.T.astype(img.dtype)


def _crop(x: torch.Tensor, crop_border: int) -> torch.Tensor:
    return x[..., crop_border:-crop_border, crop_border:-crop_border] if crop_border > 0 else x


def _check_pair(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.ndim != 4 or sr.shape != hr.shape:
        raise ValueError(f"sr and hr must both be (B, C, H, W), got {tuple(sr.shape)} and {tuple(hr.shape)}")


def psnr_batch(sr: torch.Tensor, hr: torch.Tensor, data_range: float = 1.0, crop_border: int = 0) -> torch.Tensor:
    """PSNR of each image of a batch, in dB.

    Args:
        sr: (B, C, H, W) floating tensor, same units as ``hr``.
        hr: (B, C, H, W) reference.
        data_range: peak-to-peak range of the intensities (1.0 for [0, 1], 255 for 8-bit).
        crop_border: pixels removed from each side of H and W before measuring.

    Returns:
        (B,) tensor of the input dtype; ``inf`` where an image equals its reference.
    """
    _check_pair(sr, hr)
    metric = PSNRMetric(max_val=data_range, reduction="none")
    return metric(_crop(sr, crop_border), _crop(hr, crop_border)).reshape(-1)


def ssim_batch(sr: torch.Tensor, hr: torch.Tensor, data_range: float = 1.0, crop_border: int = 0) -> torch.Tensor:
    """SSIM of each image of a batch (11x11 Gaussian sigma 1.5, 'valid', mean of the map).

    Args:
        sr: (B, C, H, W) floating tensor, same units as ``hr``; H, W >= 11 after cropping.
        hr: (B, C, H, W) reference.
        data_range: peak-to-peak range of the intensities (sets C1 = (0.01 L)^2, C2 = (0.03 L)^2).
        crop_border: pixels removed from each side of H and W before measuring.

    Returns:
        (B,) tensor of the input dtype, the SSIM map averaged over channels and pixels (1 for
        identical images).
    """
    _check_pair(sr, hr)
    sr, hr = _crop(sr, crop_border), _crop(hr, crop_border)
    if min(sr.shape[-2:]) < _SSIM_WINDOW:
        size = tuple(sr.shape[-2:])
        raise ValueError(f"SSIM needs at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels after cropping, got {size}")
    batch = sr.shape[0]
    gauss = gaussian_taps(_SSIM_WINDOW, _SSIM_SIGMA)
    gauss /= gauss.sum()
    # Separable 'valid' Gaussian filtering of the five moments, stacked along the batch axis.
    moments = filter_valid(torch.cat([sr, hr, sr * sr, hr * hr, sr * hr]), [(gauss, gauss)])
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = moments.split(batch)
    var_x, var_y, cov_xy = mu_xx - mu_x**2, mu_yy - mu_y**2, mu_xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


def log_kernel(size: int = _HFEN_SIZE, sigma: float = _HFEN_SIGMA) -> torch.Tensor:
    """Laplacian of Gaussian as MATLAB ``fspecial('log', size, sigma)``: (size, size) float64, sum 0."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    r2 = t[:, None] ** 2 + t[None, :] ** 2
    g = torch.exp(-r2 / (2 * sigma**2))
    kernel = g * (r2 - 2 * sigma**2) / (sigma**4 * g.sum())
    return kernel - kernel.mean()


def hfen_batch(sr: torch.Tensor, hr: torch.Tensor, data_range: float = 1.0, crop_border: int = 0) -> torch.Tensor:
    """HFEN of each image of a batch: ``||LoG(sr - hr)|| / ||LoG(hr)||`` (L2 over C, H, W).

    Args:
        sr: (B, C, H, W) floating tensor, same units as ``hr``; H, W >= 15 after cropping.
        hr: (B, C, H, W) reference.
        data_range: unused (HFEN is relative); accepted so :func:`per_slice` can call it.
        crop_border: pixels removed from each side of H and W before measuring.

    Returns:
        (B,) in the input's dtype: 0 for identical images, ``inf`` for a flat reference with error.
    """
    _check_pair(sr, hr)
    sr, hr = _crop(sr, crop_border), _crop(hr, crop_border)
    terms = log_terms(_HFEN_SIZE, _HFEN_SIGMA)
    error = filter_valid(sr - hr, terms).flatten(1).norm(dim=1)
    reference = filter_valid(hr, terms).flatten(1).norm(dim=1)
    return torch.where(error == 0, torch.zeros_like(error), error / reference)


def hfen(sr: np.ndarray, hr: np.ndarray, crop_border: int = 0) -> float:
    """HFEN of one (H, W) image pair, via :func:`hfen_batch` (float64)."""
    return float(hfen_batch(_to_batch(sr), _to_batch(hr), crop_border=crop_border)[0])


def _to_batch(img: np.ndarray) -> torch.Tensor:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"expected an (H, W) image, got shape {img.shape}")
    return torch.from_numpy(img)[None, None]


def psnr(sr: np.ndarray, hr: np.ndarray, data_range: float, crop_border: int = 0) -> float:
    """PSNR of one image in dB (float64), via :func:`psnr_batch`.

    Args:
        sr: (H, W) array, any real dtype, same units as ``hr``.
        hr: (H, W) reference.
        data_range: peak-to-peak range of the intensities, in their units.
        crop_border: pixels removed from each side before measuring.

    Returns:
        PSNR in dB; ``inf`` for identical images.
    """
    return float(psnr_batch(_to_batch(sr), _to_batch(hr), data_range, crop_border)[0])


def ssim(sr: np.ndarray, hr: np.ndarray, data_range: float, crop_border: int = 0) -> float:
    """SSIM of one image, via :func:`ssim_batch`.

    Args:
        sr: (H, W) array, any real dtype, same units as ``hr``.
        hr: (H, W) reference.
        data_range: peak-to-peak range of the intensities, in their units.
        crop_border: pixels removed from each side before measuring.

    Returns:
        Mean SSIM in [-1, 1]; 1 for identical images.
    """
    return float(ssim_batch(_to_batch(sr), _to_batch(hr), data_range, crop_border)[0])


def benchmark_psnr_ssim(sr_rgb_uint8: np.ndarray, hr_rgb_uint8: np.ndarray, scale: int) -> tuple[float, float]:
    """PSNR and SSIM in the convention of published SR tables (Set5, Set14, BSD100, Urban100).

    Both images are cropped to their common size rounded down to a multiple of ``scale``,
    converted to float BT.601 Y (MATLAB ``rgb2ycbcr``, [16, 235]), cropped by ``scale`` pixels on
    each side, and measured with ``data_range`` 255.

    Args:
        sr_rgb_uint8: (H, W, 3) uint8 RGB, or an (H, W) Y image in [0, 255] units.
        hr_rgb_uint8: reference, in the same form.
        scale: super-resolution factor (2, 3, 4, ...).

    Returns:
        ``(psnr_db, ssim)``.
    """
    sr, hr = _benchmark_y(sr_rgb_uint8, hr_rgb_uint8, scale)
    return psnr(sr, hr, 255.0, crop_border=scale), ssim(sr, hr, 255.0, crop_border=scale)


def benchmark_hfen(sr_rgb_uint8: np.ndarray, hr_rgb_uint8: np.ndarray, scale: int) -> float:
    """HFEN on the Y channel with the crops of :func:`benchmark_psnr_ssim` (same arguments)."""
    sr, hr = _benchmark_y(sr_rgb_uint8, hr_rgb_uint8, scale)
    return hfen(sr, hr, crop_border=scale)


def _benchmark_y(sr_rgb_uint8: np.ndarray, hr_rgb_uint8: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Both images cropped to their common size (a multiple of ``scale``), as float Y if RGB."""
    if np.ndim(sr_rgb_uint8) != np.ndim(hr_rgb_uint8):
        shapes = f"{np.shape(sr_rgb_uint8)} and {np.shape(hr_rgb_uint8)}"
        raise ValueError(f"sr and hr must both be RGB or both Y, got shapes {shapes}")
    height = min(sr_rgb_uint8.shape[0], hr_rgb_uint8.shape[0]) // scale * scale
    width = min(sr_rgb_uint8.shape[1], hr_rgb_uint8.shape[1]) // scale * scale
    sr, hr = sr_rgb_uint8[:height, :width], hr_rgb_uint8[:height, :width]
    if sr.ndim == 3:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    return _as_float(sr), _as_float(hr)


_CHUNK = 32  # slices per batched metric call


def per_slice(metric: Callable[..., torch.Tensor], sr: np.ndarray, hr: np.ndarray,
              data_range: float = 1.0) -> np.ndarray:
    """A batched metric (``mri_sr.metrics.psnr_batch`` or ``ssim_batch``) of each slice pair, in float64.

    Stacks go through a few large calls rather than one small call per slice: small torch calls
    stall badly when the CPU is oversubscribed (parallel workflow jobs), large ones do not.

    Args:
        sr, hr: (N, H, W) float arrays, same units.
        data_range: peak-to-peak intensity range.

    Returns:
        (N,) float64, equal to the NumPy ``psnr`` / ``ssim`` of each pair.
    """
    out = []
    for start in range(0, len(sr), _CHUNK):
        pair = [torch.from_numpy(np.asarray(a[start:start + _CHUNK], np.float64))[:, None] for a in (sr, hr)]
        out.append(metric(*pair, data_range).numpy())
    return np.concatenate(out)
