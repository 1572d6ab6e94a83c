"""Discriminators: output shapes at their input sizes, BasicSR's VGG layout, size checks."""

from __future__ import annotations

import pytest
import torch

from mri_sr.nets import PatchGANDiscriminator, SRGANDiscriminator, VGGStyleDiscriminator


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("input_size", [96, 32])
def test_srgan_dense_head_output_shape(in_channels, input_size):
    net = SRGANDiscriminator(in_channels=in_channels, num_feat=4, input_size=input_size)
    assert net(torch.rand(2, in_channels, input_size, input_size)).shape == (2, 1)
    # dense 1024 on the flattened (input_size / 16)^2 map of 8F channels
    assert net.classifier[1].in_features == 8 * 4 * (input_size // 16) ** 2


def test_srgan_layer_list_is_the_paper():
    net = SRGANDiscriminator(in_channels=3, num_feat=64, input_size=96)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.features) == 7
    assert [m.out_features for m in net.classifier if isinstance(m, torch.nn.Linear)] == [1024, 1]


@pytest.mark.parametrize("size", [(32, 32), (48, 80)])
def test_srgan_fully_conv_takes_any_patch(size):
    net = SRGANDiscriminator(in_channels=1, num_feat=4, fully_conv=True)
    assert net(torch.rand(2, 1, *size)).shape == (2, 1)


def test_srgan_dense_head_rejects_other_sizes():
    net = SRGANDiscriminator(in_channels=1, num_feat=4, input_size=32)
    with pytest.raises(ValueError, match="32x32"):
        net(torch.rand(1, 1, 48, 48))
    with pytest.raises(ValueError, match="multiple of 16"):
        SRGANDiscriminator(input_size=100)


def _basicsr_vgg_parameters(c: int, f: int, stages: int) -> list[tuple[str, tuple[int, ...]]]:
    """BasicSR's VGGStyleDiscriminator parameters (name, shape), in registration order."""
    params = [("conv0_0.weight", (f, c, 3, 3)), ("conv0_0.bias", (f,)), ("conv0_1.weight", (f, f, 4, 4))]
    params += [("bn0_1.weight", (f,)), ("bn0_1.bias", (f,))]
    channels = f
    for stage, mult in zip(range(1, stages), (2, 4, 8, 8, 8)):
        out = f * mult
        params += [(f"conv{stage}_0.weight", (out, channels, 3, 3))]
        params += [(f"bn{stage}_0.weight", (out,)), (f"bn{stage}_0.bias", (out,))]
        params += [(f"conv{stage}_1.weight", (out, out, 4, 4))]
        params += [(f"bn{stage}_1.weight", (out,)), (f"bn{stage}_1.bias", (out,))]
        channels = out
    params += [("linear1.weight", (100, 8 * f * 4 * 4)), ("linear1.bias", (100,))]
    params += [("linear2.weight", (1, 100)), ("linear2.bias", (1,))]
    return params


@pytest.mark.parametrize(("input_size", "stages"), [(128, 5), (256, 6)])
def test_vgg_layout_is_basicsr(input_size, stages):
    net = VGGStyleDiscriminator(in_channels=3, num_feat=4, input_size=input_size)
    got = [(name, tuple(p.shape)) for name, p in net.named_parameters()]
    assert got == _basicsr_vgg_parameters(3, 4, stages)
    assert "bn4_1.running_var" in net.state_dict()
    assert net(torch.rand(2, 3, input_size, input_size)).shape == (2, 1)


@pytest.mark.parametrize("in_channels", [1, 3])
def test_vgg_other_patch_sizes(in_channels):
    net = VGGStyleDiscriminator(in_channels=in_channels, num_feat=4, input_size=96)
    assert net.linear1.in_features == 8 * 4 * 3 * 3
    assert net(torch.rand(2, in_channels, 96, 96)).shape == (2, 1)
    with pytest.raises(ValueError, match="96x96"):
        net(torch.rand(2, in_channels, 128, 128))
    with pytest.raises(ValueError, match="multiple of 32"):
        VGGStyleDiscriminator(input_size=100)


@pytest.mark.parametrize(("size", "out"), [(256, 30), (64, 6)])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_patchgan_output_map(in_channels, size, out):
    net = PatchGANDiscriminator(in_channels=in_channels, num_feat=4, num_layers=3)
    assert net(torch.rand(2, in_channels, size, size)).shape == (2, 1, out, out)


def test_patchgan_layer_list_is_pix2pix():
    net = PatchGANDiscriminator(in_channels=3, num_feat=64, num_layers=3)
    convs = [m for m in net.model if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]
    assert all(c.kernel_size == (4, 4) for c in convs)


def test_high_pass_discriminator_ignores_smooth_content():
    torch.manual_seed(0)
    plain = VGGStyleDiscriminator(1, num_feat=4, input_size=32).eval()
    torch.manual_seed(0)
    high = VGGStyleDiscriminator(1, num_feat=4, input_size=32, high_pass=1.5).eval()
    flat, brighter = torch.full((2, 1, 32, 32), 0.3), torch.full((2, 1, 32, 32), 0.7)
    with torch.no_grad():
        torch.testing.assert_close(high(flat), high(brighter))  # a constant has no high frequencies
        assert not torch.allclose(plain(flat), plain(brighter))
    assert plain.state_dict().keys() == high.state_dict().keys()
