"""The k-space data-consistency projection of an SR image onto its LR image's noise ball."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.data.degradation import KSpace, KSpaceConsistency
from mri_sr.io import load_volume
from mri_sr.resample import kspace_truncate, kspace_zero_fill

SIGMA = 0.02


@pytest.fixture(scope="module")
def pair():
    """(hr, lr): an axial MNI slice (x4 size) and its k-space x4 + Rician LR, as (1, 1, H, W) tensors."""
    hr = load_volume("builtin:mni152").data[:, :, 90]
    hr = np.ascontiguousarray(hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4] / hr.max(), np.float32)
    lr = KSpace(scale=4, noise_sigma=SIGMA)(hr, np.random.default_rng(0))
    return torch.from_numpy(hr)[None, None], torch.from_numpy(np.asarray(lr, np.float32))[None, None]


def distance(sr, lr):
    """||Z(lr - T(sr))|| per pixel: the disagreement of sr with lr, in noise-level units."""
    residual = kspace_zero_fill(lr.double() - kspace_truncate(sr.double(), 4), 4)
    return float(residual.norm() / residual.numel() ** 0.5)


def wrong_outputs(hr):
    """SR outputs with errors of several kinds: contrast, brightness, blur, noise."""
    blurred = torch.nn.functional.avg_pool2d(hr, 5, 1, 2)
    noisy = hr + 0.1 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(1))
    return {"contrast": hr * 1.2, "brightness": hr + 0.05, "blur": blurred, "noise": noisy}


def test_the_true_image_is_about_one_noise_level_from_its_lr(pair):
    hr, lr = pair
    assert 0.7 * SIGMA < distance(hr, lr) < 1.3 * SIGMA


@pytest.mark.parametrize("kind", ["contrast", "brightness", "blur", "noise"])
def test_projection_lands_on_the_ball_and_comes_closer_to_the_true_image(pair, kind):
    hr, lr = pair
    sr = wrong_outputs(hr)[kind]
    projected = KSpaceConsistency(4, SIGMA)(sr, lr)
    assert projected.shape == sr.shape and projected.dtype == sr.dtype
    # About on the ball: T takes a magnitude, so one straight step lands within 15% of the radius.
    assert distance(sr, lr) > 1.15 * SIGMA and SIGMA * 0.95 < distance(projected, lr) < 1.15 * SIGMA
    assert float((projected - hr).norm()) < float((sr - hr).norm())
    # Only the frequencies the LR holds move: beyond them the spectrum is the SR image's.
    change = torch.fft.fft2((projected - sr).double())[0, 0].abs()
    ky = torch.fft.fftfreq(hr.shape[-2]).abs()[:, None]
    kx = torch.fft.fftfreq(hr.shape[-1]).abs()[None, :]
    outside = (ky > 0.125 + 1e-9) | (kx > 0.125 + 1e-9)
    assert float(change[outside].max()) < 1e-6 * float(change.max())


def test_an_output_inside_the_ball_is_left_alone_and_a_second_projection_barely_moves(pair):
    hr, lr = pair
    inside = KSpaceConsistency(4, 2 * SIGMA)(hr, lr)
    assert torch.equal(inside, hr)
    sr = hr * 1.2
    once = KSpaceConsistency(4, SIGMA)(sr, lr)
    twice = KSpaceConsistency(4, SIGMA)(once, lr)
    assert float((twice - once).norm()) < 0.1 * float((once - sr).norm())
