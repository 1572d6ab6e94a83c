"""Cycle and identity losses; resampling checked against PIL's bicubic (an independent code)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data, transform

from mri_sr.data.degradation import Bicubic, KSpace
from mri_sr.losses import CycleLoss, IdentityLoss, LRConsistencyLoss
from mri_sr.resample import imresize, kspace_truncate


def nearest_up2(x: torch.Tensor) -> torch.Tensor:
    return x.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)


def avg_down2(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def kspace_np(image: np.ndarray, scale: int) -> np.ndarray:
    """k-space truncation of a float64 (H, W) array."""
    return kspace_truncate(torch.from_numpy(np.asarray(image, np.float64)), scale).numpy()


def ref_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The numpy MATLAB-compatible resize to (height, width), clipped to [0, 1]."""
    return np.clip(imresize(image.astype(np.float64), output_shape=size), 0, 1)


def _t(image: np.ndarray) -> torch.Tensor:
    return torch.tensor(image, dtype=torch.float32)[None, None]


def camera(size: int) -> np.ndarray:
    return transform.resize(data.camera() / 255.0, (size, size), anti_aliasing=True)


def test_forward_cycle_of_exact_inverses_is_zero() -> None:
    lr = torch.rand(2, 1, 4, 5, generator=torch.Generator().manual_seed(0))
    # G_LR(G_HR(lr)) with G_HR = nearest x2 upsampling, G_LR = 2x2 average pooling: exact
    assert CycleLoss()(avg_down2(nearest_up2(lr)), lr).item() == 0.0


def test_backward_cycle_hand_value() -> None:
    # one 2x2 block [[1, 0], [0, 0]]: block mean 0.25, |x - mean| = .75, .25, .25, .25
    hr = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert CycleLoss()(nearest_up2(avg_down2(hr)), hr).item() == pytest.approx(0.375)
    # columns alternating 0/1: every block mean is 0.5, every pixel is 0.5 away from it
    stripes = torch.tensor([[0.0, 1.0, 0.0, 1.0]]).repeat(4, 1)[None, None]
    assert CycleLoss()(nearest_up2(avg_down2(stripes)), stripes).item() == pytest.approx(0.5)


def test_bicubic_resampling_is_the_degradation_resize() -> None:
    image = camera(24)
    for size, ours in [((12, 12), Bicubic(scale=2).downsample(_t(image))),
                       ((6, 6), Bicubic(scale=4).downsample(_t(image))),
                       ((48, 48), Bicubic(scale=2).upsample(_t(image)))]:
        expected = np.clip(imresize(image.astype(np.float64), output_shape=size), 0, 1)
        np.testing.assert_allclose(ours[0, 0].double().numpy(), expected, atol=2e-6)


@pytest.mark.parametrize("degradation", [KSpace(scale=2), Bicubic(scale=2)])
def test_identity_of_constant_images_is_zero(degradation) -> None:
    lr, hr = torch.full((1, 1, 8, 8), 0.3), torch.full((1, 1, 16, 16), 0.3)
    identity_hr, identity_lr = IdentityLoss(degradation)(hr.clone(), avg_down2, lr, hr)
    assert identity_hr.item() == pytest.approx(0.0, abs=1e-6)
    assert identity_lr.item() == pytest.approx(0.0, abs=1e-6)


def test_identity_hr_is_the_l1_of_g_hr_on_the_training_lr() -> None:
    hr, sr = _t(camera(16)), _t(camera(16)).flip(-1)
    identity_hr, _ = IdentityLoss(KSpace(scale=2))(sr, avg_down2, _t(camera(8)), hr)
    assert identity_hr.item() == pytest.approx((sr - hr).abs().mean().item(), abs=1e-7)


def test_identity_lr_with_bicubic_resampling_hand_value() -> None:
    # G_LR = 2x2 average of the MATLAB-bicubic upscaled LR (resampling reference: numpy imresize)
    lr, hr = camera(8), camera(16)
    _, identity_lr = IdentityLoss(Bicubic(scale=2))(_t(hr), avg_down2, _t(lr), _t(hr))
    up = ref_bicubic(lr, (16, 16))
    expected_lr = np.abs(up.reshape(8, 2, 8, 2).mean(axis=(1, 3)) - lr).mean()
    assert identity_lr.item() == pytest.approx(expected_lr, abs=1e-6)


def test_identity_lr_of_the_true_kspace_degradation_is_small_on_mri() -> None:
    # G_LR = the training resampling itself (k-space truncation): it gives a k-space LR back
    from nilearn.datasets import load_mni152_template

    volume = np.asarray(load_mni152_template(resolution=1).get_fdata())
    hr = volume[:192, :232, 90] / volume.max()
    lr = KSpace(4, noise_sigma=0.01)(hr, np.random.default_rng(0))

    def g_lr(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(kspace_np(x[0, 0].double().numpy(), 4)).float()[None, None]

    _, identity_kspace = IdentityLoss(KSpace(4))(_t(hr), g_lr, _t(lr), _t(hr))
    _, identity_bicubic = IdentityLoss(Bicubic(4))(_t(hr), g_lr, _t(lr), _t(hr))
    assert identity_kspace.item() < 0.5 * identity_bicubic.item()
    assert identity_kspace.item() < 5e-3


def test_identity_gradients_reach_both_generators() -> None:
    conv_hr = torch.nn.Conv2d(1, 1, 3, padding=1)
    conv_lr = torch.nn.Conv2d(1, 1, 3, padding=1)
    lr = _t(camera(8))
    identity_hr, identity_lr = IdentityLoss(KSpace(scale=2))(conv_hr(nearest_up2(lr)),
                                                             lambda x: avg_down2(conv_lr(x)), lr, _t(camera(16)))
    (identity_hr + identity_lr).backward()
    assert conv_hr.weight.grad is not None and conv_lr.weight.grad is not None


def test_wrong_generator_output_shape_raises() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        IdentityLoss(KSpace(scale=2))(torch.rand(1, 1, 4, 4), avg_down2, torch.rand(1, 1, 4, 4), torch.rand(1, 1, 8, 8))


def test_lr_consistency_is_zero_for_the_hr_of_a_noise_free_lr_and_matches_numpy() -> None:
    hr = camera(32)
    lr = kspace_np(hr, 4)
    np.testing.assert_allclose(kspace_truncate(torch.from_numpy(hr)[None, None], 4)[0, 0].numpy(), lr,
                               atol=1e-12)
    assert LRConsistencyLoss(KSpace(4))(_t(hr), _t(lr)).item() < 1e-6
    blurred = _t(camera(32)).flip(-1)
    expected = np.abs(kspace_np(blurred[0, 0].double().numpy(), 4) - lr).mean()
    assert LRConsistencyLoss(KSpace(4))(blurred, _t(lr)).item() == pytest.approx(expected, abs=1e-6)
    down = ref_bicubic(hr, (8, 8))
    assert LRConsistencyLoss(Bicubic(4))(_t(hr), _t(down)).item() < 1e-6
