from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from mri_sr.errors import MriSrError
from mri_sr.losses import (
    LOSSES,
    GANLoss,
    PerceptualLoss,
    PixelLoss,
    build_loss_terms,
    weighted_sum,
)


@pytest.fixture
def no_vgg_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MRI_SR_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))


def test_weighted_sum_total_and_parts() -> None:
    pixel = torch.tensor(2.0, requires_grad=True)
    gan = torch.tensor(0.5, requires_grad=True)
    total, parts = weighted_sum(
        {"pixel": pixel, "gan": gan}, {"pixel": 0.01, "gan": 0.1, "perceptual": 1.0}
    )
    assert total.item() == pytest.approx(0.01 * 2.0 + 0.1 * 0.5)
    assert parts == pytest.approx({"pixel": 0.02, "gan": 0.05})
    assert all(type(v) is float for v in parts.values())
    total.backward()
    assert pixel.grad.item() == pytest.approx(0.01) and gan.grad.item() == pytest.approx(0.1)


def test_weighted_sum_missing_weight_names_the_term() -> None:
    with pytest.raises(MriSrError, match="'cycle'"):
        weighted_sum({"pixel": torch.tensor(1.0), "cycle": torch.tensor(1.0)}, {"pixel": 1.0})


def test_zero_perceptual_weight_builds_no_vgg_and_warns(
    no_vgg_weights: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mri_sr.losses"):
        terms = build_loss_terms(
            {"pixel": 0.01, "perceptual": 0.0, "gan": 0.005}, gan={"gan_type": "ragan"}
        )
    assert set(terms) == {"pixel", "gan"}
    assert isinstance(terms["pixel"], PixelLoss)
    assert isinstance(terms["gan"], GANLoss) and terms["gan"].gan_type == "ragan"
    assert "perceptual loss is off" in caplog.text


def test_positive_perceptual_weight_without_file_errors(no_vgg_weights: None) -> None:
    with pytest.raises(MriSrError, match="vgg19-dcbb9e9d.pth"):
        build_loss_terms({"perceptual": 1.0})


def test_options_reach_the_constructor() -> None:
    terms = build_loss_terms(
        {"perceptual": 1.0, "tv": 1.0},
        perceptual={"vgg19": {"layer_weights": {"relu1_2": 1.0}}, "pretrained": False},
    )
    assert isinstance(terms["perceptual"], PerceptualLoss)
    assert len(terms["perceptual"].features.vgg.features) == 4
    assert isinstance(terms["tv"], LOSSES["tv"])


def test_config_mistakes() -> None:
    with pytest.raises(MriSrError, match="'pixle'"):
        build_loss_terms({"pixle": 1.0})
    with pytest.raises(MriSrError, match="negative"):
        build_loss_terms({"pixel": -1.0})
    with pytest.raises(MriSrError, match="'gan' has options but no weight"):
        build_loss_terms({"pixel": 1.0}, gan={"gan_type": "ragan"})


def test_resampling_terms_take_the_data_degradation_without_blur_or_noise() -> None:
    from mri_sr.data.degradation import Bicubic, KSpace

    for data in (Bicubic(scale=2, blur_sigma=0.5, noise_sigma=0.02), KSpace(scale=4, noise_sigma=0.01)):
        terms = build_loss_terms({"identity": 1.0, "lr_consistency": 1.0}, data)
        for name in ("identity", "lr_consistency"):
            assert terms[name].degradation == type(data)(scale=data.scale), name
    with pytest.raises(ValueError, match="degradation"):
        build_loss_terms({"identity": 1.0})
