"""Reorientation of volumes by axis permutation and flips (no resampling)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from mri_sr.io.volume import Volume


def reorient(volume: Volume, codes: str = "RAS") -> Volume:
    """Permute and flip the array so its axes point along ``codes`` (closest match).

    The same voxels keep the same world positions: only the array layout and the affine
    change. Extra (time) dimensions are carried along unchanged.
    """
    current = nib.orientations.io_orientation(volume.affine)
    target = nib.orientations.axcodes2ornt(tuple(codes))
    transform = nib.orientations.ornt_transform(current, target)
    data = nib.orientations.apply_orientation(volume.data, transform)
    affine = volume.affine @ nib.orientations.inv_ornt_aff(transform, volume.data.shape[:3])
    return Volume(np.ascontiguousarray(data), affine, volume.source)
