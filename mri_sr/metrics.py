"""Image-quality metrics: PSNR and SSIM with an explicit ``data_range``, HFEN, and the SR-table convention.

Each metric has one batched entry point on (B, C, H, W) tensors (:func:`psnr_batch`,
:func:`ssim_batch`, :func:`hfen_batch`: training validation and evaluation through
:func:`per_slice`); the NumPy functions :func:`psnr`, :func:`ssim` and :func:`hfen` (one (H, W)
image) call them in float64.

- PSNR is ``monai.metrics.PSNRMetric``: ``10 log10(data_range^2 / MSE)``, computed in the dtype
  given, ``inf`` for identical images.
- SSIM is ``skimage.metrics.structural_similarity`` with the convention of published SR tables
  (Wang's MATLAB ``ssim_index``, BasicSR ``calculate_ssim``): an 11x11 sampled Gaussian window
  (sigma 1.5, truncated at 3.5 sigma), K1 0.01, K2 0.03, population covariances, and the mean of
  the map over the 'valid' region (scikit-image crops the 5-pixel border its filter pads),
  computed in the input's dtype. MONAI's ``compute_ssim_and_cs`` has the same formula but always
  casts to float32, where the variance term E[x^2] - E[x]^2 cancels badly, so it does not serve
  published figures to their last digit.
- HFEN (high-frequency error norm, Ravishankar & Bresler 2011, as MRI reconstruction papers use
  it): ``||LoG(sr - hr)||_2 / ||LoG(hr)||_2`` with a 15x15 Laplacian-of-Gaussian of sigma 1.5 px
  (MATLAB ``fspecial('log', 15, 1.5)``, made zero-sum), 'valid' filtering. Relative, so no
  ``data_range``; 0 for identical images, larger is worse; it sees lost sharpness that PSNR
  weighs little. SciPy's ``gaussian_laplace`` is not zero-sum (a constant offset would count as
  high-frequency error), so the kernel is MATLAB's, filtered separably by SciPy as three
  separable terms (:func:`log_terms`, :func:`filter_valid`).

:func:`benchmark_psnr_ssim` applies the published SR-table convention to 8-bit RGB images: BT.601
luma as MATLAB ``rgb2ycbcr`` (scikit-image's, float, not rounded), a border of ``scale`` pixels
cropped, ``data_range`` 255.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.metrics import PSNRMetric
from scipy.ndimage import correlate1d
from skimage.color import rgb2ycbcr, ycbcr2rgb
from skimage.metrics import structural_similarity

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_HFEN_SIZE = 15
_HFEN_SIGMA = 1.5


def _as_float(img: np.ndarray) -> np.ndarray:
    """``img`` as float (uint8 and other integers become float64); floats keep their dtype."""
    img = np.asarray(img)
    return img if np.issubdtype(img.dtype, np.floating) else img.astype(np.float64)


def rgb_to_ycbcr(img: np.ndarray) -> np.ndarray:
    """RGB to YCbCr as MATLAB ``rgb2ycbcr`` (BT.601, studio range), not rounded: scikit-image's
    ``rgb2ycbcr`` (the same matrix and offsets) in the [0, 255] scale.

    Args:
        img: (..., 3) RGB, float or uint8, in [0, 255].

    Returns:
        (..., 3) float YCbCr (float32 stays float32): Y in [16, 235], Cb and Cr in [16, 240].
    """
    return rgb2ycbcr(_as_float(img) / 255)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma as MATLAB ``rgb2ycbcr`` (channel 0), not rounded.

    Args:
        img: (..., 3) RGB, float or uint8, in [0, 255].

    Returns:
        (...) float Y in [16, 235]: ``16 + (65.481 R + 128.553 G + 24.966 B) / 255``.
    """
    return rgb_to_ycbcr(img)[..., 0]


def ycbcr_to_rgb(img: np.ndarray) -> np.ndarray:
    """YCbCr to RGB as MATLAB ``ycbcr2rgb``: the inverse of :func:`rgb_to_ycbcr` (scikit-image's
    ``ycbcr2rgb``) in the [0, 255] scale.

    Args:
        img: (..., 3) float YCbCr in the [0, 255] scale (Y in [16, 235], Cb/Cr in [16, 240]).

    Returns:
        (..., 3) float RGB in [0, 255] (not clipped or rounded).
    """
    return ycbcr2rgb(_as_float(img)) * 255


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
    values = [
        structural_similarity(x, y, data_range=data_range, channel_axis=0, gaussian_weights=True,
                              sigma=_SSIM_SIGMA, use_sample_covariance=False)
        for x, y in zip(sr.detach().cpu().numpy(), hr.detach().cpu().numpy())
    ]
    return torch.tensor(values, dtype=sr.dtype, device=sr.device)


