"""Fixtures shared by the data tests: the MNI template prepared at x4, and one of its slices."""

from __future__ import annotations

import numpy as np
import pytest
from monai.data import set_track_meta

from mri_sr.config import validate_config
from mri_sr.data.manifest import load_split
from mri_sr.data.prepare import prepare
from mri_sr.io import load_volume


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """Train split of the MNI template prepared at x4 with the default k-space + Rician degradation."""
    out = tmp_path_factory.mktemp("prepared") / "x4"
    prepare(validate_config({"data": {"degradation": {"kind": "kspace", "noise_sigma": 0.01}}}), 4, out)
    set_track_meta(False)
    return load_split(out, "train")


@pytest.fixture(scope="session")
def slice_hr() -> np.ndarray:
    """An axial MNI slice, (H, W) float32, intensities in [0.1, 0.8] (no clipping by either forward)."""
    hr = load_volume("builtin:mni152").data[:, :, 90]
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4] / hr.max()
    return np.ascontiguousarray(0.1 + 0.7 * hr, np.float32)
