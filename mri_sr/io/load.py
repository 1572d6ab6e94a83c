"""``load_volume``: one entry point for every supported scan format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mri_sr.errors import MriSrError
from mri_sr.io.volume import Volume, check_affine

BUILTIN_PREFIX = "builtin:"
BUILTINS = ("mni152",)


def _load_builtin(name: str) -> Volume:
    """Volumes shipped inside installed packages, usable offline."""
    if name == "mni152":
        from nilearn.datasets import load_mni152_template

        img = load_mni152_template(resolution=1)
        data = np.asarray(img.get_fdata(), dtype=np.float32)
        return Volume(data, img.affine.astype(np.float64), "MNI152 T1 1 mm template (nilearn)")
    hint = " (builtin:mni152-synth is a training source: give it in prepare's data.sources)" \
        if name.startswith("mni152-synth") else ""
    raise MriSrError(f"{BUILTIN_PREFIX}{name}: unknown built-in volume; known: {', '.join(BUILTINS)}{hint}")


def _check_readable(path: Path) -> None:
    """Report a file or folder this user may not read as such (not as an unknown file type)."""
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            raise MriSrError(f"{path}: cannot read folder (permission denied)")
        return
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise MriSrError(f"{path}: cannot read file ({(exc.strerror or str(exc)).lower()})") from None


def load_volume(path: str | Path, *, series: str | None = None) -> Volume:
    """Load a scan as a :class:`Volume` (float32, scanner units, RAS+ mm affine).

    Args:
        path: a NIfTI file (``.nii``, ``.nii.gz``), a DICOM series folder or single DICOM file,
            a fastMRI ``.h5`` file or ``builtin:mni152`` (the MNI152 T1 1 mm template that
            ships with nilearn).
        series: for a DICOM folder holding several series, the SeriesNumber, series key
            (:func:`mri_sr.io.dicom.series_key`) or SeriesInstanceUID (or a unique prefix) to load.

    Returns:
        The volume; 4D (time last) when the source holds several time points.

    Raises:
        MriSrError: a one-line message naming the path and the problem; a scan without voxels
            (a dimension of 0) and a degenerate affine (NaN, a zero column, singular) are refused
            here, for every format.
    """
    text = str(path)
    if text.startswith(BUILTIN_PREFIX):
        return _load_builtin(text[len(BUILTIN_PREFIX):])
    path = Path(path)
    volume = _load_path(path, series)
    if volume.data.size == 0:
        raise MriSrError(f"{path}: the scan holds no voxels (shape {'x'.join(map(str, volume.data.shape))})")
    check_affine(volume.affine, str(path))
    return volume


def _load_path(path: Path, series: str | None) -> Volume:
    """A file or folder by its type (extension, else DICOM magic); see :func:`load_volume`."""
    if not path.exists():
        if path.is_symlink():
            raise MriSrError(f"{path}: a symbolic link to nothing (broken, or a loop of links)")
        raise MriSrError(f"{path}: no such file or folder")
    _check_readable(path)
    name = path.name.lower()
    if path.is_dir() or name.endswith((".dcm", ".ima")):
        from mri_sr.io.dicom import load_dicom

        return load_dicom(path, series=series)
    if series is not None:
        raise MriSrError(f"{path}: --series only applies to DICOM folders")
    if name.endswith((".nii", ".nii.gz")):
        from mri_sr.io.nifti import load_nifti

        return load_nifti(path)
    if name.endswith((".h5", ".hdf5")):
        from mri_sr.io.hdf5 import load_fastmri

        return load_fastmri(path)
    from pydicom.misc import is_dicom

    if is_dicom(path):
        from mri_sr.io.dicom import load_dicom

        return load_dicom(path)
    raise MriSrError(f"{path}: unsupported file type (expected .nii, .nii.gz, .h5, DICOM file or folder)")
