from __future__ import annotations

import pytest
import torch

from mri_sr.errors import MriSrError
from mri_sr.losses import PixelLoss


def test_l1_and_l2_hand_values() -> None:
    sr = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
    hr = torch.tensor([[[[0.5, 0.5], [0.0, 0.0]]]])
    # |diff| = 0.5, 0, 1, 0.25
    assert PixelLoss(criterion="l1")(sr, hr).item() == pytest.approx((0.5 + 0 + 1 + 0.25) / 4)
    assert PixelLoss(criterion="l2")(sr, hr).item() == pytest.approx(
        (0.25 + 0 + 1 + 0.0625) / 4
    )


def test_identical_is_zero_and_shape_mismatch_raises() -> None:
    x = torch.rand(2, 3, 5, 5)
    assert PixelLoss()(x, x.clone()).item() == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        PixelLoss()(x, x[:, :1])


def test_unknown_criterion() -> None:
    with pytest.raises(MriSrError, match="'l3'"):
        PixelLoss(criterion="l3")
