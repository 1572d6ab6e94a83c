"""Percentile intensity normalisation to [0, 1], recorded so that it can be inverted."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mri_sr.errors import MriSrError

FOREGROUND_LEVEL = 0.05
"""Normalised intensity (in [0, 1]) above which a voxel is foreground, tissue rather than
background: ``prepare``'s slice selection, augmentation's contrast inversion, the evaluation
mask and through-plane training patches use it."""

@dataclass(frozen=True)
class Normalisation:
    """Linear map scanner units -> [0, 1]: ``(x - low) / (high - low)``, clipped.

    Attributes:
        low, high: scanner-unit intensities mapped to 0 and 1.
        low_percentile, high_percentile: the percentiles (0-100) they were taken at.
    """

    low: float
    high: float
    low_percentile: float
    high_percentile: float

    def apply(self, data: np.ndarray, clip: bool = True) -> np.ndarray:
        """Scanner units -> normalised float32 (clipped to [0, 1] unless ``clip=False``)."""
        out = (np.asarray(data, dtype=np.float32) - np.float32(self.low)) / np.float32(self.high - self.low)
        return np.clip(out, 0.0, 1.0) if clip else out

    def invert(self, data: np.ndarray) -> np.ndarray:
        """Normalised values -> scanner units (float32)."""
        return np.asarray(data, dtype=np.float32) * np.float32(self.high - self.low) + np.float32(self.low)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def fit_percentiles(data: np.ndarray, low_percentile: float, high_percentile: float, *, name: str) -> Normalisation:
    """Fit the normalisation of one volume.

    Args:
        data: volume in scanner units, any shape.
        low_percentile, high_percentile: percentiles in [0, 100], low < high.
        name: file name for error messages.

    Raises:
        MriSrError: percentiles outside [0, 100] or not increasing, the volume holds NaN/inf
            values or has no intensity range (e.g. all zero).
    """
    if not 0.0 <= low_percentile < high_percentile <= 100.0:
        raise MriSrError(f"{name}: normalisation percentiles {low_percentile:g}, {high_percentile:g} must satisfy "
                         "0 <= low < high <= 100")
    if not np.all(np.isfinite(data)):
        raise MriSrError(f"{name}: volume contains NaN or infinite values")
    low, high = np.percentile(data, [low_percentile, high_percentile])
    if not high > low:
        low, high = float(data.min()), float(data.max())
    if not high > low:
        raise MriSrError(f"{name}: volume has constant intensity {low:g}; it has no intensity range to normalise")
    return Normalisation(float(low), float(high), float(low_percentile), float(high_percentile))
