"""RRDBNet against the published ESRGAN / BasicSR layout and equations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mri_sr.nets import RRDBNet, convert_legacy_esrgan_keys

# BasicSR RRDBNet(num_block=1) state-dict keys, written out.
BASICSR_KEYS_ONE_BLOCK = [
    "conv_first.weight", "conv_first.bias",
    "body.0.rdb1.conv1.weight", "body.0.rdb1.conv1.bias",
    "body.0.rdb1.conv2.weight", "body.0.rdb1.conv2.bias",
    "body.0.rdb1.conv3.weight", "body.0.rdb1.conv3.bias",
    "body.0.rdb1.conv4.weight", "body.0.rdb1.conv4.bias",
    "body.0.rdb1.conv5.weight", "body.0.rdb1.conv5.bias",
    "body.0.rdb2.conv1.weight", "body.0.rdb2.conv1.bias",
    "body.0.rdb2.conv2.weight", "body.0.rdb2.conv2.bias",
    "body.0.rdb2.conv3.weight", "body.0.rdb2.conv3.bias",
    "body.0.rdb2.conv4.weight", "body.0.rdb2.conv4.bias",
    "body.0.rdb2.conv5.weight", "body.0.rdb2.conv5.bias",
    "body.0.rdb3.conv1.weight", "body.0.rdb3.conv1.bias",
    "body.0.rdb3.conv2.weight", "body.0.rdb3.conv2.bias",
    "body.0.rdb3.conv3.weight", "body.0.rdb3.conv3.bias",
    "body.0.rdb3.conv4.weight", "body.0.rdb3.conv4.bias",
    "body.0.rdb3.conv5.weight", "body.0.rdb3.conv5.bias",
    "conv_body.weight", "conv_body.bias",
    "conv_up1.weight", "conv_up1.bias",
    "conv_up2.weight", "conv_up2.bias",
    "conv_hr.weight", "conv_hr.bias",
    "conv_last.weight", "conv_last.bias",
]  # fmt: skip


def official_state_dict(in_ch: int, feat: int, grow: int, blocks: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights with the shapes of the official RRDBNet (x4, or x2 when in_ch is 4C)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"conv_first": (feat, in_ch)}
    for b in range(blocks):
        for r in (1, 2, 3):
            for j in (1, 2, 3, 4):
                shapes[f"body.{b}.rdb{r}.conv{j}"] = (grow, feat + (j - 1) * grow)
            shapes[f"body.{b}.rdb{r}.conv5"] = (feat, feat + 4 * grow)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        shapes[name] = (feat, feat)
    shapes["conv_last"] = (in_ch if in_ch < 4 else in_ch // 4, feat)
    state = {}
    for name, (c_out, c_in) in shapes.items():
        state[f"{name}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * (1.0 / (3 * c_in**0.5))
        state[f"{name}.bias"] = torch.randn(c_out, generator=gen) * 0.01
    return state


def reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, blocks: int, scale: int) -> torch.Tensor:
    """ESRGAN's equations written directly over the state-dict tensors."""

    def conv(t, name):
        return F.conv2d(t, sd[f"{name}.weight"], sd[f"{name}.bias"], padding=1)

    def lrelu(t):
        return torch.where(t >= 0, t, 0.2 * t)

    def nearest2(t):
        return t.repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)

    if scale == 2:  # pixel unshuffle: channel index c*4 + 2*i + j holds pixel (2y+i, 2x+j)
        b, c, h, w = x.shape
        x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, c * 4, h // 2, w // 2)
    fea = conv(x, "conv_first")
    trunk = fea
    for n in range(blocks):
        block_in = trunk
        out = block_in
        for r in (1, 2, 3):
            feats = [out]
            for j in (1, 2, 3, 4):
                feats.append(lrelu(conv(torch.cat(feats, 1), f"body.{n}.rdb{r}.conv{j}")))
            out = out + 0.2 * conv(torch.cat(feats, 1), f"body.{n}.rdb{r}.conv5")
        trunk = block_in + 0.2 * out
    fea = fea + conv(trunk, "conv_body")
    fea = lrelu(conv(nearest2(fea), "conv_up1"))
    fea = lrelu(conv(nearest2(fea), "conv_up2"))
    return conv(lrelu(conv(fea, "conv_hr")), "conv_last")


@pytest.mark.parametrize("scale", [4, 2])
def test_official_layout_loads_strictly_and_reproduces_the_reference(scale):
    feat, grow, blocks, channels = 8, 4, 2, 3
    in_ch = channels * 4 if scale == 2 else channels
    sd = official_state_dict(in_ch, feat, grow, blocks)
    net = RRDBNet(in_channels=channels, num_feat=feat, num_block=blocks, num_grow_ch=grow, scale=scale)
    net.load_state_dict(sd, strict=True)
    x = torch.rand(2, channels, 6, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = net(x)
    expected = reference_forward(sd, x, blocks, scale)
    assert got.shape == (2, channels, 6 * scale, 8 * scale)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_key_set_one_block_is_basicsr():
    net = RRDBNet(in_channels=3, num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    assert list(net.state_dict()) == BASICSR_KEYS_ONE_BLOCK


def test_x3_has_no_second_upsampling_conv():
    keys = set(RRDBNet(in_channels=1, num_feat=8, num_block=1, num_grow_ch=4, scale=3).state_dict())
    assert keys == set(BASICSR_KEYS_ONE_BLOCK) - {"conv_up2.weight", "conv_up2.bias"}


def test_parameter_count_rgb_x4_is_esrgan():
    net = RRDBNet(in_channels=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4)
    assert sum(p.numel() for p in net.parameters()) == 16_697_987


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_output_shape(in_channels, scale):
    net = RRDBNet(in_channels=in_channels, num_feat=8, num_block=1, num_grow_ch=4, scale=scale)
    assert (net.scale, net.in_channels) == (scale, in_channels)
    assert net(torch.rand(1, in_channels, 6, 10)).shape == (1, in_channels, 6 * scale, 10 * scale)


def test_x2_accepts_odd_sides():
    net = RRDBNet(in_channels=1, num_feat=8, num_block=1, num_grow_ch=4, scale=2)
    assert net(torch.rand(1, 1, 7, 9)).shape == (1, 1, 14, 18)


def test_legacy_esrgan_keys_convert_to_basicsr():
    legacy = {"conv_first.weight": 0, "conv_first.bias": 1}
    for r in (1, 2, 3):
        for j in (1, 2, 3, 4, 5):
            legacy[f"RRDB_trunk.0.RDB{r}.conv{j}.weight"] = 0
            legacy[f"RRDB_trunk.0.RDB{r}.conv{j}.bias"] = 0
    for old in ("trunk_conv", "upconv1", "upconv2", "HRconv", "conv_last"):
        legacy[f"{old}.weight"] = 0
        legacy[f"{old}.bias"] = 0
    assert sorted(convert_legacy_esrgan_keys(legacy)) == sorted(BASICSR_KEYS_ONE_BLOCK)
