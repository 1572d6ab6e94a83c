"""Cycle-consistency and identity losses of SRResCycGAN.

Notation: ``net_g_hr`` (G_HR) maps LR -> HR (the super-resolution network), ``net_g_lr`` (G_LR)
maps HR -> LR (the learned degradation). Both losses are L1 means over all elements.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from mri_sr.data.kspace import kspace_truncate_torch, kspace_zero_fill
from mri_sr.data.resize import imresize_torch
from mri_sr.errors import MriSrError


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
    """Each generator fed an image already in its target domain, at its input size, returns it unchanged.

    Exact definition (this project's reading of the design notes; ``resample`` is the resampling
    of the training degradation, ``degrade`` the whole training degradation, k-space + noise as
    ``mri-sr prepare`` makes it):

    * ``identity_hr = mean(|net_g_hr(lr) - hr|)``: G_HR's target domain is HR and its input size
      the LR size; the HR image at LR size is ``degrade(hr)``, which is the batch's ``lr``. With an
      L1 content term this equals it (its weight adds to the content weight); it is passed in
      as ``sr = net_g_hr(lr)`` so the step computes G_HR(lr) once.
    * ``identity_lr = mean(|net_g_lr(up(lr)) - lr|)``: G_LR's target domain is LR and its input
      size the HR size; the LR image at HR size is ``up(lr)``, the inverse of the training
      resampling (``"kspace"``: k-space zero filling, :func:`~mri_sr.data.kspace.kspace_zero_fill`;
      ``"bicubic"``: MATLAB bicubic upscaling), which adds no detail and keeps the LR noise. G_LR
      should then only resample, not degrade again.

    An earlier version fed G_HR a *bicubic* downscale of HR, a degradation G_HR never sees at
    test time (the training LR is k-space + noise).

    Args:
        resample: ``"kspace"`` or ``"bicubic"``: the kind of the prepared data's degradation.
    """

    def __init__(self, resample: str = "kspace") -> None:
        super().__init__()
        if resample not in ("kspace", "bicubic"):
            raise MriSrError(f"identity loss: resample {resample!r} is not 'kspace' or 'bicubic'")
        self.resample = resample

    def upsample(self, lr: Tensor, size: tuple[int, int]) -> Tensor:
        """(B, C, h, w) LR -> (B, C, *size) by the inverse of the training resampling, clamped to [0, 1]."""
        if self.resample == "bicubic":
            return bicubic_resize(lr, size)
        return kspace_zero_fill(lr, size[0] // lr.shape[-2]).clamp(0.0, 1.0)

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
        identity_lr = _l1(net_g_lr(self.upsample(lr, (hr.shape[-2], hr.shape[-1]))), lr)
        return identity_hr, identity_lr


class LRConsistencyLoss(nn.Module):
    """Data consistency: the SR output, degraded by the known resampling, should give back the LR input.

    ``loss = mean(|down(sr) - lr|)`` with ``down`` the training degradation's resampling without
    noise (``"kspace"``: central k-space truncation; ``"bicubic"``: MATLAB bicubic): the quantity
    ``mri-sr evaluate`` reports as LR consistency, as an L1 training term. The forward cycle
    measures the same through the learned G_LR, which only approximates ``down``.

    Args:
        resample: ``"kspace"`` or ``"bicubic"``: the kind of the prepared data's degradation.
    """

    def __init__(self, resample: str = "kspace") -> None:
        super().__init__()
        if resample not in ("kspace", "bicubic"):
            raise MriSrError(f"lr_consistency loss: resample {resample!r} is not 'kspace' or 'bicubic'")
        self.resample = resample

    def forward(self, sr: Tensor, lr: Tensor) -> Tensor:
        """Args: sr (B, C, H, W), lr (B, C, H/s, W/s) float in [0, 1]. Returns: scalar tensor."""
        if self.resample == "bicubic":
            return _l1(bicubic_resize(sr, (lr.shape[-2], lr.shape[-1])), lr)
        return _l1(kspace_truncate_torch(sr, sr.shape[-2] // lr.shape[-2]), lr)
