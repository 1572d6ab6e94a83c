"""The Volume: voxel array in scanner units plus its place in scanner space, and its reorientation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from mri_sr.errors import MriSrError

MM_PER_UNIT = {"mm": 1.0, "micron": 1e-3, "meter": 1e3}
"""Length of one NIfTI spatial unit (``xyzt_units``) in mm."""


@dataclass(frozen=True)
class HeaderSpace:
    """How a NIfTI header placed a scan, kept so that an output of it is placed the same way.

    Both header transforms are stored relative to the :class:`Volume`'s affine as world -> world
    maps, so they follow the voxel grid through any reorientation or upscaling: the header's
    qform of a volume with affine ``A`` is ``qform_world @ A``, its sform ``sform_world @ A``.

    Attributes:
        qform_code, sform_code: NIfTI codes (0 unset, 1 scanner, 2 aligned, 3 Talairach, 4 MNI,
            5 template).
        qform_world, sform_world: (4, 4) float64 in mm, None when the code is 0.
        units: the file's spatial unit (``"mm"``, ``"micron"`` or ``"meter"``; ``xyzt_units``
            unknown is read as mm). The Volume's affine is in mm whatever the file's unit.
        xyzt_units: the file's ``xyzt_units`` code (spatial and time unit), written back as it
            is; None: mm and seconds.
    """

    qform_code: int = 1
    sform_code: int = 1
    qform_world: np.ndarray | None = None
    sform_world: np.ndarray | None = None
    units: str = "mm"
    xyzt_units: int | None = None

    def transforms(self, affine: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The (qform, sform) in mm of a grid with ``affine`` (None where the code is 0); with no
        stored world map a set code gives ``affine`` itself."""
        def one(code: int, world: np.ndarray | None) -> np.ndarray | None:
            if code == 0:
                return None
            return affine if world is None else world @ affine
        return one(self.qform_code, self.qform_world), one(self.sform_code, self.sform_world)


SCANNER = HeaderSpace()
"""The header of a scan read from DICOM, fastMRI or a built-in: qform and sform = the affine, scanner, mm."""


@dataclass(frozen=True)
class Volume:
    """A scan as loaded from any supported format.

    Attributes:
        data: (X, Y, Z) or (X, Y, Z, T) float32 array in the scanner's intensity units
            (rescale slope/intercept already applied); time (or any 4th dimension) is last.
        affine: (4, 4) float64 matrix mapping a voxel index (i, j, k, 1) to the *centre*
            of that voxel in RAS+ millimetres (the NIfTI convention).
        source: short description of where the data came from (format, vendor, file count).
            Never holds patient-identifying fields.
        header: the NIfTI transforms, their codes and the spatial unit to write the scan with
            (:class:`HeaderSpace`); :data:`SCANNER` for formats without them.
    """

    data: np.ndarray
    affine: np.ndarray
    source: str
    header: HeaderSpace = SCANNER

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along the three spatial array axes, in mm."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))

    @property
    def orientation(self) -> str:
        """Orientation codes of the array axes, e.g. ``"RAS"`` or ``"LPS"``."""
        return "".join(nib.aff2axcodes(self.affine))

    @property
    def n_volumes(self) -> int:
        """Number of 3D volumes (time points); 1 for a 3D scan."""
        return 1 if self.data.ndim == 3 else int(np.prod(self.data.shape[3:]))

    def on_grid(self, data: np.ndarray, affine: np.ndarray, source: str) -> Volume:
        """The same scan on another voxel grid: ``data`` whose voxel index -> RAS+ mm map is
        ``affine``. The header's transforms (with their codes) and unit follow the grid."""
        return dataclasses.replace(self, data=data, affine=np.asarray(affine, dtype=np.float64), source=source)

    def select(self, index: int | None, *, name: str = "input", option: str = "--volume") -> Volume:
        """Return one 3D volume.

        Args:
            index: time point (0-based) for 4D data; may be None for 3D data.
            name: file name used in error messages.
            option: where the user gives ``index`` (an option or config key), for messages.

        Raises:
            MriSrError: 4D data without an index, or an index out of range.
        """
        if self.data.ndim == 3:
            if index not in (None, 0):
                raise MriSrError(f"{name}: {option} {index} given but the scan is 3D")
            return self
        if index is None:
            raise MriSrError(
                f"{name}: scan is 4D with {self.n_volumes} volumes; pick one with {option} N (0-based)"
            )
        flat = self.data.reshape(self.data.shape[:3] + (-1,))
        if not 0 <= index < flat.shape[3]:
            raise MriSrError(f"{name}: {option} {index} is out of range (scan has {flat.shape[3]} volumes)")
        return self.on_grid(np.ascontiguousarray(flat[..., index]), self.affine, f"{self.source}, volume {index}")


def to_float32(read: Callable[[type], np.ndarray], name: str) -> np.ndarray:
    """Voxel values as float32, refusing finite values beyond float32's range (which a cast would
    silently make infinite).

    Args:
        read: gives the values in the dtype asked for (``np.float32`` first; ``np.float64``
            only where the float32 values hold infinities, to tell those the file holds from
            overflows).
        name: the file, for the message.

    Raises:
        MriSrError: a finite value beyond +-3.4e38.
    """
    with np.errstate(over="ignore"):
        values = read(np.float32)
    if np.isinf(values).any():
        wide = read(np.float64)
        overflow = np.isfinite(wide) & np.isinf(values)
        if overflow.any():
            largest = float(np.abs(wide[overflow]).max())
            raise MriSrError(f"{name}: {int(overflow.sum())} voxel values (up to {largest:.3g}) lie beyond the float32 "
                             f"range (+-{np.finfo(np.float32).max:.3g}); rescale the scan")
    return values


def check_affine(affine: np.ndarray, name: str, what: str = "affine") -> None:
    """A voxel -> world map that places every voxel: finite, no zero column, invertible.

    Raises:
        MriSrError: one line naming ``name`` (the file) and what is degenerate.
    """
    problem = affine_problem(affine)
    if problem is not None:
        raise MriSrError(f"{name}: the {what} {problem}; the scan has no place in space")


def affine_problem(affine: np.ndarray) -> str | None:
    """What makes a voxel -> world map place no voxel (e.g. ``"holds NaN or infinite values"``),
    or None for a usable one (finite, no zero column, invertible)."""
    matrix = np.asarray(affine, dtype=np.float64)
    if not np.all(np.isfinite(matrix)):
        return "holds NaN or infinite values"
    zero = [axis for axis in range(3) if not np.linalg.norm(matrix[:3, axis]) > 0]
    if zero:
        return f"gives array axis {zero[0]} a voxel size of 0 (a zero column or a zero field of view)"
    if not abs(np.linalg.det(matrix[:3, :3])) > 0:
        return "is singular (its axes are not independent)"
    return None


def reorient(volume: Volume, codes: str = "RAS") -> Volume:
    """Permute and flip the array so its axes point along ``codes`` (closest match).

    The same voxels keep the same world positions: only the array layout and the affine
    change (the header's transforms follow). Extra (time) dimensions are carried along unchanged.
    """
    current = nib.orientations.io_orientation(volume.affine)
    target = nib.orientations.axcodes2ornt(tuple(codes))
    transform = nib.orientations.ornt_transform(current, target)
    data = nib.orientations.apply_orientation(volume.data, transform)
    affine = volume.affine @ nib.orientations.inv_ornt_aff(transform, volume.data.shape[:3])
    return volume.on_grid(np.ascontiguousarray(data), affine, volume.source)
