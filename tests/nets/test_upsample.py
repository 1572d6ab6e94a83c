"""Fixed interpolation under a learned residual: the windowed sinc is what k-space truncation needs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mri_sr.io import load_volume
from mri_sr.nets import build_network
from mri_sr.nets.upsample import upsample
from mri_sr.resample import kspace_truncate, kspace_zero_fill, sinc_taps


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / torch.mean((a.clamp(0, 1) - b) ** 2)))


def test_taps_sum_to_one_and_constants_stay_constant():
    for scale in (2, 3, 4):
        assert np.allclose([sum(row) for row in sinc_taps(scale)], 1.0)
    out = upsample(torch.full((1, 1, 7, 9), 0.3), 4, "sinc")
    assert out.shape == (1, 1, 28, 36) and torch.allclose(out, torch.tensor(0.3), atol=1e-6)
    assert upsample(torch.rand(2, 1, 5, 6), 3, "sinc", rows_only=True).shape == (2, 1, 15, 6)


def test_sinc_is_closer_than_bicubic_to_a_kspace_truncated_slice_and_to_zero_filling():
    hr = load_volume("builtin:mni152").data[:, :, 90]
    hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
    hr = torch.from_numpy(np.ascontiguousarray(hr / hr.max(), np.float32))[None, None]
    lr = kspace_truncate(hr.double(), 4).float()
    sinc, cubic = upsample(lr, 4, "sinc"), upsample(lr, 4, "bicubic")
    zero_fill = kspace_zero_fill(lr, 4)
    assert psnr(sinc, hr) > psnr(cubic, hr) + 0.2
    assert psnr(sinc, zero_fill) > psnr(cubic, zero_fill) + 3.0


@pytest.mark.parametrize("spec", [
    {"type": "srresnet", "num_feat": 8, "num_block": 1, "image_skip": True, "upsample_mode": "sinc"},
    {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4, "image_skip": True, "upsample_mode": "sinc"},
    {"type": "srresdnet", "num_feat": 8, "num_block": 1, "projection": False, "upsample_mode": "sinc"},
])
def test_untrained_residual_networks_start_from_the_sinc_interpolation(spec):
    net = build_network({**spec, "in_channels": 1, "scale": 4}).eval()
    lr = torch.rand(1, 1, 12, 10)
    with torch.no_grad():
        out = net(lr)
    expected = upsample(lr, 4, "sinc")
    if spec["type"] == "srresdnet":  # its ResDNet is not zero-initialised: check the interpolation it refines
        torch.testing.assert_close(net.upsample(lr), expected)
    else:
        torch.testing.assert_close(out, expected)
