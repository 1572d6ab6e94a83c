"""``load_dicom``: a DICOM series folder (or one multi-frame file) as a :class:`Volume`.

Steps: find DICOM files (the folder and its subfolders; non-DICOM files are skipped, empty ones
refused), group
them by SeriesInstanceUID, pick one series, turn every image into a frame record
(:mod:`mri_sr.io.dicom_frames`), order and check the frames and build the affine
(:mod:`mri_sr.io.dicom_stack`), then read and scale the pixels.

Result conventions match dcm2niix up to a reorientation (flips/permutation of axes):
same voxel values ("precise float" Philips scaling), same voxel positions in RAS+ mm.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.misc import is_dicom

from mri_sr.errors import MriSrError, one_line
from mri_sr.io.dicom_frames import Frame, classic_frames, enhanced_frames
from mri_sr.io.dicom_stack import read_pixels, stack_geometry
from mri_sr.io.volume import Volume

DESCRIPTION_CHARS = 32
"""SeriesDescription is cut to this length in the list of series shown to users."""

log = logging.getLogger(__name__)

KEY_CHARS = 8
"""Hex digits of a series key (:func:`series_key`)."""


def _read_header(path: Path) -> Dataset | None:
    """The header of a DICOM file (no pixels), or None if the file is not DICOM.

    Raises:
        MriSrError: a file marked as DICOM (``DICM`` after its preamble) whose header cannot be
            read (truncated or damaged), naming it.
    """
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError:
        return None
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError) as exc:
        if not is_dicom(path):
            return None
        raise MriSrError(f"{path}: unreadable DICOM file (truncated or damaged header: {one_line(exc, 120)}); "
                         "replace it or remove it from the folder") from None
    sop_class = ds.file_meta.get("MediaStorageSOPClassUID", "") if hasattr(ds, "file_meta") else ""
    if str(getattr(sop_class, "name", "")).endswith("Image Storage") and not ("Rows" in ds and "Columns" in ds):
        # pydicom stops quietly at the end of a cut file: an image whose header lacks its size was cut.
        raise MriSrError(f"{path}: unreadable DICOM file (an image whose header ends before its size: "
                         "truncated or damaged); replace it or remove it from the folder")
    return ds


def _dicom_headers(path: Path) -> list[tuple[Path, Dataset]]:
    """Every DICOM file under ``path`` with its header; other files are skipped (and counted in
    the log), but an empty file beside DICOM files is an error: it may be a slice whose copy failed.

    Raises:
        MriSrError: no DICOM file, an empty (0-byte) file that is not hidden among DICOM files,
            or a damaged DICOM header (:func:`_read_header`).
    """
    headers, skipped = [], []
    for file in _find_files(path):
        ds = _read_header(file)
        if ds is None:
            skipped.append(file)
        else:
            headers.append((file, ds))
    if not headers:
        raise MriSrError(f"{path}: no DICOM files found" if path.is_dir() else f"{path}: not a DICOM file")
    empty = [file for file in skipped if not file.name.startswith(".") and file.stat().st_size == 0]
    if empty:
        raise MriSrError(f"{empty[0]}: an empty file (0 bytes) among the DICOM files ({len(empty)} such); "
                         "a slice whose copy failed? copy it again or remove it")
    if skipped:
        log.info("%s: skipped %d file%s that %s not DICOM (e.g. %s)", path, len(skipped),
                 "s" if len(skipped) != 1 else "", "are" if len(skipped) != 1 else "is", skipped[0].name)
    return headers


def _find_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise MriSrError(f"{path}: folder is empty")
        return files
    if path.is_file():
        return [path]
    raise MriSrError(f"{path}: no such file or folder")


def _series_number(ds: Dataset) -> int:
    try:
        return int(ds.get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        return 0


def series_key(uid: str) -> str:
    """A short name of a series for users: the first 8 hex digits of its SeriesInstanceUID's
    SHA-256. UIDs are not shown, as many embed the scanner's serial number and the acquisition
    date and time."""
    return hashlib.sha256(uid.encode()).hexdigest()[:KEY_CHARS]


def _series_label(uid: str, members: list[tuple[Path, Dataset]]) -> str:
    """Number, description, file count and key of a series (never its UID)."""
    ds = members[0][1]
    description = str(ds.get("SeriesDescription", "")).strip()[:DESCRIPTION_CHARS]
    label = f"number {ds.get('SeriesNumber', '?')}"
    if description:
        label += f" {description!r}"
    return f"{label} ({len(members)} file{'s' if len(members) != 1 else ''}, key {series_key(uid)})"


def _pick_series(groups: dict[str, list[tuple[Path, Dataset]]], series: str | None, name: str) -> str:
    """The SeriesInstanceUID to load: the only one, or the one ``series`` names.

    ``series`` matches a full SeriesInstanceUID first, then a SeriesNumber, then a series key
    (:func:`series_key`, shown in the listing), then a unique UID prefix.
    """
    ordered = sorted(groups, key=lambda uid: (_series_number(groups[uid][0][1]), uid))
    listing = "; ".join(_series_label(uid, groups[uid]) for uid in ordered)
    if series is None:
        if len(groups) == 1:
            return ordered[0]
        raise MriSrError(f"{name}: holds {len(groups)} series, pick one with --series: {listing}")
    wanted = str(series).strip()
    if wanted in groups:
        return wanted
    by_number = [uid for uid in ordered if str(groups[uid][0][1].get("SeriesNumber", "")).strip() == wanted]
    by_key = [uid for uid in ordered if series_key(uid) == wanted.lower()]
    by_prefix = [uid for uid in ordered if uid.startswith(wanted)]
    for matches in (by_number, by_key, by_prefix):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise MriSrError(
                f"{name}: --series {wanted} matches {len(matches)} series; give its key: {listing}"
            )
    raise MriSrError(f"{name}: no series matches --series {wanted}; it holds: {listing}")


def _source(members: list[tuple[Path, Dataset]], enhanced: bool, n_frames: int, data: np.ndarray) -> str:
    """A short description with no patient-identifying fields."""
    ds = members[0][1]
    maker = (str(ds.get("Manufacturer", "")).split() or ["unknown vendor"])[0]
    modality = str(ds.get("Modality", "")).strip()
    n_files = len(members)
    kind = "enhanced multi-frame DICOM" if enhanced else "DICOM series"
    text = f"{kind} {ds.get('SeriesNumber', '?')}, {maker} {modality}".rstrip()
    text += f", {n_files} file{'s' if n_files != 1 else ''}"
    if enhanced:
        text += f", {n_frames} frames"
    text += f", {data.shape[2]} slices"
    if data.ndim == 4:
        text += f" x {data.shape[3]} volumes"
    return text


def load_dicom(path: str | Path, *, series: str | None = None) -> Volume:
    """Load one DICOM series as a :class:`Volume`.

    Slices are ordered along the slice normal by ImagePositionPatient (file names and
    InstanceNumber are ignored); several images at one position become time points (4D,
    time last), ordered by TemporalPositionIdentifier, AcquisitionTime, InstanceNumber
    (enhanced files: TemporalPositionIndex, DimensionIndexValues, frame number).

    Intensities: ``stored * RescaleSlope + RescaleIntercept``, applied per image. When a
    Philips private scale slope SS (2005,100E) is present, the values are dcm2niix's default
    "precise float" ``(stored * RS + RI) / (RS * SS)`` instead.

    Args:
        path: a folder of DICOM files (subfolders included; non-DICOM files skipped), or a
            single DICOM file (e.g. enhanced multi-frame MR).
        series: when the folder holds several series, the one to load: a SeriesInstanceUID,
            a SeriesNumber (as text), a series key (:func:`series_key`; the error listing the
            series shows each one's, never its UID) or a unique prefix of a SeriesInstanceUID.

    Returns:
        Volume with data (X, Y, Z) or (X, Y, Z, T) float32 in scanner units (X = column,
        Y = row of the DICOM pixel matrix, Z = slices ascending along the normal), affine
        (4, 4) float64 voxel index -> voxel centre in RAS+ mm, and a source text holding no
        patient fields (vendor, modality, series number, file and slice counts).

    Raises:
        MriSrError: one line naming the folder (or file) and the problem: empty folder, no
            DICOM files, an empty file among them, several series and no (or an unmatched) ``series``, slices of
            different sizes / orientations / pixel spacings, uneven slice gaps, incomplete
            time points, unreadable pixel data.
    """
    path = Path(path)
    name = str(path)
    headers = _dicom_headers(path)
    images = [(file, ds) for file, ds in headers if "Rows" in ds and "Columns" in ds]
    if not images:
        raise MriSrError(f"{name}: no DICOM images found ({len(headers)} DICOM files hold no pixel data)")

    groups: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for file, ds in images:
        groups[str(ds.get("SeriesInstanceUID", "")).strip()].append((file, ds))
    members = groups[_pick_series(groups, series, name)]

    frames: list[Frame] = []
    enhanced = False
    for file, ds in members:
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            raise MriSrError(f"{file}: colour images are not supported")
        if "PerFrameFunctionalGroupsSequence" in ds:
            enhanced = True
            frames.extend(enhanced_frames(ds, file))
        else:
            frames.extend(classic_frames(ds, file))
    order, affine = stack_geometry(frames, name)
    data = read_pixels(frames, order)
    if data.shape[3] == 1:
        data = data[:, :, :, 0]
    return Volume(
        data=np.ascontiguousarray(data),
        affine=affine,
        source=_source(members, enhanced, len(frames), data),
    )
