"""Perceptual loss with a randomly initialised VGG19 on a real image (skimage camera)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data, filters, transform

from mri_sr.errors import MriSrError
from mri_sr.losses import PerceptualLoss

SIZE = 32


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return transform.resize(data.camera() / 255.0, (SIZE, SIZE), anti_aliasing=True)


@pytest.fixture(scope="module")
def esrgan_loss() -> PerceptualLoss:
    torch.manual_seed(0)
    return PerceptualLoss(vgg19={"layer_weights": {"conv5_4": 1.0}}, pretrained=False)


def _t(image: np.ndarray) -> torch.Tensor:
    return torch.tensor(image, dtype=torch.float32)[None, None]


def test_identical_images_give_zero(esrgan_loss: PerceptualLoss, camera: np.ndarray) -> None:
    assert esrgan_loss(_t(camera), _t(camera)).item() == 0.0


@pytest.mark.parametrize("layer", ["conv5_4", "relu2_2"])
def test_grows_with_blur(layer: str, esrgan_loss: PerceptualLoss, camera: np.ndarray) -> None:
    torch.manual_seed(0)
    loss = esrgan_loss if layer == "conv5_4" else PerceptualLoss(vgg19={"layer_weights": {layer: 1.0}}, pretrained=False)
    hr = _t(camera)
    values = [loss(_t(filters.gaussian(camera, sigma=s)), hr).item() for s in (0.5, 1.0, 2.0, 4.0)]
    assert 0 < values[0] < values[1] < values[2] < values[3]


def test_one_channel_equals_three_channel_replication(
    esrgan_loss: PerceptualLoss, camera: np.ndarray
) -> None:
    hr = _t(camera)
    sr = _t(filters.gaussian(camera, sigma=1.0))
    one = esrgan_loss(sr, hr)
    three = esrgan_loss(sr.repeat(1, 3, 1, 1), hr.repeat(1, 3, 1, 1))
    assert one.item() == pytest.approx(three.item(), rel=1e-6)


def test_layer_weights_and_criterion(camera: np.ndarray) -> None:
    torch.manual_seed(0)
    both = PerceptualLoss(criterion="l2", vgg19={"layer_weights": {"relu1_2": 0.5, "relu2_2": 2.0}}, pretrained=False)
    hr, sr = _t(camera), _t(filters.gaussian(camera, sigma=1.0))
    with torch.no_grad():
        feats_sr = both.features.vgg(both.features.prepare(sr))
        feats_hr = both.features.vgg(both.features.prepare(hr))
    expected = sum(
        w * ((feats_sr[n] - feats_hr[n]) ** 2).mean().item()
        for n, w in {"relu1_2": 0.5, "relu2_2": 2.0}.items()
    )
    assert both(sr, hr).item() == pytest.approx(expected, rel=1e-5)


def test_input_normalisation(esrgan_loss: PerceptualLoss) -> None:
    gray = torch.full((1, 1, 2, 2), 0.5)
    prepared = esrgan_loss.features.prepare(gray)[0, :, 0, 0]
    expected = [(0.5 - m) / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    assert prepared.tolist() == pytest.approx(expected, rel=1e-6)


def test_frozen_eval_and_gradient_to_sr(esrgan_loss: PerceptualLoss, camera: np.ndarray) -> None:
    esrgan_loss.train()
    assert not esrgan_loss.features.training
    assert not any(p.requires_grad for p in esrgan_loss.parameters())
    sr = _t(filters.gaussian(camera, sigma=1.0)).requires_grad_()
    esrgan_loss(sr, _t(camera)).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    # the module's state dict holds only torchvision's VGG19 keys
    assert all(k.startswith("features.vgg.features.") for k in esrgan_loss.state_dict())


def test_srgan_feature_scale_divides_the_maps_by_12_75(camera: np.ndarray) -> None:
    # SRGAN's VGG54: feature maps / 12.75, so the MSE is 1 / 12.75**2 (about 0.006) of the raw one.
    torch.manual_seed(0)
    raw = PerceptualLoss(criterion="l2", vgg19={"layer_weights": {"relu2_2": 1.0}}, pretrained=False)
    scaled = PerceptualLoss(criterion="l2", vgg19={"layer_weights": {"relu2_2": 1.0}, "feature_scale": 1 / 12.75},
                            pretrained=False)
    scaled.load_state_dict(raw.state_dict())
    hr, sr = _t(camera), _t(filters.gaussian(camera, sigma=1.0))
    assert scaled(sr, hr).item() == pytest.approx(raw(sr, hr).item() / 12.75**2, rel=1e-5)
    assert scaled.describe()["feature_scale"] == pytest.approx(1 / 12.75)


def test_unknown_network_or_option_is_one_line(camera: np.ndarray) -> None:
    with pytest.raises(MriSrError, match="perceptual network 'alexnet'"):
        PerceptualLoss(network="alexnet")
    with pytest.raises(MriSrError, match="perceptual vgg19 options"):
        PerceptualLoss(vgg19={"layer": "conv5_4"}, pretrained=False)
