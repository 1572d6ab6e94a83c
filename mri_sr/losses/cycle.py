"""Cycle-consistency and identity losses of SRResCycGAN.

Notation: ``net_g_hr`` (G_HR) maps LR -> HR (the super-resolution network), ``net_g_lr`` (G_LR)
maps HR -> LR (the learned degradation). Both losses are L1 means over all elements.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from mri_sr.data.resize import imresize_torch


def bicubic_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """MATLAB-compatible bicubic resampling to ``size`` (the degradation's resize), clamped to [0, 1]."""
    return imresize_torch(x, output_shape=size).clamp(0.0, 1.0)




def _l1(prediction: Tensor, target: Tensor) -> Tensor:
    if prediction.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(prediction.shape)} vs {tuple(target.shape)}")
    return F.l1_loss(prediction, target)


class CycleLoss(nn.Module):
    """L1 between a cycle's reconstruction and its start: ``mean(|reconstructed - original|)``.

    Tensor based, so a training step reuses outputs it has already computed:

    * forward cycle (LR -> HR -> LR): ``loss(net_g_lr(net_g_hr(lr)), lr)``;
    * backward cycle (HR -> LR -> HR): ``loss(net_g_hr(net_g_lr(hr)), hr)``.
    """

    def forward(self, reconstructed: Tensor, original: Tensor) -> Tensor:
        """Args: reconstructed, original: (B, C, H, W) float of equal shape. Returns: scalar."""
        return _l1(reconstructed, original)


class IdentityLoss(nn.Module):
    """Each generator fed an image already in its target domain should return it unchanged.

    With ``down = bicubic_resize(hr, lr.shape[-2:])`` and ``up = bicubic_resize(lr,
    hr.shape[-2:])`` (see :func:`bicubic_resize`; the resampling factor is the scale implied by
    the two shapes):

    * ``identity_hr = mean(|net_g_hr(down) - hr|)``  (G_HR sees an LR-sized HR image);
    * ``identity_lr = mean(|net_g_lr(up) - lr|)``    (G_LR sees an HR-sized LR image).
    """

    def forward(
        self,
        net_g_hr: Callable[[Tensor], Tensor],
        net_g_lr: Callable[[Tensor], Tensor],
        lr: Tensor,
        hr: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Identity losses of both generators.

        Args:
            net_g_hr: LR -> HR generator, (B, C, h, w) -> (B, C, H, W).
            net_g_lr: HR -> LR generator, (B, C, H, W) -> (B, C, h, w).
            lr: (B, C, h, w) float in [0, 1].
            hr: (B, C, H, W) float in [0, 1].

        Returns:
            ``(identity_hr, identity_lr)``, scalar tensors with graphs to their generator.
        """
        lr_size = (lr.shape[-2], lr.shape[-1])
        hr_size = (hr.shape[-2], hr.shape[-1])
        identity_hr = _l1(net_g_hr(bicubic_resize(hr, lr_size)), hr)
        identity_lr = _l1(net_g_lr(bicubic_resize(lr, hr_size)), lr)
        return identity_hr, identity_lr