def log_kernel(size: int = _HFEN_SIZE, sigma: float = _HFEN_SIGMA) -> torch.Tensor:
    """Laplacian of Gaussian as MATLAB ``fspecial('log', size, sigma)``: (size, size) float64, sum 0."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    r2 = t[:, None] ** 2 + t[None, :] ** 2
    g = torch.exp(-r2 / (2 * sigma**2))
    kernel = g * (r2 - 2 * sigma**2) / (sigma**4 * g.sum())
    return kernel - kernel.mean()


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """``size`` samples of ``exp(-t^2 / (2 sigma^2))`` centred on the middle one (float64, not normalised)."""
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    return np.exp(-(t**2) / (2 * sigma**2))


def filter_valid(x: torch.Tensor, terms: list[tuple[np.ndarray, np.ndarray]]) -> torch.Tensor:
    """'valid' correlation of (B, C, H, W) images with the 2D window ``sum(outer(rows, cols))``.

    Each term filters H with ``rows`` and W with ``cols`` (equal odd lengths); the border that a
    'valid' filter drops is cut off afterwards, so the boundary mode never shows. Computed by
    SciPy in the input's dtype, returned on the input's device.
    """
    data = x.detach().cpu().numpy()
    radius = len(terms[0][0]) // 2
    total = None
    for rows, cols in terms:
        part = correlate1d(correlate1d(data, rows.astype(data.dtype), axis=-2, mode="nearest"),
                           cols.astype(data.dtype), axis=-1, mode="nearest")
        total = part if total is None else np.add(total, part, out=total)
    inner = total[..., radius:total.shape[-2] - radius, radius:total.shape[-1] - radius]
    return torch.from_numpy(np.ascontiguousarray(inner)).to(x.device)


def log_terms(size: int, sigma: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`log_kernel` (``size`` taps) as three separable terms.

    With g the 1D Gaussian, S its 2D sum and m the mean removed,
    ``g(x) g(y) (x^2 + y^2 - 2 sigma^2) / (sigma^4 S) - m`` is
    ``[h(x) g(y) + g(x) h(y)] / (sigma^4 S) - m 1(x) 1(y)`` with ``h(t) = g(t) (t^2 - sigma^2)``.
    """
    g = _gaussian_taps(size, sigma)
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    h = g * (t**2 - sigma**2) / (sigma**4 * g.sum() ** 2)
    mean = 2 * h.sum() * g.sum() / size**2
    return [(h, g), (g, h), (-mean * np.ones(size), np.ones(size))]


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
    return _one_image(hfen_batch, sr, hr, 1.0, crop_border)


def _to_batch(img: np.ndarray) -> torch.Tensor:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"expected an (H, W) image, got shape {img.shape}")
    return torch.from_numpy(img)[None, None]


def _one_image(metric: Callable[..., torch.Tensor], sr: np.ndarray, hr: np.ndarray, data_range: float,
               crop_border: int) -> float:
    """A batched metric of one (H, W) image pair, in float64."""
    return float(metric(_to_batch(sr), _to_batch(hr), data_range, crop_border)[0])


def psnr(sr: np.ndarray, hr: np.ndarray, data_range: float, crop_border: int = 0) -> float:
    """PSNR of one image in dB (float64), via :func:`psnr_batch`; ``inf`` for identical images.

    Args:
        sr: (H, W) array, any real dtype, same units as ``hr``.
        hr: (H, W) reference.
        data_range: peak-to-peak range of the intensities, in their units.
        crop_border: pixels removed from each side before measuring.
    """
    return _one_image(psnr_batch, sr, hr, data_range, crop_border)


def ssim(sr: np.ndarray, hr: np.ndarray, data_range: float, crop_border: int = 0) -> float:
    """Mean SSIM of one image in [-1, 1] (1 for identical images), via :func:`ssim_batch`.

    Arguments as :func:`psnr`.
    """
    return _one_image(ssim_batch, sr, hr, data_range, crop_border)


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
