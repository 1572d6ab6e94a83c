from __future__ import annotations

import pytest
import torch

from mri_sr.losses import TVGradientLoss


def _img(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_gradient_match_is_zero_for_constant_offset() -> None:
    hr = torch.rand(2, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    assert TVGradientLoss()(hr + 0.25, hr).item() == pytest.approx(0.0, abs=1e-7)


def test_gradient_match_hand_value_3x3() -> None:
    sr = _img([[0.1, 0.2, 0.4], [0.0, 0.0, 0.0], [0.3, 0.3, 0.3]])
    hr = _img([[0.0, 0.0, 0.0], [0.0, 0.1, 0.2], [0.1, 0.1, 0.1]])
    # horizontal: dx(sr) = [[.1,.2],[0,0],[0,0]], dx(hr) = [[0,0],[.1,.1],[0,0]]
    #   |diff| sum = .1+.2+.1+.1 = .5 over 3*2 = 6 entries
    # vertical:   dy(sr) = [[-.1,-.2,-.4],[.3,.3,.3]], dy(hr) = [[0,.1,.2],[.1,0,-.1]]
    #   |diff| = [[.1,.3,.6],[.2,.3,.4]] sum = 1.9 over 2*3 = 6 entries
    expected = 0.5 / 6 + 1.9 / 6
    assert TVGradientLoss()(sr, hr).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.4)


def test_gradient_flows_to_sr() -> None:
    sr = torch.rand(1, 1, 4, 4, requires_grad=True)
    TVGradientLoss()(sr, torch.zeros(1, 1, 4, 4)).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
