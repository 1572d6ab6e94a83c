"""Every interpolator of the package: image and axis resizing, windowed sinc, k-space resampling.

A low layer (NumPy, SciPy and torch only). Conventions:

- MATLAB ``imresize(A, scale, 'bicubic')`` (:func:`imresize`, :func:`imresize_torch`): the
  standard super-resolution benchmarks make their LR images with it: a cubic convolution kernel
  (a = -0.5) that, when shrinking, is stretched by ``1 / scale`` (the antialiasing filter), with
  symmetric (mirror) padding at the borders and output size ``ceil(in * scale)``. On uint8 images
  it rounds after each axis as MATLAB does, which makes it bit-identical. The resize is
  separable: for each axis a table of source indices and weights is computed once
  (``_contributions``, cached) and applied by gathering along the axis (NumPy) or as a dense
  ``(out, in)`` matrix (torch, two matrix multiplications, differentiable and on any device).
- One-axis upscaling of a 3D array (:func:`resize_axis` MATLAB cubic, :func:`interpolate_axis`
  torch cubic a = -0.75, :func:`bspline_axis` cubic B-spline), all with the voxel-centre
  convention of :mod:`mri_sr.geometry`: output voxel ``j`` lies at input index
  ``(j + 0.5) / scale - 0.5``.
- Windowed sinc (:func:`sinc_upsample`): Lanczos interpolation with a wide window, pixel centres
  aligned as above.
- k-space resampling (:func:`kspace_truncate`, :func:`kspace_zero_fill`): keep the central
  k-space of an image, or zero-fill an LR spectrum to HR size, with the same voxel-centre
  alignment; float64 FFTs.
- :func:`mirror_index`: the symmetric-padding index map of those tables, for any array.
- :func:`restore_extremes`: add back, interpolated, what clipping to a range took off an input.
- The classical methods that ``evaluate`` and ``upscale`` offer by name (:data:`CLASSICAL`,
  :func:`classical_upscale`): MATLAB bicubic, and PIL's nearest neighbour and Lanczos.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

_KERNEL_WIDTH = 4.0  # support of the cubic kernel in input pixels, before antialias stretching


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=128)
def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis weight and index tables, as MATLAB's ``contributions``.

    Args:
        in_len: input length along the axis, in pixels.
        out_len: output length along the axis, in pixels.
        scale: output/input scale along the axis (< 1 shrinks, with antialiasing).

    Returns:
        ``(weights, indices)``, both (out_len, P): float64 weights whose rows sum to 1, and int64
        0-based input indices already mirrored into ``[0, in_len)``. Read-only (cached).
    """
    antialias = scale < 1
    width = _KERNEL_WIDTH / scale if antialias else _KERNEL_WIDTH
    # Output pixel centres mapped into input coordinates (1-based, as in MATLAB).
    u = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if antialias else _cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    indices = mirror_index(indices.astype(np.int64) - 1, in_len)  # symmetric padding
    keep = np.any(weights != 0, axis=0)
    weights, indices = weights[:, keep], indices[:, keep]
    weights.flags.writeable = False
    indices.flags.writeable = False
    return weights, indices


def mirror_index(index: np.ndarray, length: int | np.ndarray) -> np.ndarray:
    """Indices mirrored into ``[0, length)`` by symmetric padding (the edge pixel repeated: index
    -1 is 0, ``length`` is ``length - 1``; MATLAB ``'symmetric'``, SciPy ``'reflect'``, NumPy
    ``pad(mode="symmetric")``), periodically for indices beyond one length.

    Args:
        index: int64 array of 0-based indices, any values.
        length: the axis length, or an int array broadcastable to ``index`` (one per row).

    Returns:
        int64 array of ``index``'s broadcast shape, values in ``[0, length)``.
    """
    folded = np.mod(index, 2 * np.asarray(length))
    return np.where(folded < length, folded, 2 * np.asarray(length) - 1 - folded)


