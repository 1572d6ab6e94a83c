"""The degradation interface: each kind's NumPy and torch forwards agree, its records round-trip, old
records load, k-space zero filling inverts the truncation, only k-space LR has a projection among the
in-plane kinds, and the sampler swaps in-plane kinds only (the slice profile: test_slice_profile.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.data.degradation import (
    DEGRADATIONS,
    Bicubic,
    DegradationSampler,
    KSpace,
    KSpaceConsistency,
    from_dict,
    from_row,
    other_kind,
)
from mri_sr.resample import kspace_truncate, kspace_zero_fill

KINDS = [DEGRADATIONS[name] for name in sorted(DEGRADATIONS)]
IN_PLANE = [kind for kind in KINDS if kind.in_plane]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [2, 4])
def test_numpy_and_torch_forwards_agree_without_noise(kind, scale, slice_hr):
    degradation = kind(scale)
    numpy_lr = degradation(slice_hr, np.random.default_rng(0))
    torch_lr = degradation.downsample(torch.from_numpy(slice_hr)[None, None].double())[0, 0].numpy()
    width = slice_hr.shape[1] // scale if kind.in_plane else slice_hr.shape[1]  # one-axis kinds keep W
    assert numpy_lr.shape == torch_lr.shape == (slice_hr.shape[0] // scale, width)
    np.testing.assert_allclose(numpy_lr, torch_lr, atol=1e-6)  # the NumPy forward rounds to float32


@pytest.mark.parametrize("kind", KINDS)
def test_torch_forward_is_differentiable(kind):
    hr = torch.rand(2, 1, 16, 24, dtype=torch.float64, requires_grad=True)
    kind(4).downsample(hr).sum().backward()
    assert hr.grad is not None and hr.grad.abs().sum() > 0


@pytest.mark.parametrize("degradation", [KSpace(4, 0.0, 0.02), KSpace(3, 0.5, 0.0, kspace_factor=1.2),
                                         Bicubic(2, 0.7, 0.01), Bicubic(4)])
def test_records_round_trip(degradation):
    assert from_dict(degradation.to_dict()) == degradation
    row = degradation.to_row()
    assert from_row({key: str(value) for key, value in row.items()}) == degradation.replace(
        **({"kspace_factor": 1.0} if isinstance(degradation, KSpace) else {}))  # the manifest has no factor
    assert row["degradation"] == degradation.to_dict()["kind"] == degradation.name


def test_old_records_and_rows_load():
    # a checkpoint's / prepare.json's record as written before the degradation classes (every kind
    # carried kspace_factor), and a manifest row with its other columns
    old = {"kind": "bicubic", "scale": 4, "blur_sigma": 0.5, "noise_sigma": 0.0, "kspace_factor": 1.0}
    assert from_dict(old) == Bicubic(4, 0.5, 0.0)
    old_kspace = {"kind": "kspace", "scale": 2, "blur_sigma": 0.0, "noise_sigma": 0.01, "kspace_factor": 1.0}
    assert from_dict(old_kspace) == KSpace(2, 0.0, 0.01)
    assert from_dict(old_kspace).to_dict() == old_kspace
    row = {"shard": "s-train", "row": "3", "degradation": "kspace", "scale": "4", "blur_sigma": "0.0",
           "noise_sigma": "0.02", "seed": "0", "split": "train"}
    assert from_row(row) == KSpace(4, 0.0, 0.02)


def test_kspace_zero_fill_is_a_right_inverse_of_the_truncation():
    # odd LR sizes: no Nyquist bin, so truncating the zero-filled image gives the LR image back
    lr = 0.4 + 0.2 * torch.rand(2, 1, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    degradation = KSpace(3)
    up = degradation.upsample(lr)
    assert up.shape == (2, 1, 27, 33) and 0 < up.min() and up.max() < 1  # not clamped
    # the zero filling's phase ramp is float32: agreement to float32 precision
    torch.testing.assert_close(degradation.downsample(up), lr, atol=1e-6, rtol=0)
    torch.testing.assert_close(kspace_truncate(kspace_zero_fill(lr, 3), 3), lr, atol=1e-6, rtol=0)


def test_only_unblurred_kspace_lr_has_a_consistency_projection():
    assert KSpace(4, 0.0, 0.02).consistency() == KSpaceConsistency(4, 0.02)
    assert KSpace(4, 0.0, 0.0).consistency().to_dict() == {"noise_sigma": 0.0}
    assert KSpace(4, 0.6, 0.02).consistency() is None
    assert Bicubic(4).consistency() is None and Bicubic(4, 0.0, 0.02).consistency() is None


def test_registry_names_and_other_kind():
    assert all(cls.name == name for name, cls in DEGRADATIONS.items())
    assert set(IN_PLANE) == {Bicubic, KSpace}
    assert {other_kind(cls) for cls in IN_PLANE} == set(IN_PLANE)
    assert all(other_kind(cls) is not cls for cls in IN_PLANE)


@pytest.mark.parametrize("base", [KSpace(4, 0.0, 0.01), Bicubic(4, 0.3, 0.0)])
def test_sampler_draws_the_other_kind_only_as_often_as_asked(base):
    rng = np.random.default_rng(0)
    always = DegradationSampler(base, {"other_kind": 1.0})
    never = DegradationSampler(base, {"other_kind": 0.0})
    assert all(type(always.draw(rng).degradation) is other_kind(type(base)) for _ in range(20))
    drawn = [never.draw(rng).degradation for _ in range(20)]
    assert all(type(d) is type(base) and d.scale == base.scale for d in drawn)
    assert len({d.noise_sigma for d in drawn}) == len(drawn)  # drawn, not the base's
