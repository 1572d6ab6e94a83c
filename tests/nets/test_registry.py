"""The name -> class table and build_network's errors; nothing imports torchvision."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import mri_sr.nets
from mri_sr.errors import MriSrError
from mri_sr.nets import NETWORKS, build_network

MICRO = {
    "srresnet": {"num_feat": 4, "num_block": 1, "scale": 2},
    "rrdbnet": {"num_feat": 4, "num_block": 1, "num_grow_ch": 4, "scale": 2},
    "srresdnet": {"num_feat": 4, "num_block": 1, "scale": 2},
    "degradation": {"num_feat": 4, "num_block": 1, "scale": 2},
    "srgan_d": {"num_feat": 4, "input_size": 32},
    "vgg_d": {"num_feat": 4, "input_size": 32},
    "patchgan_d": {"num_feat": 4, "num_layers": 2},
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_network_builds_from_a_spec(name):
    spec = {"type": name, "in_channels": 1, **MICRO[name]}
    original = dict(spec)
    net = build_network(spec)
    assert spec == original
    assert type(net) is NETWORKS[name]
    assert net.in_channels == 1
    out = net(torch.rand(2, 1, 32, 32))
    assert out.ndim in (2, 4)


def test_unknown_type_lists_known_names():
    with pytest.raises(MriSrError, match="'edsr' is unknown") as info:
        build_network({"type": "edsr"})
    for name in NETWORKS:
        assert name in str(info.value)
    with pytest.raises(MriSrError, match="None is unknown"):
        build_network({"num_feat": 4})


def test_unknown_option_is_named():
    with pytest.raises(MriSrError, match="unknown option 'num_blocks'"):
        build_network({"type": "rrdbnet", "num_blocks": 1})


def test_unsupported_value_becomes_a_user_error():
    with pytest.raises(MriSrError, match="network srresnet: SRResNet: scale 5"):
        build_network({"type": "srresnet", "scale": 5})


def test_nothing_imports_torchvision():
    package = Path(mri_sr.nets.__file__).parent
    for source in package.glob("*.py"):
        assert "torchvision" not in source.read_text(), source.name
    assert "torchvision" not in sys.modules


@pytest.mark.parametrize("spec", [
    {"type": "srresnet", "num_feat": 8, "num_block": 1},
    {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_image_skip_starts_at_bicubic_and_keeps_keys(spec, scale):
    import torch.nn.functional as F

    plain = build_network({**spec, "scale": scale, "in_channels": 1})
    skip = build_network({**spec, "scale": scale, "in_channels": 1, "image_skip": True})
    assert plain.state_dict().keys() == skip.state_dict().keys()
    lr = torch.rand(2, 1, 9, 7)
    expected = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
    torch.testing.assert_close(skip(lr), expected)
