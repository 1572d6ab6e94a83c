"""NIfTI reading and writing (nibabel)."""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from mri_sr.errors import MriSrError, one_line
from mri_sr.fsutil import atomic_path
from mri_sr.io.volume import Volume

log = logging.getLogger(__name__)

QFORM_TOLERANCE = (1e-5, 1e-3)  # mm per voxel (matrix), mm (offset): a qform representing the affine


def load_nifti(path: Path) -> Volume:
    """Read a ``.nii`` / ``.nii.gz`` file.

    The affine is nibabel's best affine: the sform when its code is set, else the qform,
    so both header transforms are honoured. ``scl_slope``/``scl_inter`` are applied.

    Raises:
        MriSrError: unreadable, truncated or non-NIfTI file, or fewer than 3 dimensions.
    """
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise MriSrError(f"{path}: not a NIfTI file ({type(img).__name__})")
        data = img.get_fdata(dtype=np.float32)
    except MriSrError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise MriSrError(f"{path}: truncated or corrupt compressed NIfTI ({one_line(exc)})") from None
    except (nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError) as exc:
        raise MriSrError(f"{path}: not a readable NIfTI image ({one_line(exc)})") from None
    except (OSError, ValueError) as exc:
        raise MriSrError(f"{path}: cannot read NIfTI data ({one_line(exc)})") from None
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (3, 4):
        raise MriSrError(f"{path}: image has shape {data.shape}; a 3D or 4D volume is needed")
    return Volume(np.ascontiguousarray(data), img.affine.astype(np.float64), f"NIfTI file {path.name}")


def save_nifti(volume: Volume, path: str | Path) -> None:
    """Write ``volume`` as float32 NIfTI-1, atomically (temp file + rename).

    The sform is set from ``volume.affine`` (code 1, scanner). The qform (a rotation, zooms and a
    flip: it cannot hold a shear) is set too (code 1) when it represents the affine exactly, so
    the file reopens with the same array and affine in any reader. A sheared affine (e.g. a
    gantry-tilted CT-style series) is written with ``qform_code`` 0, with a warning, so that no
    reader places the scan by a qform that drops the tilt.
    """
    path = Path(path)
    img = nib.Nifti1Image(np.asarray(volume.data, dtype=np.float32), volume.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(volume.affine, code=1)
    img.set_qform(volume.affine, code=1)
    qform = img.header.get_qform()
    if not (np.allclose(qform[:3, :3], volume.affine[:3, :3], rtol=0, atol=QFORM_TOLERANCE[0])
            and np.allclose(qform[:3, 3], volume.affine[:3, 3], rtol=0, atol=QFORM_TOLERANCE[1])):
        img.set_qform(None)
        log.warning("%s: the affine is sheared (e.g. gantry tilt); written in the sform only (qform_code 0)", path)
    suffix = ".nii.gz" if path.name.endswith(".gz") else ".nii"
    with atomic_path(path, suffix=suffix) as tmp:
        nib.save(img, str(tmp))
