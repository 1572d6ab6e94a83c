"""fastMRI HDF5 reconstructions (``reconstruction_rss`` / ``reconstruction_esc``)."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np

from mri_sr.errors import MriSrError, one_line
from mri_sr.io.volume import Volume, to_float32

log = logging.getLogger(__name__)

KEYS = ("reconstruction_rss", "reconstruction_esc")


def _spacing_from_header(raw: bytes | str | None, path: Path) -> tuple[float, float, float]:
    """Voxel size (mm) from the ISMRMRD header's reconSpace (field of view / matrix size); 1 mm
    when the file has no header.

    Raises:
        MriSrError: a header that is not XML, lacks reconSpace's sizes, or gives a size that is
            not a positive number (a zero field of view is left to the affine check).
    """
    if raw is None:
        return (1.0, 1.0, 1.0)
    try:
        root = ET.fromstring(raw)
        ns = {"m": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
        pre = "m:" if ns else ""
        recon = root.find(f".//{pre}encoding/{pre}reconSpace", ns)
        fov = [float(recon.find(f"{pre}fieldOfView_mm/{pre}{a}", ns).text) for a in "xyz"]
        matrix = [float(recon.find(f"{pre}matrixSize/{pre}{a}", ns).text) for a in "xyz"]
    except (ET.ParseError, AttributeError, TypeError, ValueError) as exc:
        raise MriSrError(f"{path}: unreadable ismrmrd_header ({one_line(exc)}); its reconSpace gives the voxel "
                         "size") from None
    if not all(np.isfinite(fov + matrix)) or min(fov) < 0 or min(matrix) <= 0:
        raise MriSrError(f"{path}: ismrmrd_header reconSpace field of view {fov} mm over matrix {matrix}: "
                         "a voxel size must be a positive number")
    return (fov[0] / matrix[0], fov[1] / matrix[1], fov[2] / matrix[2])


def _image(dataset: h5py.Dataset, path: Path) -> np.ndarray:
    """A reconstruction dataset as float32: complex values as their magnitude (with a warning)."""
    dtype = dataset.dtype
    if np.issubdtype(dtype, np.complexfloating):
        log.warning("%s: complex %s; using its magnitude", path, dataset.name.lstrip("/"))
        return to_float32(lambda wanted: np.abs(dataset[()]).astype(wanted), str(path))
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise MriSrError(f"{path}: {dataset.name.lstrip('/')} holds {dtype} values, not image intensities")
    return to_float32(lambda wanted: np.asarray(dataset, dtype=wanted), str(path))


def load_fastmri(path: Path) -> Volume:
    """Read a fastMRI ``.h5`` file's reconstruction, (slices, H, W) -> (W, H, slices).

    fastMRI files hold no patient geometry: the affine is diagonal with the spacing of the
    ISMRMRD header's ``reconSpace`` (field of view / matrix; slice spacing = encoded slab
    thickness; 1 mm without a header), and array axes are taken as image columns, rows, slices.

    Raises:
        MriSrError: not an HDF5 file, no reconstruction dataset in it (a group of that name
            included; the message lists what the file holds, e.g. k-space only), values that are
            not numbers, or a header giving no voxel size.
    """
    try:
        with h5py.File(path, "r") as f:
            key = next((k for k in KEYS if k in f), None)
            if key is None:
                held = ", ".join(sorted(f.keys())) or "nothing"
                raise MriSrError(f"{path}: HDF5 file has none of the datasets {', '.join(KEYS)} (it holds: {held}; "
                                 "a raw file holding k-space only must be reconstructed first)")
            if not isinstance(f[key], h5py.Dataset):
                raise MriSrError(f"{path}: {key} is an HDF5 group, not an image dataset")
            data = _image(f[key], path)
            header = f["ismrmrd_header"][()] if "ismrmrd_header" in f else None
    except OSError as exc:
        raise MriSrError(f"{path}: not a readable HDF5 file ({one_line(exc)})") from None
    if data.ndim != 3:
        raise MriSrError(f"{path}: {key} has shape {data.shape}; expected (slices, H, W)")
    spacing = _spacing_from_header(header, path)
    affine = np.diag([*spacing, 1.0])
    return Volume(np.ascontiguousarray(data.transpose(2, 1, 0)), affine, f"fastMRI HDF5 {path.name} ({key})")
