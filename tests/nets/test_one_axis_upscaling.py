"""SRResNet with ``upscale_axes="h"``: only the rows grow; untrained with image_skip it is interpolation."""

from __future__ import annotations

import pytest
import torch

from mri_sr.nets import SRResNet, build_network
from mri_sr.nets.blocks import PixelShuffleRows


def test_pixel_shuffle_rows_puts_channel_group_r_on_row_s_k_plus_r():
    x = torch.arange(2 * 6 * 3 * 4, dtype=torch.float32).reshape(2, 6, 3, 4)
    out = PixelShuffleRows(3)(x)
    assert out.shape == (2, 2, 9, 4)
    for k in range(3):
        for r in range(3):
            torch.testing.assert_close(out[:, :, 3 * k + r], x[:, [r, 3 + r], k])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rows_only_generator_starts_as_bicubic_along_rows(scale):
    net = build_network({"type": "srresnet", "in_channels": 1, "num_feat": 4, "num_block": 1, "scale": scale,
                         "image_skip": True, "upscale_axes": "h"}).eval()
    lr = torch.rand(2, 1, 5, 7)
    with torch.no_grad():
        out = net(lr)
    expected = torch.nn.functional.interpolate(lr, scale_factor=(scale, 1), mode="bicubic", align_corners=False)
    assert out.shape == (2, 1, 5 * scale, 7)
    torch.testing.assert_close(out, expected)


def test_default_srresnet_keeps_its_state_dict_keys():
    net = SRResNet(in_channels=1, num_feat=4, num_block=1, scale=4)
    assert [k for k in net.state_dict() if k.startswith("upsample")] == [
        "upsample.0.weight", "upsample.0.bias", "upsample.2.weight",
        "upsample.3.weight", "upsample.3.bias", "upsample.5.weight"]
    with pytest.raises(ValueError, match="upscale_axes"):
        SRResNet(upscale_axes="w")
