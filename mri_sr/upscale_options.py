"""The options of ``mri-sr upscale``, checked once when made, and the output-path check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mri_sr.device import PRECISIONS
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_file

DEFAULT_SCALE = 2
"""The factor of ``--method`` and of the shipped model when ``--scale`` is not given: a 1 mm
isotropic scan becomes 0.5 mm isotropic."""


@dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale a scan.

    Attributes:
        scale: with ``--method``: the factor (default :data:`DEFAULT_SCALE`); with a checkpoint it
            must match, if given; with neither: the shipped model of this factor (default
            :data:`DEFAULT_SCALE`).
        axis: slice axis 0, 1 or 2 (None: the largest spacing).
        batch_size: LR slices per forward pass.
        tile: LR tile size in pixels for slices too large for memory (None: whole slices).
        overlap: least overlap of tiles, LR pixels.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see :mod:`mri_sr.device`).
        volume: time point (0-based) of a 4D scan; required for 4D input.
        series: series of a DICOM folder holding several.
        fuse_orthogonal: isotropic scans: upscale along two axes and average (every axis
            upscaled); None: do so for an isotropic scan upscaled by a shipped model without
            ``axis``; False: in-plane only.
        self_ensemble: average a generator's outputs over the 4 quarter turns of each slice.
        data_consistency: project the outputs of a generator trained on k-space-truncated LR onto
            the scan's own k-space, up to the training noise level (:func:`mri_sr.upscale.load_upscaler`).
        progress: show a progress bar.

    Raises:
        MriSrError: on construction, an option out of range (one line naming the option).
    """

    scale: int | None = None
    axis: int | None = None
    batch_size: int = 8
    tile: int | None = None
    overlap: int = 8
    device: str = "auto"
    precision: str = "auto"
    volume: int | None = None
    series: str | None = None
    fuse_orthogonal: bool | None = None
    self_ensemble: bool = False
    data_consistency: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.scale is not None and self.scale not in (2, 3, 4):
            raise MriSrError(f"--scale {self.scale}: must be 2, 3 or 4")
        if self.axis is not None and self.axis not in (0, 1, 2):
            raise MriSrError(f"--axis {self.axis}: must be 0, 1 or 2")
        if self.batch_size < 1:
            raise MriSrError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.overlap < 0:
            raise MriSrError(f"--overlap {self.overlap}: must be at least 0")
        if self.tile is not None and self.tile <= 2 * self.overlap:
            raise MriSrError(f"--tile {self.tile}: must be larger than twice --overlap ({self.overlap})")
        if self.precision not in PRECISIONS:
            raise MriSrError(f"--precision {self.precision}: unknown (choose {', '.join(PRECISIONS)})")
        if self.volume is not None and self.volume < 0:
            raise MriSrError(f"--volume {self.volume}: must be at least 0")


def check_output(path: Path) -> None:
    """Fail early (before any work) on an output path that cannot be written."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise MriSrError(f"{path}: output must be a .nii or .nii.gz file")
    check_output_file(path)
