"""NIfTI reading and writing (nibabel): the array, both header transforms with their codes, the unit."""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from mri_sr.errors import MriSrError, one_line
from mri_sr.fsutil import atomic_path
from mri_sr.io.volume import MM_PER_UNIT, SCANNER, HeaderSpace, Volume, check_affine

log = logging.getLogger(__name__)

QFORM_TOLERANCE = (1e-5, 1e-3)  # mm per voxel (matrix), mm (offset): a qform representing the affine
DEFLATE_MAX_RATIO = 1032  # the most bytes one compressed byte of a deflate stream can give
UNIT_CODES = {0: "mm", 1: "meter", 2: "mm", 3: "micron"}  # xyzt_units & 7; 0 (unknown) is read as mm


def _spatial_unit(header: nib.Nifti1Header, path: Path) -> str:
    code = int(header["xyzt_units"]) & 0x07
    if code not in UNIT_CODES:
        raise MriSrError(f"{path}: unknown spatial unit code {code} in xyzt_units "
                         "(known: 0 unknown = mm, 1 meter, 2 mm, 3 micron)")
    return UNIT_CODES[code]


def _check_pixdim(header: nib.Nifti1Header, path: Path) -> None:
    """Refuse voxel sizes (``pixdim[1:4]``) of 0 or NaN where they place the scan (no sform):
    nibabel would quietly take them as 1 (a negative size is taken as its absolute value)."""
    if int(header["sform_code"]) > 0:
        return
    zooms = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    if not np.all(np.abs(zooms) > 0):
        raise MriSrError(f"{path}: the header's voxel size (pixdim) is {' x '.join(f'{z:g}' for z in zooms)}; "
                         "a size of 0 or NaN leaves the scan without a place in space")


def _check_length(img: nib.Nifti1Image, path: Path) -> None:
    """Refuse a file shorter than its header's shape and data type need (before reading it)."""
    header = img.header
    shape = header.get_data_shape()
    if not all(n > 0 for n in shape):
        raise MriSrError(f"{path}: the header declares shape {shape}; every dimension must be at least 1")
    needed = int(header["vox_offset"]) + int(np.prod(header.get_data_shape(), dtype=np.float64)) * \
        header.get_data_dtype().itemsize
    if path.name.lower().endswith(".gz"):
        size = path.stat().st_size
        if needed >= 1 << 32:  # the gzip trailer holds the length modulo 2**32; deflate expands 1032:1 at most
            held = size * DEFLATE_MAX_RATIO
        else:
            with open(path, "rb") as f:
                f.seek(-4, os.SEEK_END)
                held = int.from_bytes(f.read(4), "little")
    else:
        held = path.stat().st_size
    if held < needed:
        shape = "x".join(map(str, header.get_data_shape()))
        raise MriSrError(f"{path}: the file is shorter than its header says (shape {shape} of "
                         f"{header.get_data_dtype()} needs {needed} bytes, the file holds {held})")


def _voxels(img: nib.Nifti1Image, path: Path) -> np.ndarray:
    """The voxel values as float32 in scanner units: complex data as its magnitude; RGB refused."""
    dtype = img.get_data_dtype()
    if dtype.fields is not None:
        raise MriSrError(f"{path}: an RGB colour image ({dtype}); a greyscale scan is needed")
    if np.issubdtype(dtype, np.complexfloating):
        log.warning("%s: complex voxels; using their magnitude", path)
        return np.abs(np.asanyarray(img.dataobj)).astype(np.float32)
    return img.get_fdata(dtype=np.float32)


