"""Slice profile, degradation of one axis and detection of the slice axis, against direct computations."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mri_sr.errors import MriSrError
from mri_sr.throughplane.selftrain import PairSampler
from mri_sr.throughplane.profile import SliceProfile, degrade_axis, detect, dicom_slice_thickness


def test_contiguous_box_is_mean_of_s_slices():
    data = np.random.default_rng(0).random((5, 6, 17)).astype(np.float32)
    thick = degrade_axis(data, 2, SliceProfile(4, 4.0))
    direct = np.stack([data[:, :, 4 * k:4 * k + 4].mean(axis=2) for k in range(4)], axis=2)
    assert thick.shape == (5, 6, 4)
    np.testing.assert_allclose(thick, direct, rtol=1e-5, atol=1e-6)


def test_phase_shifts_the_thick_grid():
    data = np.random.default_rng(1).random((13, 3)).astype(np.float32)
    thick = degrade_axis(data, 0, SliceProfile(3, 3.0), phase=2)
    direct = np.stack([data[2 + 3 * k:5 + 3 * k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(thick, direct, rtol=1e-5, atol=1e-6)


def test_gap_keeps_the_central_part_of_each_slice():
    # 4 mm spacing, 2 mm thickness: a box over fine voxels 4k+1 and 4k+2 (centre 4k+1.5).
    data = np.random.default_rng(2).random((16, 4)).astype(np.float32)
    thick = degrade_axis(data, 0, SliceProfile(4, 2.0))
    direct = np.stack([data[4 * k + 1:4 * k + 3].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(thick, direct, rtol=1e-5, atol=1e-6)


def test_fractional_box_weights_partial_voxels():
    # x2, box 3 fine voxels wide centred at 2k + 0.5: half of voxel 2k-1 and of voxel 2k+2.
    data = np.random.default_rng(3).random(12).astype(np.float32)
    thick = degrade_axis(data, 0, SliceProfile(2, 3.0))
    for k in range(1, 5):
        direct = (0.5 * data[2 * k - 1] + data[2 * k] + data[2 * k + 1] + 0.5 * data[2 * k + 2]) / 3.0
        assert thick[k] == pytest.approx(direct, rel=1e-5)


def test_detect_axis_factor_and_profile():
    axis, profile = detect((0.9, 0.9, 3.6))
    assert (axis, profile.factor, profile.width) == (2, 4, pytest.approx(4.0))
    axis, profile = detect((3.05, 1.0, 1.0), thickness=2.0)
    assert (axis, profile.factor) == (0, 3)
    assert profile.width == pytest.approx(3 * 2.0 / 3.05)


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
    profile = SliceProfile(4, 4.0)
    sampler = PairSampler(slices, profile, lr_size=(5, 12))
    lr, hr = sampler.sample(6, np.random.default_rng(5))
    assert lr.shape == (6, 1, 5, 12) and hr.shape == (6, 1, 20, 12)
    np.testing.assert_allclose(degrade_axis(hr.numpy(), 2, profile), lr.numpy(), rtol=1e-5, atol=1e-6)


def test_dicom_slice_thickness_reads_the_header():
    path = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    assert dicom_slice_thickness(path) == (float(ds.SliceThickness), None)
