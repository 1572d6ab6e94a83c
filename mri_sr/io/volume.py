"""The Volume: voxel array in scanner units plus its place in scanner space."""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np

from mri_sr.errors import MriSrError


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
    """

    data: np.ndarray
    affine: np.ndarray
    source: str

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

    def select(self, index: int | None, *, name: str = "input") -> Volume:
        """Return one 3D volume.

        Args:
            index: time point (0-based) for 4D data; may be None for 3D data.
            name: file name used in error messages.

        Raises:
            MriSrError: 4D data without an index, or an index out of range.
        """
        if self.data.ndim == 3:
            if index not in (None, 0):
                raise MriSrError(f"{name}: --volume {index} given but the scan is 3D")
            return self
        if index is None:
            raise MriSrError(
                f"{name}: scan is 4D with {self.n_volumes} volumes; pick one with --volume N (0-based)"
            )
        flat = self.data.reshape(self.data.shape[:3] + (-1,))
        if not 0 <= index < flat.shape[3]:
            raise MriSrError(f"{name}: --volume {index} is out of range (scan has {flat.shape[3]} volumes)")
        return Volume(np.ascontiguousarray(flat[..., index]), self.affine, f"{self.source}, volume {index}")
