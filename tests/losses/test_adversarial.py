"""GAN terms against hand computations with python's math module."""

from __future__ import annotations

import math

import pytest
import torch

from mri_sr.errors import MriSrError
from mri_sr.losses import GANLoss

REAL = [1.0, -0.5, 2.0]
FAKE = [-1.0, 0.5, 0.0]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_vanilla_hand_values() -> None:
    gan = GANLoss(gan_type="vanilla")
    g = _mean([-math.log(_sigmoid(f)) for f in FAKE])
    d = _mean([-math.log(_sigmoid(r)) for r in REAL]) + _mean(
        [-math.log(1 - _sigmoid(f)) for f in FAKE]
    )
    assert gan.generator_loss(None, _t(FAKE)).item() == pytest.approx(g, rel=1e-12)
    assert gan.discriminator_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(d, rel=1e-12)


def test_vanilla_is_stable_for_large_logits() -> None:
    gan = GANLoss(gan_type="vanilla")
    # -log(sigmoid(-100)) = 100 + log(1 + e^-100) ~ 100; a naive log(sigmoid) in float32 is inf
    value = gan.generator_loss(None, torch.tensor([-100.0]))
    assert value.item() == pytest.approx(100.0)
    d_value = gan.discriminator_loss(torch.tensor([-100.0]), torch.tensor([100.0]))
    assert d_value.item() == pytest.approx(200.0)


def test_lsgan_hand_values() -> None:
    gan = GANLoss(gan_type="lsgan")
    g = _mean([(f - 1) ** 2 for f in FAKE])
    d = _mean([(r - 1) ** 2 for r in REAL]) + _mean([f**2 for f in FAKE])
    assert gan.generator_loss(None, _t(FAKE)).item() == pytest.approx(g)
    assert gan.discriminator_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(d)


def test_ragan_hand_values() -> None:
    gan = GANLoss(gan_type="ragan")
    mean_real, mean_fake = _mean(REAL), _mean(FAKE)
    d_real = [_sigmoid(r - mean_fake) for r in REAL]  # D_Ra(x_r, x_f)
    d_fake = [_sigmoid(f - mean_real) for f in FAKE]  # D_Ra(x_f, x_r)
    loss_d = (_mean([-math.log(p) for p in d_real]) + _mean([-math.log(1 - p) for p in d_fake])) / 2
    loss_g = (_mean([-math.log(1 - p) for p in d_real]) + _mean([-math.log(p) for p in d_fake])) / 2
    assert gan.discriminator_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(loss_d, rel=1e-12)
    assert gan.generator_loss(_t(REAL), _t(FAKE)).item() == pytest.approx(loss_g, rel=1e-12)


def test_ragan_patch_maps_average_over_all_elements() -> None:
    gan = GANLoss(gan_type="ragan")
    real, fake = _t(REAL + FAKE), _t(FAKE + REAL)
    # (B=2, 1, h=1, w=3) patch maps: the result depends only on the set of values
    value = gan.discriminator_loss(real.view(2, 1, 1, 3), fake.view(2, 1, 1, 3))
    assert value.item() == pytest.approx(gan.discriminator_loss(real, fake).item(), rel=1e-12)


def test_ragan_generator_does_not_train_the_discriminator() -> None:
    gan = GANLoss(gan_type="ragan")
    real = _t(REAL).requires_grad_()
    fake = _t(FAKE).requires_grad_()
    gan.generator_loss(real, fake).backward()
    assert real.grad is None
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="real_pred"):
        gan.generator_loss(None, fake)


def test_unknown_type() -> None:
    with pytest.raises(MriSrError, match="wgan"):
        GANLoss(gan_type="wgan")
