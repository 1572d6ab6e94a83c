"""The slice axis of a thick-slice scan, its factor and slice profile, and degradation of one axis.

A 2D multi-slice scan has fine in-plane spacing ``p`` and slice spacing ``d = S * p`` (``S`` the
integer factor). Each slice integrates the tissue over a box of the slice thickness ``t``
(``t < d``: a gap between slices; ``t = d``: contiguous slices). In fine voxels of size ``d / S``
the box is ``width = S * t / d`` wide and thick slice ``k`` is centred at fine index
``S * k + (S - 1) / 2`` (the voxel-centre convention of :func:`mri_sr.geometry.upscaled_affine`):
with ``t = d`` it is exactly the mean of fine voxels ``S k .. S k + S - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mri_sr.errors import MriSrError

FACTORS = (2, 3, 4)
"""Through-plane factors supported (the generators' one-axis upsampler)."""
RATIO_TOLERANCE = 0.03
"""A spacing ratio within 3 % of an integer is rounded to it."""
MIN_RATIO = 1.5
"""Below this slice-to-in-plane spacing ratio a scan counts as isotropic."""


@dataclass(frozen=True)
class SliceProfile:
    """Box slice profile in fine-voxel units.

    Attributes:
        factor: integer factor ``S`` between slice spacing and the fine grid.
        width: box width in fine voxels (``S`` for contiguous slices, less with a gap).
    """

    factor: int
    width: float

    def kernel(self) -> tuple[np.ndarray, int]:
        """Weights of the fine voxels one thick slice averages.

        Returns:
            ``(weights, first)``: (K,) float64 summing to 1, and the offset of the first weight
            from ``S * k``: thick slice ``k = sum_i weights[i] * fine[S * k + first + i]``. Each
            weight is the overlap of fine voxel ``[i - 0.5, i + 0.5]`` with the box.
        """
        centre = (self.factor - 1) / 2.0
        low, high = centre - self.width / 2.0, centre + self.width / 2.0
        first, last = math.floor(low + 0.5), math.ceil(high - 0.5)
        index = np.arange(first, last + 1, dtype=np.float64)
        weights = np.clip(np.minimum(index + 0.5, high) - np.maximum(index - 0.5, low), 0.0, None)
        keep = weights > 1e-9
        return weights[keep] / weights[keep].sum(), int(index[keep][0])


def profile_matrix(length: int, profile: SliceProfile, phase: int = 0) -> np.ndarray:
    """(n, length) float64 map from ``length`` fine voxels to ``n = (length - phase) // S`` thick slices.

    Thick slice ``k`` is centred at fine index ``phase + S * k + (S - 1) / 2``; weights that fall
    beyond the ends are given to the nearest end voxel (edge replication).
    """
    weights, first = profile.kernel()
    count = (length - phase) // profile.factor
    matrix = np.zeros((count, length), dtype=np.float64)
    for k in range(count):
        index = np.clip(phase + profile.factor * k + first + np.arange(len(weights)), 0, length - 1)
        np.add.at(matrix[k], index, weights)
    return matrix


def degrade_axis(data: np.ndarray, axis: int, profile: SliceProfile, phase: int = 0) -> np.ndarray:
    """Thick slices along ``axis`` of a fine array, as the scanner would have acquired them.

    Args:
        data: float array, any number of dimensions, fine spacing along ``axis``.
        axis: the axis to degrade.
        profile: the slice profile (factor and box width).
        phase: first fine voxel of thick slice 0.

    Returns:
        float32 array, ``(shape[axis] - phase) // S`` long along ``axis``, other axes unchanged.
    """
    matrix = profile_matrix(data.shape[axis], profile, phase).astype(np.float32)
    moved = np.moveaxis(np.asarray(data, dtype=np.float32), axis, 0)
    out = np.tensordot(matrix, moved, axes=(1, 0))
    return np.moveaxis(out, 0, axis)


def dicom_slice_thickness(path: str | Path) -> tuple[float | None, float | None]:
    """``(SliceThickness, SpacingBetweenSlices)`` in mm of a DICOM folder or file; None when absent.

    Reads those two tags of the first DICOM file found (sorted names), nothing else.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        try:
            ds = pydicom.dcmread(file, stop_before_pixels=True, specific_tags=["SliceThickness", "SpacingBetweenSlices"])
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError, IndexError):
            continue
        values = []
        for keyword in ("SliceThickness", "SpacingBetweenSlices"):
            try:
                value = float(ds.get(keyword))
            except (TypeError, ValueError):
                value = float("nan")
            values.append(value if np.isfinite(value) and value > 0 else None)
        return values[0], values[1]
    return None, None


def detect(spacing: tuple[float, float, float], *, scale: int | None = None, thickness: float | None = None,
           name: str = "input") -> tuple[int, SliceProfile]:
    """The slice axis and slice profile of a thick-slice scan.

    Args:
        spacing: voxel size of the three array axes, mm.
        scale: the factor to use (default: the slice-to-in-plane spacing ratio, rounded when
            within 3 % of an integer).
        thickness: slice thickness in mm (DICOM SliceThickness); default: the slice spacing
            (contiguous slices). Thinner than the spacing means a gap; the box is never wider
            than twice the spacing.
        name: file name for messages.

    Returns:
        ``(axis, profile)``: the axis of largest spacing and its :class:`SliceProfile`.

    Raises:
        MriSrError: an isotropic scan, a ratio far from an integer, or a factor not in 2, 3, 4.
    """
    axis = int(np.argmax(spacing))
    fine = float(np.mean([s for a, s in enumerate(spacing) if a != axis]))
    ratio = spacing[axis] / fine
    shown = " x ".join(f"{s:.4g}" for s in spacing)
    if ratio < MIN_RATIO:
        raise MriSrError(f"{name}: scan is nearly isotropic ({shown} mm); through-plane super-resolution needs thick slices")
    if scale is None:
        scale = round(ratio)
        if abs(ratio - scale) > RATIO_TOLERANCE * scale:
            raise MriSrError(f"{name}: slice spacing is {ratio:.3f} times the in-plane spacing ({shown} mm), not "
                             f"an integer factor; give --scale")
    if scale not in FACTORS:
        raise MriSrError(f"{name}: through-plane factor {scale} is not supported (supported: "
                         f"{', '.join(map(str, FACTORS))})")
    thickness = spacing[axis] if thickness is None else min(thickness, 2.0 * spacing[axis])
    return axis, SliceProfile(scale, scale * thickness / spacing[axis])
