"""Stack DICOM frames into a volume: order along the slice normal, check, build the affine.

Conventions (the same as dcm2niix's before its own flips and reorientation):

* array axis X is the column index of the DICOM pixel matrix (along the row cosines),
  axis Y the row index (along the column cosines), axis Z the slice order along the normal
  ``row cosines x column cosines``, ascending; several frames at one slice position are
  the 4th (time) axis, ordered by each frame's ``order`` key;
* the affine maps (X, Y, Z) indices to voxel centres in RAS+ mm: DICOM's LPS world with its
  first two axes negated.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pydicom

from mri_sr.errors import MriSrError, one_line
from mri_sr.io.dicom_frames import Frame
from mri_sr.io.volume import to_float32

SAME_POSITION_MM = 0.01
"""Frames whose positions along the normal differ by less than this share a slice."""

ORIENTATION_TOLERANCE = 1e-4
"""Largest difference between direction cosines that still counts as the same orientation."""

SPACING_TOLERANCE = 0.01
"""Uneven slice gaps: allowed spread of the steps, as a fraction of the median step (min 0.01 mm)."""

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _describe(values: Counter, fmt) -> str:
    return " and ".join(fmt(value) for value, _ in values.most_common())


def _check_alike(frames: list[Frame], name: str) -> None:
    """Raise unless all frames share matrix size, orientation and pixel spacing."""
    sizes = Counter(frame.shape for frame in frames)
    if len(sizes) > 1:
        raise MriSrError(f"{name}: slices have different sizes ({_describe(sizes, lambda s: f'{s[0]}x{s[1]}')})")
    first = np.array(frames[0].orientation)
    if any(np.abs(np.array(f.orientation) - first).max() > ORIENTATION_TOLERANCE for f in frames):
        count = len({tuple(np.round(f.orientation, 3)) for f in frames})
        raise MriSrError(f"{name}: slices have {count} different orientations; they do not form one volume")
    spacings = Counter(tuple(np.round(f.spacing, 3)) for f in frames)
    if len(spacings) > 1:
        raise MriSrError(
            f"{name}: slices have different pixel spacings ({_describe(spacings, lambda s: f'{s[0]:g}x{s[1]:g} mm')})"
        )


def _image_name(frame: Frame) -> str:
    return frame.path.name if frame.index is None else f"{frame.path.name} frame {frame.index + 1}"


def stack_geometry(frames: list[Frame], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Order frames into a (Z, T) grid and compute the voxel-to-RAS affine.

    Slices are ordered by their ImagePositionPatient projected on the slice normal (never by
    file name or InstanceNumber). Irregular slice gaps are an error, not a warning: a missing
    slice would otherwise give a volume with silently wrong geometry.

    Args:
        frames: every frame of one series.
        name: folder or file named in error messages.

    Returns:
        ``(order, affine)``: order is a (Z, T) int array of indices into ``frames``;
        affine is (4, 4) float64, voxel index -> voxel centre in RAS+ mm.

    Raises:
        MriSrError: frames differ in size, orientation or pixel spacing; slice positions hold
            different numbers of frames; or slice positions are unevenly spaced.
    """
    _check_alike(frames, name)
    cosines = np.array(frames[0].orientation, dtype=np.float64)
    row_dir, col_dir = cosines[:3], cosines[3:]
    normal = np.cross(row_dir, col_dir)
    if not 0.5 < np.linalg.norm(normal) < 1.5:
        raise MriSrError(f"{name}: ImageOrientationPatient {frames[0].orientation} is not two unit vectors")
    normal /= np.linalg.norm(normal)
    positions = np.array([f.position for f in frames], dtype=np.float64)
    distance = positions @ normal

    slices: list[list[int]] = []
    for index in np.argsort(distance, kind="stable"):
        if slices and distance[index] - distance[slices[-1][-1]] < SAME_POSITION_MM:
            slices[-1].append(int(index))
        else:
            slices.append([int(index)])
    counts = Counter(len(members) for members in slices)
    if len(counts) > 1:
        usual = counts.most_common(1)[0][0]
        odd = next(members for members in slices if len(members) != usual)
        images = ", ".join(_image_name(frames[i]) for i in odd[:3]) + (", ..." if len(odd) > 3 else "")
        raise MriSrError(
            f"{name}: the slice at {distance[odd[0]]:.4g} mm along the slice normal holds {len(odd)} "
            f"image{'s' if len(odd) != 1 else ''} ({images}) where the others hold {usual}: "
            f"{'a duplicated image' if len(odd) > usual else 'a missing image'} (or an incomplete series)"
        )
    order = np.array([sorted(members, key=lambda i: frames[i].order) for members in slices], dtype=np.int64)

    first = positions[order[0, 0]]
    if len(slices) > 1:
        centres = np.array([distance[members].mean() for members in slices])
        steps = np.diff(centres)
        median = float(np.median(steps))
        if steps.max() - steps.min() > max(SAME_POSITION_MM, SPACING_TOLERANCE * median):
            raise MriSrError(
                f"{name}: slice positions are unevenly spaced (gaps from {steps.min():.3g} to "
                f"{steps.max():.3g} mm); a slice may be missing"
            )
        step = (positions[order[-1, 0]] - first) / (len(slices) - 1)
    else:
        step = normal * (frames[0].thickness or 1.0)

    row_spacing, col_spacing = frames[0].spacing
    lps = np.eye(4)
    lps[:3, 0] = row_dir * col_spacing
    lps[:3, 1] = col_dir * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = first
    return order, LPS_TO_RAS @ lps


def read_pixels(frames: list[Frame], order: np.ndarray) -> np.ndarray:
    """Read, scale and place every frame's pixels.

    Each file is decoded once with pydicom (``pixel_array``); each frame is scaled with its
    own :meth:`Frame.scaling` (slopes may differ between files).

    Args:
        frames: every frame of one series.
        order: (Z, T) indices into ``frames`` from :func:`stack_geometry`.

    Returns:
        (X, Y, Z, T) float32 array in scanner units; X = column, Y = row of the pixel matrix.

    Raises:
        MriSrError: a file's pixel data cannot be decoded or does not match its header, or its
            scaled values lie beyond float32's range.
    """
    rows, cols = frames[0].shape
    data = np.empty((cols, rows) + order.shape, dtype=np.float32)
    place = {int(i): (z, t) for (z, t), i in np.ndenumerate(order)}
    by_file: defaultdict[object, list[int]] = defaultdict(list)
    for index, frame in enumerate(frames):
        by_file[frame.path].append(index)
    for path, indices in by_file.items():
        try:
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
        except Exception as exc:  # pydicom raises many types for undecodable pixel data
            raise MriSrError(f"{path}: cannot read pixel data ({type(exc).__name__}: {one_line(exc)})") from None
        if pixels.ndim == 2:
            pixels = pixels[np.newaxis]
        if pixels.ndim != 3 or pixels.shape[1:] != (rows, cols):
            raise MriSrError(f"{path}: pixel data has shape {pixels.shape}, expected {rows}x{cols} frames")
        for index in indices:
            frame = frames[index]
            slot = 0 if frame.index is None else frame.index
            if slot >= len(pixels):
                raise MriSrError(f"{path}: frame {slot + 1} is missing from the pixel data")
            slope, intercept = frame.scaling()
            z, t = place[index]
            data[:, :, z, t] = to_float32(lambda wanted: (pixels[slot].T * slope + intercept).astype(wanted),
                                          str(path))
    return data