def load_nifti(path: Path) -> Volume:
    """Read a ``.nii`` / ``.nii.gz`` file.

    The affine is nibabel's best affine (the sform when its code is set, else the qform, else
    the pixdim grid), converted to mm from the file's spatial unit (micron, mm or meter); the
    qform and sform, each with its code, and the unit are kept in :attr:`Volume.header` so
    :func:`save_nifti` writes them back. ``scl_slope``/``scl_inter`` are applied; complex
    voxels become their magnitude.

    Raises:
        MriSrError: unreadable, truncated or non-NIfTI file, a file shorter than its header says,
            an RGB image, an unknown unit, a degenerate transform, or fewer than 3 dimensions.
    """
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise MriSrError(f"{path}: not a NIfTI file ({type(img).__name__})")
        units = _spatial_unit(img.header, path)
        with nib.openers.ImageOpener(str(path)) as f:  # unfixed: nibabel's load sets a 0 pixdim to 1
            _check_pixdim(type(img.header).from_fileobj(f, check=False), path)
        _check_length(img, path)
        data = _voxels(img, path)
    except MriSrError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise MriSrError(f"{path}: truncated or corrupt compressed NIfTI ({one_line(exc)})") from None
    except (nib.filebasedimages.ImageFileError, nib.spatialimages.HeaderDataError) as exc:
        raise MriSrError(f"{path}: not a readable NIfTI image ({one_line(exc)})") from None
    except MemoryError:
        shape = "x".join(map(str, img.header.get_data_shape()))
        raise MriSrError(f"{path}: the header's shape {shape} needs more memory than this machine has") from None
    except (OSError, ValueError, TypeError, OverflowError) as exc:
        raise MriSrError(f"{path}: cannot read NIfTI data ({one_line(exc)})") from None
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (3, 4):
        raise MriSrError(f"{path}: image has shape {data.shape}; a 3D or 4D volume is needed")
    to_mm = np.diag([MM_PER_UNIT[units]] * 3 + [1.0])
    affine = to_mm @ img.affine.astype(np.float64)
    check_affine(affine, str(path))
    inverse = np.linalg.inv(affine)
    worlds = {}
    for kind, (matrix, code) in (("qform", img.header.get_qform(coded=True)),
                                 ("sform", img.header.get_sform(coded=True))):
        if matrix is not None:
            check_affine(matrix, str(path), kind)
            worlds[kind] = (to_mm @ matrix) @ inverse
    header = HeaderSpace(int(img.header["qform_code"]), int(img.header["sform_code"]),
                         worlds.get("qform"), worlds.get("sform"), units)
    return Volume(np.ascontiguousarray(data), affine, f"NIfTI file {path.name}", header)


def _represents(qform: np.ndarray, affine: np.ndarray) -> bool:
    return (np.allclose(qform[:3, :3], affine[:3, :3], rtol=0, atol=QFORM_TOLERANCE[0])
            and np.allclose(qform[:3, 3], affine[:3, 3], rtol=0, atol=QFORM_TOLERANCE[1]))


def save_nifti(volume: Volume, path: str | Path) -> None:
    """Write ``volume`` as float32 NIfTI-1, atomically (temp file + rename).

    The qform and sform are those of :attr:`Volume.header` on this grid, each with its own code
    (a code 0 stays unset), in the header's spatial unit; a scan without a NIfTI header
    (:data:`~mri_sr.io.volume.SCANNER`) gets both = ``volume.affine``, code 1 (scanner), in mm.
    ``pixdim`` holds the voxel size. The qform (a rotation, zooms and a flip: it cannot hold a
    shear) is written only when it represents its matrix exactly, so the file reopens with the
    same transforms in any reader; a sheared one (e.g. a gantry-tilted CT-style series) is left
    unset (``qform_code`` 0) with a warning, so that no reader places the scan by a qform that
    drops the tilt.
    """
    path = Path(path)
    space = volume.header if volume.header is not None else SCANNER
    to_mm = np.diag([MM_PER_UNIT[space.units]] * 3 + [1.0])
    to_unit = np.linalg.inv(to_mm)
    qform_mm, sform_mm = space.transforms(volume.affine)
    img = nib.Nifti1Image(np.asarray(volume.data, dtype=np.float32), None)
    header = img.header
    header.set_xyzt_units(space.units, "sec")
    zooms = np.linalg.norm((to_unit @ volume.affine)[:3, :3], axis=0)
    header.set_zooms(tuple(zooms) + (1.0,) * (volume.data.ndim - 3))
    header.set_sform(None if sform_mm is None else to_unit @ sform_mm, code=space.sform_code)
    header.set_qform(None, code=0)
    if qform_mm is not None:
        header.set_qform(to_unit @ qform_mm, code=space.qform_code)
        if not _represents(to_mm @ header.get_qform(), qform_mm):
            header.set_qform(None, code=0)
            log.warning("%s: the affine is sheared (e.g. gantry tilt); written in the sform only (qform_code 0)", path)
    suffix = ".nii.gz" if path.name.lower().endswith(".gz") else ".nii"
    with atomic_path(path, suffix=suffix) as tmp:
        nib.save(img, str(tmp))
