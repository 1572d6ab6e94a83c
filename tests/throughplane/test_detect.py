"""The slice axis, factor and slice profile of a scan (detect, DICOM thickness), and training pairs
made with that profile, against direct computations."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mri_sr.data.degradation import SliceProfile
from mri_sr.errors import MriSrError
from mri_sr.throughplane.apply import detect, dicom_slice_thickness
from mri_sr.throughplane.selftrain import PairSampler


def test_detect_axis_factor_and_profile():
    axis, profile = detect((0.9, 0.9, 3.6))
    assert (axis, profile) == (2, SliceProfile(scale=4, width=4.0))
    axis, profile = detect((3.05, 1.0, 1.0), thickness=2.0)
    assert (axis, profile.scale) == (0, 3)
    assert profile.width == pytest.approx(3 * 2.0 / 3.05)
    assert detect((1.0, 1.0, 3.0), thickness=9.0)[1].width == pytest.approx(6.0)  # at most twice the spacing


@pytest.mark.parametrize(("spacing", "words"), [
    ((1.0, 1.0, 1.1), "isotropic"),
    ((1.0, 1.0, 3.4), "not an integer factor"),
    ((1.0, 1.0, 6.0), "factor 6 is not supported"),
])
def test_detect_rejects_bad_geometry(spacing, words):
    with pytest.raises(MriSrError, match=words) as info:
        detect(spacing, name="scan.nii")
    assert str(info.value).startswith("scan.nii: ") and "\n" not in str(info.value)


def test_pairs_are_the_profile_of_their_hr_patch():
    slices = np.random.default_rng(4).random((3, 40, 30)).astype(np.float32)
    profile = SliceProfile(scale=4, width=4.0)
    sampler = PairSampler(slices, profile, lr_size=(5, 12))
    lr, hr = sampler.sample(6, np.random.default_rng(5))
    assert lr.shape == (6, 1, 5, 12) and hr.shape == (6, 1, 20, 12)
    np.testing.assert_allclose(profile.degrade_axis(hr.numpy(), 2), lr.numpy(), rtol=1e-5, atol=1e-6)


def test_dicom_slice_thickness_reads_the_header():
    path = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    assert dicom_slice_thickness(path) == (float(ds.SliceThickness), None)
