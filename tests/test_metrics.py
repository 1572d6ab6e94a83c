"""PSNR/SSIM: published Set5 bicubic figures, hand values, batch vs single, colour conversions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mri_sr.resample import imresize
from mri_sr.metrics import (
    benchmark_psnr_ssim,
    psnr,
    psnr_batch,
    rgb_to_y,
    rgb_to_ycbcr,
    ssim,
    ssim_batch,
    ycbcr_to_rgb,
)

SET5 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "natural" / "Set5"

# Published bicubic results on Set5 (Y channel, border = scale): (PSNR dB, SSIM).
PUBLISHED = {2: (33.66, 0.9299), 3: (30.39, 0.8682), 4: (28.42, 0.8104)}


@pytest.mark.skipif(not (SET5 / "HR").is_dir(), reason=f"shared Set5 data not found at {SET5}")
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_bicubic_matches_published(scale: int) -> None:
    from PIL import Image

    psnrs, ssims = [], []
    for path in sorted((SET5 / "HR").glob("*.png")):
        hr = np.asarray(Image.open(path).convert("RGB"))
        lr = np.asarray(Image.open(SET5 / "LR_bicubic" / f"X{scale}" / f"{path.stem}x{scale}.png").convert("RGB"))
        sr = imresize(lr, scale)  # uint8 in, uint8 out, as MATLAB
        assert sr.dtype == np.uint8
        value_psnr, value_ssim = benchmark_psnr_ssim(sr, hr, scale)
        psnrs.append(value_psnr)
        ssims.append(value_ssim)
    assert len(psnrs) == 5
    published_psnr, published_ssim = PUBLISHED[scale]
    assert abs(np.mean(psnrs) - published_psnr) <= 0.02
    assert abs(np.mean(ssims) - published_ssim) <= 0.002


def test_psnr_hand_values() -> None:
    hr = np.array([[0.0, 1.0], [2.0, 3.0]])
    sr = np.array([[0.0, 1.0], [2.0, 5.0]])  # MSE = 4 / 4 = 1
    assert psnr(sr, hr, data_range=10.0) == pytest.approx(20.0, abs=1e-12)
    assert psnr(sr, hr, data_range=255.0) == pytest.approx(20 * math.log10(255), abs=1e-12)
    assert psnr(hr, hr, data_range=1.0) == math.inf
    # Differences only on the border vanish when the border is cropped.
    a = np.zeros((6, 6))
    b = a.copy()
    b[0, :] = 1
    b[:, -1] = 1
    assert psnr(b, a, data_range=1.0, crop_border=1) == math.inf
    assert psnr(b, a, data_range=1.0) == pytest.approx(10 * math.log10(36 / 11), abs=1e-12)


def test_ssim_identical_constant_and_skimage() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    hr = rng.random((40, 33))
    assert ssim(hr, hr, data_range=1.0) == pytest.approx(1.0, abs=1e-6)
    # Two constant images: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
    c1 = 0.01**2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert ssim(np.full((16, 16), 0.2), np.full((16, 16), 0.6), data_range=1.0) == pytest.approx(expected, abs=1e-6)
    # skimage with Gaussian weights (sigma 1.5 -> 11 taps), population covariance, and its border
    # crop of 5 pixels is the same 'valid' mean.
    sr = np.clip(hr + rng.normal(0, 0.1, hr.shape), 0, 1) * 200
    reference = structural_similarity(
        sr, hr * 200, data_range=200, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(sr, hr * 200, data_range=200) == pytest.approx(reference, abs=1e-5)
    assert ssim(sr, hr * 200, data_range=200) < 0.99


def test_batch_equals_single() -> None:
    rng = np.random.default_rng(1)
    hr = rng.random((3, 1, 24, 20))
    sr = np.clip(hr + rng.normal(0, 0.05, hr.shape), 0, 1)
    sr[1] = hr[1]
    batch_psnr = psnr_batch(torch.tensor(sr), torch.tensor(hr), data_range=1.0, crop_border=2)
    batch_ssim = ssim_batch(torch.tensor(sr), torch.tensor(hr), data_range=1.0, crop_border=2)
    assert batch_psnr.shape == batch_ssim.shape == (3,)
    for i in range(3):
        assert batch_psnr[i].item() == pytest.approx(psnr(sr[i, 0], hr[i, 0], 1.0, crop_border=2), abs=1e-9)
        assert batch_ssim[i].item() == pytest.approx(ssim(sr[i, 0], hr[i, 0], 1.0, crop_border=2), abs=1e-6)
    assert batch_psnr[1].item() == math.inf and batch_ssim[1].item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError):
        ssim_batch(torch.zeros(1, 1, 12, 12), torch.zeros(1, 1, 12, 12), crop_border=1)
    with pytest.raises(ValueError):
        psnr_batch(torch.zeros(1, 1, 12, 12), torch.zeros(1, 1, 12, 13))


def test_rgb_to_y_and_ycbcr_hand_values() -> None:
    rgb = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y(rgb), [235.0, 16.0, 81.481, 144.553, 40.966], atol=1e-9)
    np.testing.assert_allclose(
        rgb_to_ycbcr(rgb),
        [
            [235.0, 128.0, 128.0],
            [16.0, 128.0, 128.0],
            [81.481, 128 - 37.797, 240.0],
            [144.553, 128 - 74.203, 128 - 93.786],
            [40.966, 240.0, 128 - 18.214],
        ],
        atol=1e-9,
    )
    np.testing.assert_allclose(ycbcr_to_rgb(np.array([235.0, 128.0, 128.0])), [255.0, 255.0, 255.0], atol=1e-9)
    assert rgb_to_y(np.zeros((4, 5, 3), np.float32)).dtype == np.float32


def test_ycbcr_round_trip() -> None:
    rgb = np.random.default_rng(2).random((7, 6, 3)) * 255
    ycbcr = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycbcr[..., 0], rgb_to_y(rgb), atol=1e-12)
    np.testing.assert_allclose(ycbcr_to_rgb(ycbcr), rgb, atol=1e-9)


def test_benchmark_crops_to_common_multiple_and_accepts_y() -> None:
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (50, 45, 3), dtype=np.uint8)
    sr = hr[:48, :44].copy()  # e.g. a network output of 12x11 LR pixels upscaled x4
    value_psnr, value_ssim = benchmark_psnr_ssim(sr, hr, 4)
    assert value_psnr == math.inf and value_ssim == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(hr.astype(np.int16) + rng.integers(-3, 4, hr.shape), 0, 255).astype(np.uint8)
    y_sr, y_hr = rgb_to_y(noisy), rgb_to_y(hr)
    expected = psnr(y_sr[:48, :44], y_hr[:48, :44], 255.0, crop_border=4)
    assert benchmark_psnr_ssim(y_sr, y_hr, 4)[0] == pytest.approx(expected, abs=1e-12)
    assert benchmark_psnr_ssim(noisy, hr, 4)[0] == pytest.approx(expected, abs=1e-12)