@lru_cache(maxsize=128)
def _weight_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) float64 matrix of the tables of :func:`_contributions`."""
    weights, indices = _contributions(in_len, out_len, scale)
    matrix = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_len)[:, None], indices.shape)
    np.add.at(matrix, (rows, indices), weights)  # mirrored indices may repeat: accumulate
    matrix.flags.writeable = False
    return matrix


def _plan(
    in_shape: tuple[int, int], scale: float | None, output_shape: tuple[int, int] | None
) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output size and per-axis scales, as MATLAB derives them from ``scale`` or a size."""
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        # ceil(in * scale) as MATLAB; the 1e-9 keeps float noise (0.1 * 30 = 3.0000000000000004)
        # from adding a pixel.
        out = tuple(max(1, math.ceil(n * scale - 1e-9)) for n in in_shape)
        return (out[0], out[1]), (float(scale), float(scale))
    out_h, out_w = (int(n) for n in output_shape)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output_shape must be positive, got {output_shape}")
    return (out_h, out_w), (out_h / in_shape[0], out_w / in_shape[1])


def imresize(
    image: np.ndarray, scale: float | None = None, output_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Resize like MATLAB ``imresize(image, scale, 'bicubic')`` (antialiased when shrinking).

    Give exactly one of ``scale`` (output size ``ceil(in * scale)``) or ``output_shape``. The axis
    with the smaller scale is resized first, as MATLAB does. Float images are neither clipped nor
    rounded. A uint8 image is resized as MATLAB resizes uint8: the result of each pass is rounded
    half away from zero and saturated to [0, 255]; this intermediate rounding is what makes the
    result bit-identical to MATLAB's (the Set5 ``LR_bicubic`` images at x2, x3 and x4), whereas
    rounding a float result once differs from MATLAB by 1 grey level on part of the pixels.

    Args:
        image: (H, W) or (H, W, C) float32, float64 (any range and units) or uint8 array.
        scale: output/input size ratio, the same for both axes.
        output_shape: (H_out, W_out) in pixels.

    Returns:
        (H_out, W_out[, C]) array of the input dtype (computed in float64).

    Raises:
        ValueError: on another dtype or number of dimensions, or a bad scale or shape.
    """
    is_uint8 = image.dtype == np.uint8
    if image.ndim not in (2, 3) or not (is_uint8 or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"image must be a (H, W) or (H, W, C) float or uint8 array, got {image.dtype} {image.shape}")
    out_shape, scales = _plan(image.shape[:2], scale, output_shape)
    out = image.astype(np.float64)
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # stable: H first on a tie, as MATLAB
        weights, indices = _contributions(image.shape[axis], out_shape[axis], scales[axis])
        moved = np.moveaxis(out, axis, 0)
        out = np.moveaxis(np.einsum("op,op...->o...", weights, moved[indices]), 0, axis)
        if is_uint8:  # MATLAB stores each pass as uint8: round half away from zero, saturate
            out = np.clip(np.floor(out + 0.5), 0, 255)
    return out.astype(image.dtype)


def imresize_torch(
    x: torch.Tensor, scale: float | None = None, output_shape: tuple[int, int] | None = None
) -> torch.Tensor:
    """Batched, differentiable :func:`imresize` for tensors on any device.

    Computes ``A_h @ x @ A_w.T`` with the dense per-axis weight matrices, so it equals
    :func:`imresize` of a float image up to float rounding (there is no uint8 mode).

    Args:
        x: (B, C, H, W) floating tensor, any range and units.
        scale: output/input size ratio, the same for both axes.
        output_shape: (H_out, W_out) in pixels.

    Returns:
        (B, C, H_out, W_out) tensor of the dtype and device of ``x``.
    """
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a (B, C, H, W) floating tensor, got {x.dtype} {tuple(x.shape)}")
    (out_h, out_w), (scale_h, scale_w) = _plan(tuple(x.shape[-2:]), scale, output_shape)
    rows = torch.tensor(_weight_matrix(x.shape[-2], out_h, scale_h), dtype=x.dtype, device=x.device)
    cols = torch.tensor(_weight_matrix(x.shape[-1], out_w, scale_w), dtype=x.dtype, device=x.device)
    return rows @ x @ cols.T


def resize_axis(data: np.ndarray, axis: int, scale: int, chunk_voxels: int = 1 << 24) -> np.ndarray:
    """MATLAB-compatible bicubic upscaling of a 3D array along one axis only.

    Args:
        data: (X, Y, Z) float32, any units.
        axis: the axis to upscale.
        scale: integer factor.
        chunk_voxels: output voxels computed per matrix product (bounds the temporary memory).

    Returns:
        float32 array, ``data.shape[axis] * scale`` long along ``axis``; output ``j`` at input
        index ``(j + 0.5) / scale - 0.5``.
    """
    length = data.shape[axis]
    # imresize along the rows only (columns keep their size, so their weights are the identity):
    # the rows' (length * scale, length) interpolation matrix.
    identity = torch.eye(length, dtype=torch.float64)[None, None]
    matrix = imresize_torch(identity, output_shape=(length * scale, length))[0, 0].float()
    src = np.moveaxis(data, axis, 0)
    out = np.empty((length * scale,) + src.shape[1:], dtype=np.float32)
    step = max(1, chunk_voxels // (length * scale * src.shape[2]))
    for start in range(0, src.shape[1], step):
        block = torch.from_numpy(np.ascontiguousarray(src[:, start:start + step], dtype=np.float32))
        resized = matrix @ block.reshape(length, -1)
        out[:, start:start + step] = resized.reshape(length * scale, -1, src.shape[2]).numpy()
    return np.moveaxis(out, 0, axis)


def interpolate_axis(data: np.ndarray, axis: int, scale: int) -> np.ndarray:
    """Bicubic interpolation (torch, a = -0.75, edge-clamped) of a 3D array along one axis.

    Returns:
        float32 array ``scale`` times longer along ``axis``; output ``j`` at input index
        ``(j + 0.5) / scale - 0.5`` (as :class:`mri_sr.nets.blocks.ImageSkip` with ``rows_only``).
    """
    moved = np.moveaxis(np.asarray(data, dtype=np.float32), axis, 0)
    flat = torch.from_numpy(np.ascontiguousarray(moved.reshape(moved.shape[0], -1)))[None, None]
    up = F.interpolate(flat, scale_factor=(scale, 1), mode="bicubic", align_corners=False)
    return np.moveaxis(up[0, 0].numpy().reshape((-1,) + moved.shape[1:]), 0, axis)


def bspline_axis(data: np.ndarray, axis: int, scale: int) -> np.ndarray:
    """Cubic B-spline interpolation (SciPy ``map_coordinates``, order 3, mirror ends) along one axis.

    The 1D interpolation is linear in the data, so it is computed once per unit vector (the
    columns of an ``(n * scale, n)`` matrix) and applied to every line along ``axis``. (SciPy's
    ``zoom`` with ``grid_mode`` samples the same positions but treats the ends differently, which
    reaches into the interior of short axes: ``tests/data/test_resample_axis.py``.)

    Returns:
        float32 array ``scale`` times longer along ``axis``, output ``j`` at input index
        ``(j + 0.5) / scale - 0.5``; the other axes unchanged.
    """
    moved = np.moveaxis(np.asarray(data, dtype=np.float64), axis, 0)
    length = moved.shape[0]
    rows = (np.arange(length * scale) + 0.5) / scale - 0.5
    matrix = np.stack([ndimage.map_coordinates(unit, [rows], order=3, mode="reflect") for unit in np.eye(length)],
                      axis=1)
    out = (matrix @ moved.reshape(length, -1)).astype(np.float32)
    return np.moveaxis(out.reshape((length * scale,) + moved.shape[1:]), 0, axis)


SINC_LOBES = 6  # Lanczos window: LR pixels on each side


@lru_cache(maxsize=None)
def sinc_taps(scale: int, lobes: int = SINC_LOBES) -> tuple[tuple[float, ...], ...]:
    """Lanczos weights: ``taps[r][j]`` for output phase r and LR offset ``j - lobes + 1``, rows sum to 1.

    Cached: every forward pass of a network with a sinc skip asks for them.
    """
    taps = []
    for r in range(scale):
        d = (r + 0.5) / scale - 0.5  # output pixel r of a block, in LR pixels from its block's centre
        row = [_lanczos(d - j, lobes) for j in range(-lobes + 1, lobes + 1)]
        total = sum(row)
        taps.append(tuple(w / total for w in row))
    return tuple(taps)


def _lanczos(x: float, lobes: int) -> float:
    if x == 0.0:
        return 1.0
    if abs(x) >= lobes:
        return 0.0
    px = math.pi * x
    return lobes * math.sin(px) * math.sin(px / lobes) / (px * px)


def _sinc_last(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Lanczos upsampling along the last axis, edges replicated."""
    width = x.shape[-1]
    padded = F.pad(x.reshape(-1, 1, width), (SINC_LOBES - 1, SINC_LOBES), mode="replicate").reshape(*x.shape[:-1], -1)
    phases = []
    for row in sinc_taps(scale):
        acc = torch.zeros_like(x)
        for j, w in enumerate(row):
            acc = acc + w * padded[..., j:j + width]
        phases.append(acc)
    return torch.stack(phases, dim=-1).reshape(*x.shape[:-1], width * scale)


def sinc_upsample(lr: torch.Tensor, scale: int, rows_only: bool = False) -> torch.Tensor:
    """Windowed-sinc (Lanczos, :data:`SINC_LOBES` lobes) upscaling, edges replicated.

    Close to what k-space zero filling gives for an image whose high frequencies were cut, without
    zero filling's assumption that the image is periodic. Sums of shifted copies, not
    convolutions, computed in float32.

    Args:
        lr: (B, C, h, w) float.
        scale: integer factor.
        rows_only: upscale the rows (H) only.

    Returns:
        (B, C, h*scale, w*scale) (``rows_only``: (B, C, h*scale, w)) in ``lr``'s dtype; output
        ``j`` at input index ``(j + 0.5) / scale - 0.5``.
    """
    x = lr.float()
    out = _sinc_last(x.transpose(-1, -2), scale).transpose(-1, -2)
    if not rows_only:
        out = _sinc_last(out, scale)
    return out.to(lr.dtype)


def kspace_truncate(hr: torch.Tensor, scale: int, factor: float | torch.Tensor = 1.0,
                    precision: torch.dtype = torch.float64) -> torch.Tensor:
    """Low-resolution magnitude images from the central k-space of ``hr`` (differentiable).

    An LR voxel covers ``scale`` HR voxels and is centred on them, as in the bicubic convention
    and the scanner's geometry: LR voxel ``i`` sits at HR index ``i*scale + (scale-1)/2``. A
    linear phase shifts the image by that half-block before the lowest ``(H/scale, W/scale)``
    frequencies (the index sets of an LR-sized FFT) are kept, so the band-limited reconstruction
    is sampled at those centres.

    Args:
        hr: (..., H, W) float, H and W multiples of ``scale``, any units.
        scale: integer factor; the output covers the same field of view, with intensities on the
            same scale as the input.
        factor: >= 1: keep only the central 1 / factor of the LR grid's frequencies (an
            acquisition coarser than the LR grid, e.g. 1.2 for a x4.8 truncation on a x4 grid);
            a number, or a tensor of one factor per image, broadcastable to ``hr.shape[:-2]``
            (e.g. (B, 1) for a (B, 1, H, W) batch).
        precision: the real dtype the transforms are computed in: float64, or float32 (faster;
            float32 rounding).

    Returns:
        (..., H // scale, W // scale) magnitude images, in ``hr``'s dtype.
    """
    h, w = hr.shape[-2], hr.shape[-1]
    shift = (scale - 1) / 2
    rows = _centre_indices(h // scale, h, hr.device)
    cols = _centre_indices(w // scale, w, hr.device)
    ky = torch.fft.fftfreq(h, device=hr.device, dtype=torch.float64)[rows][:, None]
    kx = torch.fft.fftfreq(w, device=hr.device, dtype=torch.float64)[cols][None, :]
    phase = torch.exp(torch.complex(torch.zeros_like(ky + kx), 2 * math.pi * shift * (ky + kx)))
    spectrum = torch.fft.fft2(hr.to(precision))
    low = spectrum[..., rows[:, None], cols[None, :]] * phase.to(spectrum.dtype)  # the kept frequencies
    if isinstance(factor, torch.Tensor):  # one factor per image: its cut-off beside the frequencies
        factor = factor.to(device=hr.device, dtype=torch.float64)[..., None, None]
    if isinstance(factor, torch.Tensor) or factor > 1.0:
        keep_rows = torch.fft.fftfreq(h // scale, dtype=torch.float64, device=hr.device).abs()[:, None] <= 0.5 / factor
        keep_cols = torch.fft.fftfreq(w // scale, dtype=torch.float64, device=hr.device).abs()[None, :] <= 0.5 / factor
        low = low * (keep_rows & keep_cols)
    return (torch.fft.ifft2(low).abs() / scale**2).to(hr.dtype)


def kspace_zero_fill(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bring LR images to HR size by zero-filling k-space, as a scanner's interpolation does.

    The inverse of :func:`kspace_truncate` (up to its magnitude and the Nyquist bin of even
    sizes): the LR spectrum becomes the centre of an HR-sized spectrum (zeros elsewhere), the
    half-block shift of the truncation is undone by a linear phase, and intensities keep their
    scale. No detail is added and the noise and ringing of the LR image stay: the result is still
    an LR-domain image, at HR size.

    Args:
        lr: (..., h, w) float images (intensities in any units).
        scale: integer factor; the output is (..., h*scale, w*scale).

    Returns:
        (..., h*scale, w*scale), the real part of the inverse transform, in ``lr``'s dtype.
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


def _centre_indices(n_low: int, n_high: int, device: torch.device) -> torch.Tensor:
    """HR spectrum indices of the ``n_low`` lowest frequencies (numpy's LR-sized FFT order)."""
    freqs = torch.fft.fftfreq(n_low, d=1.0 / n_low, device=device).round().long()
    return freqs % n_high


Array = TypeVar("Array", np.ndarray, torch.Tensor)


def restore_extremes(out: Array, unclipped: Array, clipped: Array, upsample: Callable[[Array], Array]) -> Array:
    """Add back, upscaled, what clipping took off the input: extremes keep their values.

    A network sees its input clipped to its training range; the excess ``unclipped - clipped``
    (non-zero only beyond that range) is brought to the output grid by ``upsample`` and added
    to ``out`` in place.

    Args:
        out: the network's output on the output grid (NumPy array or tensor), changed in place.
        unclipped, clipped: the input before and after clipping, same shape and kind as each other.
        upsample: maps an input-grid array to ``out``'s grid (e.g. :func:`imresize_torch` with a
            scale, or :func:`interpolate_axis` along the slice axis).

    Returns:
        ``out``.
    """
    excess = unclipped - clipped
    if bool(excess.any()):
        out += upsample(excess)
    return out


CLASSICAL = ("nearest", "bicubic", "lanczos")
"""The classical (non-learned) upscaling methods, in the order reports list them."""
_PIL_FILTERS = {"nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}


def classical_upscale(image: np.ndarray, scale: int, method: str) -> np.ndarray:
    """Upscale one image by ``scale`` with a classical method of :data:`CLASSICAL`.

    Args:
        image: (h, w) float32 (any units) or (h, w, 3) uint8 RGB.
        scale: integer factor.
        method: ``"bicubic"`` (MATLAB :func:`imresize`; uint8 rounded as MATLAB does), ``"nearest"``
            or ``"lanczos"`` (PIL, whose float mode takes single-channel float32 images).

    Returns:
        (h*scale, w*scale[, 3]) in ``image``'s dtype family: uint8 for uint8 input, else float.
    """
    if method == "bicubic":
        return imresize(image, float(scale))
    if method not in _PIL_FILTERS:
        raise ValueError(f"unknown classical method {method!r}; known: {', '.join(CLASSICAL)}")
    size = (image.shape[1] * scale, image.shape[0] * scale)
    return np.asarray(Image.fromarray(image).resize(size, _PIL_FILTERS[method]))
