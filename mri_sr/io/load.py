"""``load_volume``: one entry point for every supported scan format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mri_sr.errors import MriSrError
from mri_sr.io.volume import Volume

BUILTIN_PREFIX = "builtin:"
BUILTINS = ("mni152", "mni152-synth[:N[:SEED]]")


def _load_synth(name: str) -> Volume:
    """``mni152-synth[:N[:SEED]]``: N (default 4) synthetic contrasts of the template, seed 0 by default."""
    from mri_sr.data.synth import DEFAULT_VARIANTS, synth_volume

    parts = name.split(":")[1:]
    if len(parts) > 2 or not all(p.isdigit() for p in parts) or (parts and int(parts[0]) < 1):
        raise MriSrError(f"{BUILTIN_PREFIX}{name}: expected {BUILTIN_PREFIX}mni152-synth[:N[:SEED]] "
                         "with N >= 1 variants and an integer seed")
    numbers = [int(p) for p in parts] + [DEFAULT_VARIANTS, 0][len(parts):]
    return synth_volume(numbers[0], numbers[1])


def _load_builtin(name: str) -> Volume:
    """Volumes shipped inside installed packages, usable offline."""
    if name.split(":")[0] == "mni152-synth":
        return _load_synth(name)
    if name == "mni152":
        from nilearn.datasets import load_mni152_template

        img = load_mni152_template(resolution=1)
        data = np.asarray(img.get_fdata(), dtype=np.float32)
        return Volume(data, img.affine.astype(np.float64), "MNI152 T1 1 mm template (nilearn)")
    raise MriSrError(f"{BUILTIN_PREFIX}{name}: unknown built-in volume; known: {', '.join(BUILTINS)}")


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
            a fastMRI ``.h5`` file, ``builtin:mni152`` (the MNI152 T1 1 mm template that
            ships with nilearn) or ``builtin:mni152-synth[:N[:SEED]]`` (N synthetic contrasts
            of it as one 4D volume, :mod:`mri_sr.data.synth`).
        series: for a DICOM folder holding several series, the SeriesInstanceUID (or a
            unique prefix) or SeriesNumber to load.

    Returns:
        The volume; 4D (time last) when the source holds several time points.

    Raises:
        MriSrError: a one-line message naming the path and the problem.
    """
    text = str(path)
    if text.startswith(BUILTIN_PREFIX):
        return _load_builtin(text[len(BUILTIN_PREFIX):])
    path = Path(path)
    if not path.exists():
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
