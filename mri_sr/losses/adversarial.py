"""Adversarial losses over discriminator logits: vanilla GAN, LSGAN and relativistic average GAN."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mri_sr.errors import MriSrError

GAN_TYPES = ("vanilla", "lsgan", "ragan")


def _bce_logits(logits: Tensor, target_is_real: bool) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against an all-1 or all-0 target (stable)."""
    target = logits.new_ones(()) if target_is_real else logits.new_zeros(())
    return F.binary_cross_entropy_with_logits(logits, target.expand_as(logits))


class GANLoss(nn.Module):
    """Generator and discriminator terms of one adversarial objective.

    Predictions are raw discriminator outputs (logits, any shape, e.g. (B, 1) or a (B, 1, h, w)
    patch map); every mean ``E[.]`` below is over all their elements. Let
    ``bce(z, 1) = -log sigmoid(z) = softplus(-z)`` and ``bce(z, 0) = -log(1 - sigmoid(z)) =
    softplus(z)``, evaluated in the numerically stable ``binary_cross_entropy_with_logits`` form.

    ``"vanilla"`` (SRGAN):
        ``L_G = E[bce(C(x_f), 1)]``;
        ``L_D = E[bce(C(x_r), 1)] + E[bce(C(x_f), 0)]``.
    ``"lsgan"``:
        ``L_G = E[(C(x_f) - 1)^2]``;
        ``L_D = E[(C(x_r) - 1)^2] + E[C(x_f)^2]``.
    ``"ragan"`` (ESRGAN, relativistic average, ``D_Ra(a, b) = sigmoid(C(a) - E[C(b)])``):
        ``L_D = (E[bce(C(x_r) - E[C(x_f)], 1)] + E[bce(C(x_f) - E[C(x_r)], 0)]) / 2``;
        ``L_G = (E[bce(C(x_r) - E[C(x_f)], 0)] + E[bce(C(x_f) - E[C(x_r)], 1)]) / 2``.
        The ESRGAN paper writes the sums without the 1/2; its released code (and BasicSR) average
        the two terms, and the published weight 5e-3 was tuned with the average, so it is used here.

    Gradients and the caller's duties:
        * Generator step: ``fake_pred = net_d(sr)`` keeps its graph; ``real_pred`` is always
          detached inside ``generator_loss`` (the generator loss never trains the discriminator).
        * Discriminator step: the caller passes ``fake_pred = net_d(sr.detach())`` so that no
          gradient reaches the generator. For ragan both means ``E[C(.)]`` keep their gradient,
          as in ESRGAN's released code.

    Args:
        gan_type: ``"vanilla"``, ``"lsgan"`` or ``"ragan"``.

    Raises:
        MriSrError: unknown ``gan_type``.
    """

    def __init__(self, gan_type: str = "vanilla") -> None:
        super().__init__()
        if gan_type not in GAN_TYPES:
            raise MriSrError(f"gan_type: {gan_type!r} is not one of {', '.join(GAN_TYPES)}")
        self.gan_type = gan_type

    def generator_loss(self, real_pred: Tensor | None, fake_pred: Tensor) -> Tensor:
        """Adversarial term of the generator (weighted by the config's ``gan`` weight).

        Args:
            real_pred: discriminator logits on HR images; required for ``"ragan"``, ignored
                (may be None) otherwise.
            fake_pred: discriminator logits on SR images, with graph to the generator.

        Returns:
            Scalar tensor.
        """
        if self.gan_type == "vanilla":
            return _bce_logits(fake_pred, True)
        if self.gan_type == "lsgan":
            return F.mse_loss(fake_pred, fake_pred.new_ones(()).expand_as(fake_pred))
        if real_pred is None:
            raise ValueError("ragan generator_loss needs real_pred")
        real_pred = real_pred.detach()
        real_rel = real_pred - fake_pred.mean()
        fake_rel = fake_pred - real_pred.mean()
        return (_bce_logits(real_rel, False) + _bce_logits(fake_rel, True)) / 2

    def discriminator_loss(self, real_pred: Tensor, fake_pred: Tensor) -> Tensor:
        """Loss of the discriminator (unweighted).

        Args:
            real_pred: discriminator logits on HR images.
            fake_pred: discriminator logits on *detached* SR images.

        Returns:
            Scalar tensor.
        """
        if self.gan_type == "vanilla":
            return _bce_logits(real_pred, True) + _bce_logits(fake_pred, False)
        if self.gan_type == "lsgan":
            ones = real_pred.new_ones(()).expand_as(real_pred)
            return F.mse_loss(real_pred, ones) + fake_pred.pow(2).mean()
        real_rel = real_pred - fake_pred.mean()
        fake_rel = fake_pred - real_pred.mean()
        return (_bce_logits(real_rel, True) + _bce_logits(fake_rel, False)) / 2
