"""Validation on full prepared slices, through the evaluator's inference path and metrics."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from typing import Any

import numpy as np
import torch
from torch import nn

from mri_sr.resample import imresize_torch
from mri_sr.device import Precision
from mri_sr.inference import Inference
from mri_sr.metrics import per_slice, psnr_batch, ssim_batch

BATCH = 8


def _batches(items: list[dict[str, Any]], size: int = BATCH):
    """Slices grouped by shape (one volume's slices share one), in batches of ``size``."""
    for _, group in groupby(items, key=lambda it: it["lr"].shape):
        group = list(group)
        for i in range(0, len(group), size):
            chunk = group[i:i + size]
            yield (torch.from_numpy(np.stack([it["lr"] for it in chunk])),
                   torch.from_numpy(np.stack([it["hr"] for it in chunk])))


def _score(sr_fn: Callable[[torch.Tensor], torch.Tensor], items: list[dict[str, Any]]) -> tuple[float, float]:
    """Mean per-slice PSNR and SSIM as ``mri-sr evaluate`` computes them on MRI slices."""
    psnrs, ssims = [], []
    for lr, hr in _batches(items):
        sr = sr_fn(lr).float().clamp(0, 1).cpu().numpy()[:, 0]
        psnrs.append(per_slice(psnr_batch, sr, hr.numpy()[:, 0]))
        ssims.append(per_slice(ssim_batch, sr, hr.numpy()[:, 0]))
    return float(np.concatenate(psnrs).mean()), float(np.concatenate(ssims).mean())


def validate(net_g: nn.Module, items: list[dict[str, Any]], precision: Precision,
             channels_last: bool) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM of ``net_g`` on full slices: data_range 1, SR clipped to [0, 1].

    The generator runs through :class:`~mri_sr.inference.Inference` (as in ``mri-sr evaluate``)
    in the layout it trains in, and goes back to training mode afterwards.
    """
    was_training = net_g.training
    try:
        return _score(Inference(net_g, precision, batch_size=BATCH, channels_last=channels_last), items)
    finally:
        net_g.train(was_training)


def bicubic_baseline(items: list[dict[str, Any]], scale: int) -> tuple[float, float]:
    """The same metrics for MATLAB-bicubic upscaling of the LR slices."""
    return _score(lambda lr: imresize_torch(lr.double(), scale=scale), items)
