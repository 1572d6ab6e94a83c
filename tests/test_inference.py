"""Inference's self-ensemble: the outputs of the four quarter turns, turned back and averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mri_sr.data.degradation import KSpace
from mri_sr.device import Precision
from mri_sr.inference import Inference
from mri_sr.io import load_volume
from mri_sr.nets import build_network

FP32 = Precision(torch.device("cpu"), "fp32")


@pytest.fixture(scope="module")
def mni_slices() -> torch.Tensor:
    """Two real axial slices of the MNI template, cropped to a non-square box: (2, 1, 60, 84) in [0, 1]."""
    data = load_volume("builtin:mni152").data
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(data[60:120, 70:154, 80:82], 2, 0)))[:, None]


class ShiftedNearest(nn.Module):
    """x2 nearest upscaling plus a gradient along the last axis of the output: its output's
    orientation shows whether each transformed output was mapped back the right way."""

    scale = 2

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(lr, scale_factor=2, mode="nearest")
        ramp = torch.linspace(0, 1, up.shape[-1], device=up.device)
        return up + 0.1 * ramp


def _turns(x: torch.Tensor) -> list[torch.Tensor]:
    return [torch.rot90(x, turns, (2, 3)) for turns in range(4)]


def test_self_ensemble_of_an_equivariant_upscaler_changes_nothing(mni_slices):
    net = ShiftedNearest()
    nearest = F.interpolate(mni_slices, scale_factor=2, mode="nearest")
    ensembled = Inference(net, FP32, channels_last=False, self_ensemble=True)(mni_slices)
    # Nearest upscaling commutes with every quarter turn: turned back, the 4 outputs agree on it,
    # and the ramp (not equivariant) averages to its mean over the four turned positions.
    torch.testing.assert_close(ensembled, (nearest + 0.05).clamp(0, 1), rtol=0, atol=1e-5)
    assert ensembled.shape == (2, 1, 120, 168)


@pytest.mark.parametrize("channels_last", [False, True])
def test_self_ensemble_output_commutes_with_quarter_turns(mni_slices, channels_last):
    torch.manual_seed(0)
    net = build_network({"type": "srresnet", "num_feat": 8, "num_block": 1, "scale": 2, "in_channels": 1})
    plain = Inference(net, FP32, channels_last=channels_last)
    ensemble = Inference(net, FP32, channels_last=channels_last, self_ensemble=True)
    outputs, plain_outputs = ensemble(mni_slices), plain(mni_slices)
    worst = worst_plain = 0.0
    for transformed, expected, expected_plain in zip(_turns(mni_slices), _turns(outputs), _turns(plain_outputs),
                                                     strict=True):
        worst = max(worst, (ensemble(transformed) - expected).abs().max().item())
        worst_plain = max(worst_plain, (plain(transformed) - expected_plain).abs().max().item())
    assert worst < 1e-5
    assert worst_plain > 1e-3  # a single pass of the network does not commute: the check can fail


# ------------------------------------------------------------------- the spread of the views

def _ramp_views(shape: tuple[int, int, int, int]) -> torch.Tensor:
    """The four ramps ShiftedNearest adds on the turned inputs, each turned back: (4, B, C, H, W)."""
    views = []
    for turns in range(4):
        turned = torch.rot90(torch.zeros(shape), turns, (2, 3))
        ramp = torch.linspace(0, 1, turned.shape[-1]).expand_as(turned)
        views.append(torch.rot90(0.1 * ramp, -turns, (2, 3)))
    return torch.stack(views)


def test_spread_of_the_views_is_their_standard_deviation(mni_slices):
    inference = Inference(ShiftedNearest(), FP32, channels_last=False, self_ensemble=True)
    out, spread = inference.with_spread(mni_slices)
    # The nearest part agrees in every view: the spread is the population std of the ramps alone.
    expected = _ramp_views(out.shape).std(dim=0, unbiased=False)
    torch.testing.assert_close(spread, expected, rtol=0, atol=1e-6)
    assert spread.shape == out.shape and float(spread.max()) > 0.01
    single = Inference(ShiftedNearest(), FP32, channels_last=False).with_spread(mni_slices)[1]
    assert torch.count_nonzero(single) == 0  # one view: nothing to disagree with


@pytest.mark.parametrize(("channels_last", "self_ensemble", "tile"),
                         [(False, True, None), (True, True, None), (True, False, None), (True, True, 24),
                          (False, True, 24)])
def test_output_beside_the_spread_is_bit_identical(mni_slices, channels_last, self_ensemble, tile):
    torch.manual_seed(0)
    net = build_network({"type": "srresnet", "num_feat": 8, "num_block": 1, "scale": 2, "in_channels": 1})
    inference = Inference(net, FP32, channels_last=channels_last, self_ensemble=self_ensemble, tile=tile, overlap=4)
    for projection in (None, KSpace(scale=2, noise_sigma=0.01).consistency()):
        plain = inference(mni_slices, projection)
        out, spread = inference.with_spread(mni_slices, projection)
        assert torch.equal(out, plain)
        assert spread.shape == plain.shape and bool((spread >= 0).all())
        assert (float(spread.max()) > 1e-3) == self_ensemble
