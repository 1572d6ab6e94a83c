"""NIfTI reading and writing (nibabel): the array, both header transforms with their codes, the unit."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np

from mri_sr.errors import MriSrError, one_line
from mri_sr.fsutil import atomic_path
from mri_sr.io.volume import MM_PER_UNIT, SCANNER, HeaderSpace, Volume, affine_problem, check_affine, to_float32

log = logging.getLogger(__name__)

QFORM_TOLERANCE = (1e-5, 1e-3)  # mm per voxel (matrix), mm (offset): a qform representing the affine
GZIP_MAGIC = b"\x1f\x8b"
DEFLATE_MAX_RATIO = 1032  # the most bytes one compressed byte of a deflate stream can give
UNIT_CODES = {0: "mm", 1: "meter", 2: "mm", 3: "micron"}  # xyzt_units & 7; 0 (unknown) is read as mm


def _spatial_unit(header: nib.Nifti1Header, path: Path) -> str:
    code = int(header["xyzt_units"]) & 0x07
    if code not in UNIT_CODES:
        raise MriSrError(f"{path}: unknown spatial unit code {code} in xyzt_units "
                         "(known: 0 unknown = mm, 1 meter, 2 mm, 3 micron)")
    return UNIT_CODES[code]


def _pixdim_places(raw: nib.Nifti1Header) -> bool:
    """Whether the file's own voxel sizes (``pixdim[1:4]``, before nibabel sets a 0 to 1) are all
    non-zero and finite: the qform and the pixdim grid are scaled by them."""
    zooms = np.asarray(raw["pixdim"][1:4], dtype=np.float64)
    return bool(np.all(np.abs(zooms) > 0) and np.all(np.isfinite(zooms)))


def _transforms(header: nib.Nifti1Header, raw: nib.Nifti1Header, path: Path) -> dict[str, np.ndarray | None]:
    """The header's usable transforms, in the file's unit: ``qform`` and ``sform`` (None where
    the code is 0, or for a degenerate qform beside a usable sform, with a warning), and ``best``,
    the one that places the scan (the sform when its code is set, else the qform, else the
    pixdim grid: nibabel's best affine).

    Raises:
        MriSrError: the transform that places the scan is degenerate (NaN, a zero column or
            voxel size of 0, singular, an invalid quaternion).
    """
    zooms = f"voxel size (pixdim) {' x '.join(f'{z:g}' for z in raw['pixdim'][1:4])}"
    sform = header.get_sform(coded=True)[0]
    if sform is not None:
        check_affine(sform, str(path), "sform")
    try:
        qform = header.get_qform(coded=True)[0]
        problem = None if qform is None else f"has a {zooms}" if not _pixdim_places(raw) else affine_problem(qform)
    except ValueError as exc:  # quaternion parameters b, c, d that are not part of a unit quaternion
        qform, problem = None, f"is invalid ({one_line(exc)})"
    if problem is not None:
        if sform is None:
            raise MriSrError(f"{path}: the qform {problem}; the scan has no place in space")
        log.warning("%s: the qform %s; the scan is placed by its sform, and outputs get no qform (qform_code 0)",
                    path, problem)
        qform = None
    if sform is None and qform is None and not _pixdim_places(raw):
        raise MriSrError(f"{path}: the header's {zooms}; a size of 0 or NaN leaves the scan without a place in space")
    best = sform if sform is not None else qform if qform is not None else header.get_base_affine()
    return {"qform": qform, "sform": sform, "best": best}


def _check_length(img: nib.Nifti1Image, path: Path) -> None:
    """Refuse a file shorter than its header's shape and data type need (before reading it)."""
    header = img.header
    shape = header.get_data_shape()
    if not all(n > 0 for n in shape):
        raise MriSrError(f"{path}: the header declares shape {shape}; every dimension must be at least 1")
    needed = int(img.dataobj.offset) + int(np.prod(header.get_data_shape(), dtype=np.float64)) * \
        header.get_data_dtype().itemsize  # the offset as read: nibabel's header then holds vox_offset 0
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
        return to_float32(lambda wanted: np.abs(np.asanyarray(img.dataobj)).astype(wanted), str(path))
    return to_float32(lambda wanted: img.get_fdata(dtype=wanted), str(path))


def load_nifti(path: Path) -> Volume:
    """Read a ``.nii`` / ``.nii.gz`` file.

    The affine is nibabel's best affine (the sform when its code is set, else the qform, else
    the pixdim grid), converted to mm from the file's spatial unit (micron, mm or meter); the
    qform and sform, each with its code, and ``xyzt_units`` are kept in :attr:`Volume.header`
    so :func:`save_nifti` writes them back; a degenerate qform (a voxel size of 0 in pixdim, NaN,
    an invalid quaternion) beside a usable sform is dropped with a warning (outputs get
    ``qform_code`` 0). ``scl_slope``/``scl_inter`` are applied; complex voxels become their
    magnitude. nibabel's messages are logged once, naming the file.

    Raises:
        MriSrError: unreadable, truncated or non-NIfTI file, a file shorter than its header says,
            an RGB image, values beyond float32's range, an unknown unit, a degenerate transform
            placing the scan, or fewer than 3 dimensions.
    """
    with _library_messages(path):
        img, raw, data = _read(path)
        units = _spatial_unit(img.header, path)
        transforms = _transforms(img.header, raw, path)
    while data.ndim > 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim not in (3, 4):
        raise MriSrError(f"{path}: image has shape {data.shape}; a 3D or 4D volume is needed")
    to_mm = np.diag([MM_PER_UNIT[units]] * 3 + [1.0])
    affine = to_mm @ transforms["best"].astype(np.float64)
    check_affine(affine, str(path))
    inverse = np.linalg.inv(affine)
    worlds = {kind: None if transforms[kind] is None else (to_mm @ transforms[kind]) @ inverse
              for kind in ("qform", "sform")}
    header = HeaderSpace(int(img.header["qform_code"]) if worlds["qform"] is not None else 0,
                         int(img.header["sform_code"]), worlds["qform"], worlds["sform"], units,
                         int(img.header["xyzt_units"]))
    return Volume(np.ascontiguousarray(data), affine, f"NIfTI file {path.name}", header)


def _check_compression(path: Path) -> None:
    """A ``.gz`` name holds gzip data, and a ``.nii`` name does not (nibabel picks the reader by name)."""
    with open(path, "rb") as f:
        compressed = f.read(2) == GZIP_MAGIC
    if compressed and not path.name.lower().endswith(".gz"):
        raise MriSrError(f"{path}: the file is gzip-compressed; name it .nii.gz")
    if path.name.lower().endswith(".gz") and not compressed and path.stat().st_size:
        raise MriSrError(f"{path}: the file is not gzip-compressed; name it .nii (if it is NIfTI)")


def _read(path: Path) -> tuple[nib.Nifti1Image, nib.Nifti1Header, np.ndarray]:
    """The image, its header as the file holds it (unfixed: nibabel's load sets a 0 pixdim to 1)
    and its voxels (:func:`_voxels`); every library error as one line."""
    _check_compression(path)
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise MriSrError(f"{path}: not a NIfTI file ({type(img).__name__})")
        with nib.openers.ImageOpener(str(path)) as f:
            raw = type(img.header).from_fileobj(f, check=False)
        _check_length(img, path)
        return img, raw, _voxels(img, path)
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


@contextlib.contextmanager
def _library_messages(path: Path) -> Iterator[None]:
    """Hold nibabel's log messages (it prints them with a handler of its own, and again through
    the root logger) while the block runs; when it succeeds, log each once as a warning naming
    ``path``. When it fails, its one-line error says what went wrong, and they are dropped."""
    logger = nib.imageglobals.logger
    held: list[logging.LogRecord] = []
    holder = logging.Handler()
    holder.emit = held.append  # type: ignore[method-assign]
    handlers, propagate = list(logger.handlers), logger.propagate
    for handler in handlers:
        logger.removeHandler(handler)
    logger.addHandler(holder)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(holder)
        for handler in handlers:
            logger.addHandler(handler)
        logger.propagate = propagate
    for message in dict.fromkeys(record.getMessage() for record in held if record.levelno >= logging.WARNING):
        log.warning("%s: %s", path, message)


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
    drops the tilt. ``xyzt_units`` is the header's (spatial and time unit as read), else mm
    and seconds.

    Raises:
        MriSrError: a voxel is NaN or infinite as float32 (e.g. beyond its range): no file is
            written; or the file cannot be written.
    """
    path = Path(path)
    with np.errstate(over="ignore"):
        data = np.asarray(volume.data, dtype=np.float32)
    bad = data.size - int(np.count_nonzero(np.isfinite(data)))
    if bad:
        raise MriSrError(f"{path}: the output would hold {bad} NaN or infinite voxels (values beyond the float32 "
                         "range?); nothing written")
    space = volume.header if volume.header is not None else SCANNER
    to_mm = np.diag([MM_PER_UNIT[space.units]] * 3 + [1.0])
    to_unit = np.linalg.inv(to_mm)
    qform_mm, sform_mm = space.transforms(volume.affine)
    img = nib.Nifti1Image(data, None)
    header = img.header
    header.set_xyzt_units(space.units, "sec")
    if space.xyzt_units is not None:
        header["xyzt_units"] = space.xyzt_units
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
