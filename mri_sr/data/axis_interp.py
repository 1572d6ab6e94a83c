"""Interpolation of a 3D array along one axis only (through-plane upscaling and its baselines).

Both functions use the voxel-centre convention of :func:`mri_sr.upscale.upscaled_affine`:
output voxel ``j`` lies at input index ``(j + 0.5) / scale - 0.5`` along the axis.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import nn


def interpolate_axis(data: np.ndarray, axis: int, scale: int) -> np.ndarray:
    """Bicubic interpolation (torch, a = -0.75, edge-clamped) of a 3D array along one axis.

    Returns:
        float32 array ``scale`` times longer along ``axis``; output ``j`` at input index
        ``(j + 0.5) / scale - 0.5`` (as :class:`mri_sr.nets.blocks.ImageSkip` with ``rows_only``).
    """
    moved = np.moveaxis(np.asarray(data, dtype=np.float32), axis, 0)
    flat = torch.from_numpy(np.ascontiguousarray(moved.reshape(moved.shape[0], -1)))[None, None]
    up = nn.functional.interpolate(flat, scale_factor=(scale, 1), mode="bicubic", align_corners=False)
    return np.moveaxis(up[0, 0].numpy().reshape((-1,) + moved.shape[1:]), 0, axis)


def bspline_axis(data: np.ndarray, axis: int, scale: int) -> np.ndarray:
    """Cubic B-spline interpolation (scipy ``map_coordinates``, order 3, mirror ends) along one axis.

    The 1D interpolation is linear in the data, so it is computed once per unit vector (the
    columns of an ``(n * scale, n)`` matrix) and applied to every line along ``axis``.

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
