"""Validation on full prepared slices with the metrics the evaluator uses."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import numpy as np
import torch
from torch import nn

from mri_sr.data.resize import imresize_torch
from mri_sr.metrics import per_slice, psnr_batch, ssim_batch
from mri_sr.train.device import Precision


def _batches(items: list[dict[str, Any]], size: int = 8):
    """Slices grouped by shape (one volume's slices share one), in batches of ``size``."""
    for _, group in groupby(items, key=lambda it: it["lr"].shape):
        group = list(group)
        for i in range(0, len(group), size):
            chunk = group[i:i + size]
            yield (torch.from_numpy(np.stack([it["lr"] for it in chunk])),
                   torch.from_numpy(np.stack([it["hr"] for it in chunk])))


def _score(sr_fn, items: list[dict[str, Any]], device: torch.device) -> tuple[float, float]:
    """Mean per-slice PSNR and SSIM exactly as ``mri-sr evaluate`` computes them on MRI slices."""
    psnrs, ssims = [], []
    for lr, hr in _batches(items):
        sr = sr_fn(lr.to(device)).float().clamp(0, 1).cpu().numpy()[:, 0]
        psnrs.append(per_slice(psnr_batch, sr, hr.numpy()[:, 0]))
        ssims.append(per_slice(ssim_batch, sr, hr.numpy()[:, 0]))
    return float(np.concatenate(psnrs).mean()), float(np.concatenate(ssims).mean())


@torch.inference_mode()
def validate(net_g: nn.Module, items: list[dict[str, Any]], scale: int, device: torch.device,
             precision: Precision) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM of ``net_g`` on full slices: data_range 1, SR clipped to [0, 1]."""
    was_training = net_g.training
    net_g.eval()

    def run(lr: torch.Tensor) -> torch.Tensor:
        with precision.autocast():
            return net_g(lr)

    try:
        return _score(run, items, device)
    finally:
        net_g.train(was_training)


def bicubic_baseline(items: list[dict[str, Any]], scale: int) -> tuple[float, float]:
    """The same metrics for MATLAB-bicubic upscaling of the LR slices."""
    return _score(lambda lr: imresize_torch(lr.double(), scale=scale), items, torch.device("cpu"))
