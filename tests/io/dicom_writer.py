"""Write synthetic DICOM MR series with pydicom, for tests of the DICOM reader.

The geometry is given as a NIfTI-style affine (voxel index -> voxel centre, RAS+ mm) so a
test knows exactly where every stored value lies; the writer turns it into DICOM LPS tags.
Files get random names, are written in shuffled order and carry shuffled InstanceNumbers,
so a reader that trusts names or InstanceNumber fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

PATIENT_NAME = "Testperson^Secretname"
PATIENT_ID = "PID-7731-XQ"
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0])


def _ds(values: list[float]) -> list[str]:
    """DS strings (at most 16 characters each)."""
    return [f"{v:.10g}"[:16] for v in values]


def _base(series_uid: str, study_uid: str, frame_uid: str, series_number: int, description: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.Modality = "MR"
    ds.Manufacturer = "MriSrTest"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240102"
    ds.StudyTime = ds.SeriesTime = "120000"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.ProtocolName = description
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RepetitionTime = "2000"
    ds.EchoTime = "30"
    ds.MagneticFieldStrength = "3"
    return ds


def write_series(
    folder: str | Path,
    stored: np.ndarray,
    affine: np.ndarray,
    *,
    slope: float = 0.5,
    intercept: float = -10.0,
    series_number: int = 1,
    description: str = "synthetic",
    series_uid: str | None = None,
    seed: int = 0,
) -> list[Path]:
    """Write one classic (single-frame) MR series, one file per slice and time point.

    Args:
        folder: where the files go (created if missing).
        stored: (X, Y, Z) or (X, Y, Z, T) int16 stored values; X runs along DICOM columns
            (pixel matrix is ``stored[:, :, k].T``), Y along rows, Z across slices.
        affine: (4, 4) RAS+ voxel -> mm with orthogonal columns; column 2 is the slice step.
        slope, intercept: RescaleSlope / RescaleIntercept written to every file.
        series_number, description, series_uid: series identity (a new UID when None).
        seed: seeds the file names and the shuffles.

    Returns:
        The written paths, in writing order.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stored = np.asarray(stored, dtype=np.int16)
    if stored.ndim == 3:
        stored = stored[..., np.newaxis]
    n_x, n_y, n_z, n_t = stored.shape
    lps = LPS_FROM_RAS @ np.asarray(affine, dtype=np.float64)[:3]
    col_spacing, row_spacing, step = (float(np.linalg.norm(lps[:, i])) for i in range(3))
    orientation = np.concatenate([lps[:, 0] / col_spacing, lps[:, 1] / row_spacing])
    rng = np.random.default_rng(seed)
    study_uid, frame_uid = generate_uid(), generate_uid()
    series_uid = series_uid or generate_uid()

    slots = [(k, t) for t in range(n_t) for k in range(n_z)]
    instance_numbers = rng.permutation(len(slots)) + 1
    paths = []
    for number, slot in zip(instance_numbers, rng.permutation(len(slots))):
        k, t = slots[slot]
        ds = _base(series_uid, study_uid, frame_uid, series_number, description)
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = int(number)
        ds.AcquisitionNumber = 1
        ds.TemporalPositionIdentifier = t + 1
        ds.NumberOfTemporalPositions = n_t
        ds.AcquisitionTime = ds.ContentTime = f"1200{t * 2:02d}.000000"
        ds.ImagePositionPatient = _ds(list(lps[:, 3] + k * lps[:, 2]))
        ds.ImageOrientationPatient = _ds(list(orientation))
        ds.PixelSpacing = _ds([row_spacing, col_spacing])
        ds.SliceThickness = _ds([step])[0]
        ds.SpacingBetweenSlices = _ds([step])[0]
        ds.RescaleSlope = _ds([slope])[0]
        ds.RescaleIntercept = _ds([intercept])[0]
        ds.RescaleType = "US"
        ds.Rows, ds.Columns = n_y, n_x
        ds.PixelData = np.ascontiguousarray(stored[:, :, k, t].T).tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{rng.integers(1 << 40):010x}"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_enhanced(
    path: str | Path,
    stored: np.ndarray,
    affine: np.ndarray,
    *,
    slope: float = 0.5,
    intercept: float = -10.0,
    series_number: int = 1,
    seed: int = 0,
) -> Path:
    """Write one Enhanced MR Image Storage file holding every slice and time point.

    Frames are stored in shuffled order; each carries its PlanePositionSequence,
    PixelValueTransformationSequence and FrameContentSequence (DimensionIndexValues =
    [TemporalPositionIndex, InStackPositionNumber]); orientation and pixel spacing are shared.

    Args:
        path: the file to write.
        stored: (X, Y, Z) or (X, Y, Z, T) int16 stored values, laid out as in :func:`write_series`.
        affine: (4, 4) RAS+ voxel -> mm with orthogonal columns.
        slope, intercept: rescale written to every frame.
        series_number: SeriesNumber.
        seed: seeds the frame shuffle.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = np.asarray(stored, dtype=np.int16)
    if stored.ndim == 3:
        stored = stored[..., np.newaxis]
    n_x, n_y, n_z, n_t = stored.shape
    lps = LPS_FROM_RAS @ np.asarray(affine, dtype=np.float64)[:3]
    col_spacing, row_spacing, step = (float(np.linalg.norm(lps[:, i])) for i in range(3))
    orientation = np.concatenate([lps[:, 0] / col_spacing, lps[:, 1] / row_spacing])

    ds = _base(generate_uid(), generate_uid(), generate_uid(), series_number, "synthetic enhanced")
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR Image Storage
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.AcquisitionDateTime = "20240102120000"
    ds.Rows, ds.Columns = n_y, n_x
    slots = [(k, t) for t in range(n_t) for k in range(n_z)]
    frame_slots = [slots[i] for i in np.random.default_rng(seed).permutation(len(slots))]
    ds.NumberOfFrames = len(frame_slots)

    measures = Dataset()
    measures.PixelSpacing = _ds([row_spacing, col_spacing])
    measures.SliceThickness = _ds([step])[0]
    measures.SpacingBetweenSlices = _ds([step])[0]
    plane_orientation = Dataset()
    plane_orientation.ImageOrientationPatient = _ds(list(orientation))
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.PlaneOrientationSequence = [plane_orientation]
    ds.SharedFunctionalGroupsSequence = [shared]

    organization = generate_uid()
    ds.DimensionOrganizationSequence = [Dataset()]
    ds.DimensionOrganizationSequence[0].DimensionOrganizationUID = organization
    ds.DimensionIndexSequence = []
    for pointer in (0x00209128, 0x00209057):  # TemporalPositionIndex, InStackPositionNumber
        index = Dataset()
        index.DimensionOrganizationUID = organization
        index.DimensionIndexPointer = pointer
        index.FunctionalGroupPointer = 0x00209111  # FrameContentSequence
        ds.DimensionIndexSequence.append(index)

    per_frame = []
    for k, t in frame_slots:
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = k + 1
        content.TemporalPositionIndex = t + 1
        content.DimensionIndexValues = [t + 1, k + 1]
        position = Dataset()
        position.ImagePositionPatient = _ds(list(lps[:, 3] + k * lps[:, 2]))
        values = Dataset()
        values.RescaleSlope = _ds([slope])[0]
        values.RescaleIntercept = _ds([intercept])[0]
        values.RescaleType = "US"
        item = Dataset()
        item.FrameContentSequence = [content]
        item.PlanePositionSequence = [position]
        item.PixelValueTransformationSequence = [values]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    frames = [np.ascontiguousarray(stored[:, :, k, t].T) for k, t in frame_slots]
    ds.PixelData = np.stack(frames).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path
