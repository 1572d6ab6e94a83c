"""The slice-profile degradation: the box of each thick slice against direct computations, its
pseudo-inverse, its exact data-consistency projection and its records."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.data.degradation import (
    DEGRADATIONS,
    SliceProfile,
    SliceProfileConsistency,
    add_rician_noise,
    from_dict,
    from_row,
    other_kind,
)

PROFILES = [SliceProfile(scale=4), SliceProfile(scale=4, width=2.0), SliceProfile(scale=2, width=3.0),
            SliceProfile(scale=3, width=1.7)]


def test_contiguous_box_is_mean_of_s_slices():
    data = np.random.default_rng(0).random((5, 6, 17)).astype(np.float32)
    thick = SliceProfile(scale=4, width=4.0).degrade_axis(data, 2)
    direct = np.stack([data[:, :, 4 * k:4 * k + 4].mean(axis=2) for k in range(4)], axis=2)
    assert thick.shape == (5, 6, 4) and thick.dtype == np.float32
    np.testing.assert_allclose(thick, direct, rtol=1e-5, atol=1e-6)


def test_phase_shifts_the_thick_grid():
    data = np.random.default_rng(1).random((13, 3)).astype(np.float32)
    thick = SliceProfile(scale=3).degrade_axis(data, 0, phase=2)
    direct = np.stack([data[2 + 3 * k:5 + 3 * k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(thick, direct, rtol=1e-5, atol=1e-6)


def test_gap_keeps_the_central_part_of_each_slice():
    # 4 mm spacing, 2 mm thickness: a box over fine voxels 4k+1 and 4k+2 (centre 4k+1.5).
    data = np.random.default_rng(2).random((16, 4)).astype(np.float32)
    thick = SliceProfile(scale=4, width=2.0).degrade_axis(data, 0)
    direct = np.stack([data[4 * k + 1:4 * k + 3].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(thick, direct, rtol=1e-5, atol=1e-6)


def test_fractional_box_weights_partial_voxels():
    # x2, box 3 fine voxels wide centred at 2k + 0.5: half of voxel 2k-1 and of voxel 2k+2.
    data = np.random.default_rng(3).random(12).astype(np.float32)
    thick = SliceProfile(scale=2, width=3.0).degrade_axis(data, 0)
    for k in range(1, 5):
        direct = (0.5 * data[2 * k - 1] + data[2 * k] + data[2 * k + 1] + 0.5 * data[2 * k + 2]) / 3.0
        assert thick[k] == pytest.approx(direct, rel=1e-5)


def test_slice_forward_shrinks_the_rows_only_and_adds_rician_noise():
    hr = np.random.default_rng(4).uniform(0.2, 0.8, (24, 10)).astype(np.float32)
    clean = SliceProfile(scale=3)(hr, np.random.default_rng(0))
    assert clean.shape == (8, 10) and clean.dtype == np.float32
    np.testing.assert_array_equal(clean, SliceProfile(scale=3).degrade_axis(hr, 0))
    noisy = SliceProfile(scale=3, noise_sigma=0.05)
    first, again = noisy(hr, np.random.default_rng(1)), noisy(hr, np.random.default_rng(1))
    np.testing.assert_array_equal(first, again)
    assert 0.03 < np.std(first - clean) < 0.07
    rician = add_rician_noise(clean.astype(np.float64), 0.05, np.random.default_rng(1))  # the shared noise model
    np.testing.assert_array_equal(first, np.clip(rician, 0.0, 1.0).astype(np.float32))


@pytest.mark.parametrize("profile", PROFILES, ids=str)
def test_upsample_is_a_right_inverse_of_the_forward(profile):
    lr = 0.4 + 0.2 * torch.rand(2, 1, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    up = profile.upsample(lr)
    assert up.shape == (2, 1, 6 * profile.scale, 5)
    torch.testing.assert_close(profile.downsample(up), lr, atol=1e-10, rtol=0)


def test_contiguous_upsample_repeats_each_thick_slice():
    lr = torch.rand(1, 1, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(SliceProfile(scale=3).upsample(lr), lr.repeat_interleave(3, dim=2))


@pytest.mark.parametrize("profile", PROFILES, ids=str)
def test_noise_free_projection_is_the_exact_orthogonal_projection(profile):
    gen = torch.Generator().manual_seed(1)
    hr = torch.rand(3, 1, 8 * profile.scale, 7, dtype=torch.float64, generator=gen)
    sr = torch.rand(hr.shape, dtype=torch.float64, generator=gen)
    lr = profile.downsample(hr)
    projection = profile.consistency()
    assert projection == SliceProfileConsistency(profile) and projection.to_dict() == {"noise_sigma": 0.0}
    out = projection(sr, lr)
    torch.testing.assert_close(profile.downsample(out), lr, atol=1e-10, rtol=0)  # the thick slices are the LR's
    torch.testing.assert_close(projection(out, lr), out, atol=1e-10, rtol=0)  # idempotent
    # orthogonal: the move lies in the row space of the profile, so it is orthogonal to any
    # difference of two images with the same thick slices (here out - hr)
    assert abs(float(((out - sr) * (out - hr)).sum())) < 1e-9
    assert (out - hr).norm() < (sr - hr).norm()


def test_noisy_projection_stops_at_the_noise_ball():
    profile = SliceProfile(scale=4, noise_sigma=0.02)
    gen = torch.Generator().manual_seed(2)
    hr = torch.rand(2, 1, 32, 9, dtype=torch.float64, generator=gen)
    lr = profile.downsample(hr) + 0.5 * profile.noise_sigma * torch.randn(2, 1, 8, 9, dtype=torch.float64,
                                                                          generator=gen)
    sr = torch.rand(hr.shape, dtype=torch.float64, generator=gen)
    out = profile.consistency()(sr, lr)
    inverse = torch.linalg.pinv(torch.from_numpy(profile.matrix(32)))
    radius = 0.02 * float(inverse.norm()) * 9 ** 0.5
    distances = (inverse @ (lr - profile.downsample(out))).flatten(1).norm(dim=1)
    torch.testing.assert_close(distances, torch.full((2,), radius, dtype=torch.float64))
    assert radius == pytest.approx(0.02 * (32 * 9) ** 0.5)  # contiguous: the per-pixel noise level kept
    assert ((out - hr).flatten(1).norm(dim=1) < (sr - hr).flatten(1).norm(dim=1)).all()
    torch.testing.assert_close(profile.consistency()(hr, lr), hr)  # hr lies inside the ball: unchanged


def test_blurred_profile_has_no_projection():
    assert SliceProfile(scale=2, blur_sigma=0.5).consistency() is None


def test_records_round_trip():
    profile = SliceProfile(scale=3, blur_sigma=0.0, noise_sigma=0.01, width=2.5)
    record = profile.to_dict()
    assert record == {"kind": "slice_profile", "scale": 3, "blur_sigma": 0.0, "noise_sigma": 0.01, "width": 2.5}
    assert from_dict(record) == profile and DEGRADATIONS["slice_profile"] is SliceProfile
    assert SliceProfile(scale=3).width == 3.0  # default: contiguous slices
    row = {key: str(value) for key, value in profile.to_row().items()}
    assert from_row(row) == profile.replace(width=3.0)  # a manifest row has no width column


def test_the_sampler_never_swaps_in_the_one_axis_kind():
    assert not SliceProfile.in_plane and all(cls.in_plane for cls in DEGRADATIONS.values() if cls is not SliceProfile)
    with pytest.raises(ValueError):
        other_kind(SliceProfile)
