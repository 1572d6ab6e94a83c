"""SRResNet: parameter count from the layer list of Ledig et al. 2017, output shapes."""

from __future__ import annotations

import pytest
import torch

from mri_sr.nets import SRResNet


def _conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def test_parameter_count_rgb_x4_matches_the_paper_layer_list():
    channels, feat, blocks, prelu, bn = 3, 64, 16, 1, 2 * 64
    head = _conv(channels, feat, 9) + prelu
    block = 2 * _conv(feat, feat, 3) + 2 * bn + prelu
    trunk = _conv(feat, feat, 3) + bn
    upsample = 2 * (_conv(feat, 4 * feat, 3) + prelu)
    tail = _conv(feat, channels, 9)
    expected = head + blocks * block + trunk + upsample + tail
    net = SRResNet(in_channels=3, num_feat=64, num_block=16, scale=4)
    assert sum(p.numel() for p in net.parameters()) == expected == 1_549_462
    # BasicSR's MSRResNet (no BN, 3x3 head/tail) has 1,517,571: the same ~1.55M scale.
    assert abs(expected - 1.55e6) < 0.01e6


def test_x3_uses_one_pixel_shuffle_stage():
    net = SRResNet(in_channels=1, num_feat=4, num_block=1, scale=3)
    shuffles = [m for m in net.upsample if isinstance(m, torch.nn.PixelShuffle)]
    assert [m.upscale_factor for m in shuffles] == [3]


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_output_shape(in_channels, scale):
    net = SRResNet(in_channels=in_channels, num_feat=4, num_block=1, scale=scale)
    assert (net.scale, net.in_channels) == (scale, in_channels)
    out = net(torch.rand(2, in_channels, 7, 10))
    assert out.shape == (2, in_channels, 7 * scale, 10 * scale)
    assert out.dtype == torch.float32


def test_unsupported_scale_is_rejected():
    with pytest.raises(ValueError, match="scale 8"):
        SRResNet(scale=8)
