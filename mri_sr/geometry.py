"""Grid geometry of upscaling: the voxel-centre convention, the output affine, the slice axis.

A NIfTI affine maps a voxel index to the *centre* of that voxel, so the field of view of an axis
with ``n`` voxels spans indices ``-0.5`` to ``n - 0.5``. Upscaling an axis by ``s`` gives
``n * s`` voxels of size ``spacing / s`` whose outer edges coincide with the input's: output voxel
``j`` is centred at input index ``(j + 0.5) / s - 0.5``. This is the pixel-area alignment of
MATLAB ``imresize`` (and so of the LR/HR pairs the networks are trained on), and the output affine
is ``input_affine @ [diag(1/s) | (1/s - 1) / 2]`` along the upscaled axes. The interpolators of
:mod:`mri_sr.resample` follow this convention.
"""

from __future__ import annotations

import numpy as np

SPACING_TOLERANCE = 0.01  # spacings within 1 % count as equal (default axis ties, isotropy)


def default_axis(spacing: tuple[float, float, float]) -> int:
    """The slice axis: the one with the largest spacing; the last of those within 1 % of it."""
    largest = max(spacing)
    return max(i for i, s in enumerate(spacing) if s >= largest * (1.0 - SPACING_TOLERANCE))


def upscaled_affine(affine: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Affine of the grid upscaled by ``factors`` per array axis, covering the same field of view.

    Args:
        affine: (4, 4) voxel index -> RAS+ mm of the voxel centre.
        factors: integer upscaling factor of each of the three array axes (1 = unchanged).

    Returns:
        (4, 4) float64: output voxel ``j`` along axis ``a`` is centred where input index
        ``(j + 0.5) / factors[a] - 0.5`` is.
    """
    inverse = 1.0 / np.asarray(factors, dtype=np.float64)
    index_map = np.eye(4)
    index_map[:3, :3] = np.diag(inverse)
    index_map[:3, 3] = (inverse - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ index_map


def is_isotropic(spacing: tuple[float, float, float]) -> bool:
    """Whether the three spacings agree within :data:`SPACING_TOLERANCE`."""
    return max(spacing) <= min(spacing) * (1.0 + SPACING_TOLERANCE)
