"""DICOM headers -> :class:`Frame` records: one 2D image with its geometry and scaling.

Both storage kinds become the same records, so one stacking routine serves them:
classic single-frame files (one image per file, tags at the top level) and enhanced
multi-frame files (many images per file, tags in the Shared / Per-frame Functional Groups).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import TM

from mri_sr.errors import MriSrError

PHILIPS_SCALE_SLOPE = (0x2005, 0x100E)
"""Philips private scale slope SS (FL), in the 'Philips MR Imaging DD 001' block."""

PHILIPS_PER_FRAME = (0x2005, 0x140F)
"""Philips private per-frame sequence of enhanced files; may hold its own (2005,100E)."""


@dataclass(frozen=True)
class Frame:
    """One 2D image of a series, as its header describes it.

    Attributes:
        path: file holding the pixels.
        index: 0-based frame number in a multi-frame file; None for a single-frame file.
        shape: (Rows, Columns) of the pixel matrix.
        orientation: ImageOrientationPatient, 6 direction cosines in DICOM LPS: the direction
            along a row (increasing column index) then along a column (increasing row index).
        spacing: PixelSpacing in mm: (between rows, between columns).
        position: ImagePositionPatient, LPS mm: centre of the first (top-left) pixel.
        thickness: SpacingBetweenSlices, else SliceThickness, in mm (used for single slices only).
        slope: RescaleSlope (1 when absent).
        intercept: RescaleIntercept (0 when absent).
        private_slope: Philips scale slope SS from (2005,100E), or None (other vendors, or absent).
        order: sort key among frames at the same slice position (time, then other dimensions).
    """

    path: Path
    index: int | None
    shape: tuple[int, int]
    orientation: tuple[float, ...]
    spacing: tuple[float, float]
    position: tuple[float, float, float]
    thickness: float | None
    slope: float
    intercept: float
    private_slope: float | None
    order: tuple[float, ...]

    def scaling(self) -> tuple[float, float]:
        """Return ``(a, b)`` such that ``value = stored * a + b``.

        Without a Philips scale slope: ``a, b = RescaleSlope, RescaleIntercept`` (DICOM
        modality values). With one (Philips, (2005,100E) present and non-zero): dcm2niix's
        default "precise float" values ``(stored * RS + RI) / (RS * SS)``.
        """
        if self.private_slope is None:
            return self.slope, self.intercept
        denominator = self.slope * self.private_slope
        return self.slope / denominator, self.intercept / denominator


def _floats(value: object, count: int, what: str, path: Path) -> tuple[float, ...]:
    """Convert a multi-valued DS element to ``count`` floats, or raise a user error."""
    try:
        numbers = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != count or not all(np.isfinite(numbers)):
        raise MriSrError(f"{path}: {what} is missing or malformed ({value!r})")
    return numbers


def _spacing(value: object, what: str, path: Path) -> tuple[float, float]:
    """PixelSpacing as two positive floats (a negative one would mirror the image in space).

    Raises:
        MriSrError: missing, malformed, or not positive.
    """
    spacing = _floats(value, 2, what, path)
    if not min(spacing) > 0:
        raise MriSrError(f"{path}: {what} is {spacing[0]:g} x {spacing[1]:g} mm; pixel spacings must be positive")
    return spacing


def _number(value: object, default: float) -> float:
    """A single numeric tag value as float, ``default`` when absent or unreadable."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if np.isfinite(number) else default


def _rescale(source: Dataset, keyword: str, default: float, path: Path, where: str = "") -> float:
    """RescaleSlope or RescaleIntercept of ``source``: ``default`` when absent or empty.

    Raises:
        MriSrError: the value is present but not a finite number (the image's intensities
            would be scaled unlike its neighbours').
    """
    value = source.get(keyword)
    if value is None or str(value).strip() == "":
        return default
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise MriSrError(f"{path}: {where}{keyword} {str(value).strip()!r} is not a finite number; "
                         "its intensities cannot be scaled")
    return number


def _seconds(value: object) -> float:
    """A TM value ('HHMMSS.frac') as seconds after midnight; 0 when absent or unreadable."""
    try:
        time = TM(str(value).strip()) if value else None
    except (TypeError, ValueError):
        return 0.0
    if time is None:
        return 0.0
    return time.hour * 3600 + time.minute * 60 + time.second + time.microsecond / 1e6


def _philips_slope(ds: Dataset, item: Dataset | None = None) -> float | None:
    """The Philips private scale slope from ``item`` (or ``ds``), None when not applicable."""
    if "PHILIPS" not in str(ds.get("Manufacturer", "")).upper():
        return None
    element = (item if item is not None else ds).get(PHILIPS_SCALE_SLOPE)
    if element is None:
        return None
    value = element.value
    if isinstance(value, bytes):  # implicit VR read without the private dictionary: raw FL
        value = np.frombuffer(value[:4], dtype="<f4")[0] if len(value) >= 4 else None
    elif isinstance(value, (MultiValue, list)):
        value = value[0] if value else None
    slope = _number(value, 0.0)
    return slope if slope != 0.0 else None


