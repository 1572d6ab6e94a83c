"""Cycle-consistency and identity losses of SRResCycGAN.

Notation: ``net_g_hr`` (G_HR) maps LR -> HR (the super-resolution network), ``net_g_lr`` (G_LR)
maps HR -> LR (the learned degradation). Both losses are L1 means over all elements.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from mri_sr.data.degradation import Degradation


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
    """Each generator fed an image already in its target domain, at its input size, returns it unchanged.

    Exact definition (this project's reading of the design notes; ``degradation`` is the
    prepared data's degradation, k-space + noise or bicubic as ``mri-sr prepare`` makes it):

    * ``identity_hr = mean(|net_g_hr(lr) - hr|)``: G_HR's target domain is HR and its input size
      the LR size; the HR image at LR size is ``degrade(hr)``, which is the batch's ``lr``. With an
      L1 content term this equals it (its weight adds to the content weight); it is passed in
      as ``sr = net_g_hr(lr)`` so the step computes G_HR(lr) once.
    * ``identity_lr = mean(|net_g_lr(up(lr)) - lr|)``: G_LR's target domain is LR and its input
      size the HR size; the LR image at HR size is ``up(lr)``, the degradation's inverse
      resampling (:meth:`~mri_sr.data.degradation.Degradation.upsample`: k-space zero filling,
      or MATLAB bicubic upscaling), which adds no detail and keeps the LR noise. G_LR should then
      only resample, not degrade again.

    Args:
        degradation: the prepared data's degradation (its kind and scale).
    """

    def __init__(self, degradation: Degradation) -> None:
        super().__init__()
        self.degradation = degradation

    def forward(
        self, sr: Tensor, net_g_lr: Callable[[Tensor], Tensor], lr: Tensor, hr: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Identity losses of both generators.

        Args:
            sr: (B, C, H, W) float, ``net_g_hr(lr)`` with graph to G_HR.
            net_g_lr: HR -> LR generator, (B, C, H, W) -> (B, C, h, w).
            lr: (B, C, h, w) float in [0, 1], the training degradation of ``hr``.
            hr: (B, C, H, W) float in [0, 1].

        Returns:
            ``(identity_hr, identity_lr)``, scalar tensors with graphs to their generator.
        """
        identity_hr = _l1(sr, hr)
        identity_lr = _l1(net_g_lr(self.degradation.upsample(lr)), lr)
        return identity_hr, identity_lr


class LRConsistencyLoss(nn.Module):
    """Data consistency: the SR output, degraded by the known resampling, should give back the LR input.

    ``loss = mean(|down(sr) - lr|)`` with ``down`` the prepared degradation's resampling without
    blur or noise (:meth:`~mri_sr.data.degradation.Degradation.downsample`): the quantity
    ``mri-sr evaluate`` reports as LR consistency, as an L1 training term. The forward cycle
    measures the same through the learned G_LR, which only approximates ``down``.

    Args:
        degradation: the prepared data's degradation (its kind and scale).
    """

    def __init__(self, degradation: Degradation) -> None:
        super().__init__()
        self.degradation = degradation

    def forward(self, sr: Tensor, lr: Tensor) -> Tensor:
        """Args: sr (B, C, H, W), lr (B, C, H/s, W/s) float in [0, 1]. Returns: scalar tensor."""
        return _l1(self.degradation.downsample(sr), lr)
