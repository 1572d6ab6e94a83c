"""fastMRI HDF5 reconstructions (``reconstruction_rss`` / ``reconstruction_esc``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np

from mri_sr.errors import MriSrError, one_line
from mri_sr.io.volume import Volume

KEYS = ("reconstruction_rss", "reconstruction_esc")


def _spacing_from_header(raw: bytes | str | None) -> tuple[float, float, float]:
    """In-plane and slice spacing (mm) from the ISMRMRD header's reconSpace, else 1 mm."""
    if raw is None:
        return (1.0, 1.0, 1.0)
    try:
        root = ET.fromstring(raw)
        ns = {"m": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
        pre = "m:" if ns else ""
        recon = root.find(f".//{pre}encoding/{pre}reconSpace", ns)
        fov = [float(recon.find(f"{pre}fieldOfView_mm/{pre}{a}", ns).text) for a in "xyz"]
        mat = [float(recon.find(f"{pre}matrixSize/{pre}{a}", ns).text) for a in "xyz"]
        return (fov[0] / mat[0], fov[1] / mat[1], fov[2] / mat[2])
    except (ET.ParseError, AttributeError, TypeError, ValueError, ZeroDivisionError):
        return (1.0, 1.0, 1.0)


def load_fastmri(path: Path) -> Volume:
    """Read a fastMRI ``.h5`` file's reconstruction, (slices, H, W) -> (W, H, slices).

    fastMRI files hold no patient geometry: the affine is diagonal with the spacing of the
    ISMRMRD header's ``reconSpace`` (field of view / matrix; slice spacing = encoded slab
    thickness), and array axes are taken as image columns, rows, slices.

    Raises:
        MriSrError: not an HDF5 file, or no reconstruction dataset in it (a group of that name
            included).
    """
    try:
        with h5py.File(path, "r") as f:
            key = next((k for k in KEYS if k in f), None)
            if key is None:
                raise MriSrError(f"{path}: HDF5 file has none of the datasets {', '.join(KEYS)}")
            if not isinstance(f[key], h5py.Dataset):
                raise MriSrError(f"{path}: {key} is an HDF5 group, not an image dataset")
            data = np.asarray(f[key], dtype=np.float32)
            header = f["ismrmrd_header"][()] if "ismrmrd_header" in f else None
    except OSError as exc:
        raise MriSrError(f"{path}: not a readable HDF5 file ({one_line(exc)})") from None
    if data.ndim != 3:
        raise MriSrError(f"{path}: {key} has shape {data.shape}; expected (slices, H, W)")
    spacing = _spacing_from_header(header)
    affine = np.diag([*spacing, 1.0])
    return Volume(np.ascontiguousarray(data.transpose(2, 1, 0)), affine, f"fastMRI HDF5 {path.name} ({key})")