def _thickness(source: Dataset) -> float | None:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _number(source.get(keyword), 0.0)
        if value > 0:
            return value
    return None


def classic_frames(ds: Dataset, path: Path) -> list[Frame]:
    """The single image of a classic (single-frame) DICOM file.

    Args:
        ds: header read with pydicom (pixels not needed).
        path: the file, named in error messages.

    Raises:
        MriSrError: the file lacks position, orientation or (positive) pixel spacing, holds several
            frames without per-frame geometry, or has a rescale that is not a number.
    """
    if int(_number(ds.get("NumberOfFrames"), 1)) > 1:
        raise MriSrError(f"{path}: multi-frame file without per-frame geometry is not supported")
    slope = _rescale(ds, "RescaleSlope", 1.0, path) or 1.0
    return [
        Frame(
            path=path,
            index=None,
            shape=(int(ds.Rows), int(ds.Columns)),
            orientation=_floats(ds.get("ImageOrientationPatient"), 6, "ImageOrientationPatient", path),
            spacing=_spacing(ds.get("PixelSpacing"), "PixelSpacing", path),
            position=_floats(ds.get("ImagePositionPatient"), 3, "ImagePositionPatient", path),
            thickness=_thickness(ds),
            slope=slope,
            intercept=_rescale(ds, "RescaleIntercept", 0.0, path),
            private_slope=_philips_slope(ds),
            order=(
                _number(ds.get("TemporalPositionIdentifier"), 0.0),
                _seconds(ds.get("AcquisitionTime")),
                _number(ds.get("InstanceNumber"), 0.0),
            ),
        )
    ]


def _group_item(frame_item: Dataset, shared: Dataset | None, keyword: str) -> Dataset | None:
    """First item of functional-group macro ``keyword``: per-frame first, then shared."""
    for source in (frame_item, shared):
        if source is not None and keyword in source and len(source[keyword].value):
            return source[keyword].value[0]
    return None


def enhanced_frames(ds: Dataset, path: Path) -> list[Frame]:
    """Every frame of an enhanced multi-frame file (e.g. Enhanced MR Image Storage).

    Geometry comes from PlanePositionSequence, PlaneOrientationSequence and
    PixelMeasuresSequence; scaling from PixelValueTransformationSequence (top-level
    RescaleSlope/Intercept when absent); the 4th-dimension order from FrameContentSequence
    (TemporalPositionIndex, then DimensionIndexValues, then frame number).

    Args:
        ds: header read with pydicom (pixels not needed).
        path: the file, named in error messages.

    Raises:
        MriSrError: a frame lacks position, orientation or (positive) pixel spacing, or has a rescale that
            is not a number; the per-frame groups describe another number of frames than
            NumberOfFrames (frame i's geometry would be given to another frame's pixels).
    """
    declared = int(_number(ds.get("NumberOfFrames"), 1))
    if len(ds.PerFrameFunctionalGroupsSequence) != declared:
        raise MriSrError(f"{path}: NumberOfFrames is {declared} but the per-frame functional groups describe "
                         f"{len(ds.PerFrameFunctionalGroupsSequence)} frames; the file is damaged")
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    instance = _number(ds.get("InstanceNumber"), 0.0)
    frames = []
    for index, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        plane = _group_item(item, shared, "PlanePositionSequence") or Dataset()
        orient = _group_item(item, shared, "PlaneOrientationSequence") or Dataset()
        measures = _group_item(item, shared, "PixelMeasuresSequence") or Dataset()
        values = _group_item(item, shared, "PixelValueTransformationSequence") or ds
        content = _group_item(item, shared, "FrameContentSequence") or Dataset()
        philips = _group_item(item, shared, PHILIPS_PER_FRAME)
        private_slope = _philips_slope(ds, philips) if philips is not None else None
        dimension = tuple(float(v) for v in (content.get("DimensionIndexValues") or ()))
        where = f"frame {index + 1}"
        frames.append(
            Frame(
                path=path,
                index=index,
                shape=(int(ds.Rows), int(ds.Columns)),
                orientation=_floats(orient.get("ImageOrientationPatient"), 6, f"{where} orientation", path),
                spacing=_spacing(measures.get("PixelSpacing"), f"{where} PixelSpacing", path),
                position=_floats(plane.get("ImagePositionPatient"), 3, f"{where} position", path),
                thickness=_thickness(measures),
                slope=_rescale(values, "RescaleSlope", 1.0, path, f"{where} ") or 1.0,
                intercept=_rescale(values, "RescaleIntercept", 0.0, path, f"{where} "),
                private_slope=private_slope if private_slope is not None else _philips_slope(ds),
                order=(_number(content.get("TemporalPositionIndex"), 0.0), instance, *dimension, float(index)),
            )
        )
    return frames
