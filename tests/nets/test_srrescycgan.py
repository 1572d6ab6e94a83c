"""SRResCycGAN generators: shapes, the noise estimator, the L2 projection, the fixed upsampler."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mri_sr.nets import DegradationNet, SRResDNet
from mri_sr.nets.srrescycgan import ZeroMeanConv2d, estimate_noise_std, project_l2_ball


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_srresdnet_output_shape_and_range(in_channels, scale):
    net = SRResDNet(in_channels=in_channels, num_feat=8, num_block=1, scale=scale)
    assert (net.scale, net.in_channels) == (scale, in_channels)
    lr = torch.rand(2, in_channels, 6, 9)
    out = net.eval()(lr)
    assert out.shape == (2, in_channels, 6 * scale, 9 * scale)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # training mode: not clipped, so saturated pixels keep their gradient
    free = SRResDNet(in_channels=in_channels, num_feat=8, num_block=1, scale=scale, projection=False)
    with torch.no_grad():
        free.model.conv_out.bias.fill_(-5.0)  # residual ~ -5: up - residual far above 1
    assert free.train()(lr).max() > 1.0 and free.eval()(lr).max() <= 1.0


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_degradation_output_shape_and_range(in_channels, scale):
    net = DegradationNet(in_channels=in_channels, num_feat=8, num_block=1, scale=scale)
    assert (net.scale, net.in_channels) == (scale, in_channels)
    out = net(torch.rand(2, in_channels, 12 * scale, 5 * scale))
    assert out.shape == (2, in_channels, 12, 5)
    assert out.min() > 0.0 and out.max() < 1.0


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upsampling_is_fixed_interpolation_up_to_the_border(scale, mode):
    net = SRResDNet(in_channels=3, num_feat=4, num_block=1, scale=scale, upsample_mode=mode)
    lr = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(lr, scale_factor=scale, mode=mode, align_corners=False)
    torch.testing.assert_close(net.upsample(lr), expected, atol=0, rtol=0)
    # a flat image stays flat to the last pixel: no darkened border
    flat = net.upsample(torch.full((1, 3, 6, 7), 0.7))
    torch.testing.assert_close(flat, torch.full_like(flat, 0.7))
    assert not any("upsample" in key for key in net.state_dict())


@pytest.mark.parametrize("sigma", [0.01, 0.05])
def test_noise_estimate_recovers_gaussian_sigma(sigma):
    gen = torch.Generator().manual_seed(3)
    ramp = torch.linspace(0.2, 0.8, 128).view(1, 1, 1, 128).expand(2, 3, 128, 128)
    noisy = ramp + sigma * torch.randn(2, 3, 128, 128, generator=gen)
    est = estimate_noise_std(noisy)
    assert est.shape == (2,)
    assert torch.allclose(est, torch.full((2,), sigma), rtol=0.1)
    assert estimate_noise_std(ramp.contiguous()).max() < 1e-3


def test_projection_bounds_the_residual_norm():
    gen = torch.Generator().manual_seed(4)
    residual = torch.randn(3, 1, 16, 16, generator=gen)
    sigma = torch.tensor([0.0, 0.01, 10.0])
    alpha = torch.tensor([0.0])
    out = project_l2_ball(residual, sigma, alpha)
    radius = sigma * (16 * 16 - 1) ** 0.5
    norms = out.flatten(1).norm(dim=1)
    assert norms[0] == 0.0
    assert torch.isclose(norms[1], radius[1])
    torch.testing.assert_close(out[2], residual[2])  # already inside the ball: unchanged


def test_without_the_floor_a_noiseless_input_passes_the_upsampled_image_through():
    net = SRResDNet(in_channels=1, num_feat=8, num_block=2, scale=2, noise_floor=0.0)
    lr = torch.full((1, 1, 16, 16), 0.5)
    with torch.no_grad():
        out = net(lr)
    # zero estimated noise -> zero-radius projection -> the output is the (bilinear) upsampled input
    torch.testing.assert_close(out, torch.full((1, 1, 32, 32), 0.5))


def test_gradients_reach_alpha_and_the_residual_network():
    net = SRResDNet(in_channels=1, num_feat=4, num_block=2, scale=2)
    lr = (0.5 + 0.05 * torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    net(lr).square().mean().backward()
    assert net.alpha.grad is not None and net.alpha.grad.abs() > 0
    assert net.model.conv1.weight.grad.abs().sum() > 0


def test_without_projection_there_is_no_alpha():
    net = SRResDNet(in_channels=1, num_feat=4, num_block=1, scale=4, projection=False)
    assert "alpha" not in net.state_dict()
    assert net(torch.rand(1, 1, 5, 5)).shape == (1, 1, 20, 20)


def test_parameter_count_rgb_x4_matches_the_paper_size():
    # encoder 5x5 3->64, 5 blocks of two 3x3 64->64 convs and two 64-slope PReLUs, decoder 5x5 64->3,
    # alpha; the upsampling has no parameters.
    encoder = 3 * 64 * 25 + 64
    blocks = 5 * (2 * (64 * 64 * 9 + 64) + 2 * 64)
    decoder = 64 * 3 * 25 + 3
    net = SRResDNet(in_channels=3, num_feat=64, num_block=5, scale=4)
    assert sum(p.numel() for p in net.parameters()) == encoder + blocks + decoder + 1
    assert round((encoder + blocks + decoder + 1) / 1e3) == 380  # the paper's "380K" parameters


def test_zero_mean_filters_cancel_a_constant_input():
    conv = ZeroMeanConv2d(2, 3, 3, bias=False)
    out = conv(torch.ones(1, 2, 5, 5))
    torch.testing.assert_close(out.sum(dim=1), torch.zeros(1, 3, 3), atol=1e-5, rtol=0)
