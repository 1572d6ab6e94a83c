"""Running a trained generator: the one inference path of upscaling, evaluation and validation.

:class:`Inference` puts the network in eval mode (optionally channels-last, NHWC, the layout
oneDNN convolutions prefer on the CPU), runs batches under ``torch.inference_mode`` and the
precision's autocast, splits them by a batch size and an output-pixel budget, tiles a slice too
large for memory (halving the batch, then tiling, after an out-of-memory error; see
:mod:`mri_sr.tiling`), optionally applies a data-consistency projection of the output onto its LR
(:meth:`mri_sr.data.degradation.Degradation.consistency`), and returns float32 images clamped to
[0, 1].

Self-ensemble (Lim et al. 2017, EDSR's "+" models): the generator runs on the four quarter turns
of its input, each output is turned back, and the four are averaged: four forward passes, nothing
asked of training. Measurements: BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mri_sr.device import Precision
from mri_sr.tiling import RunPlan, run_adaptive

Projection = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A data-consistency projection: ``(sr (B, C, H, W), lr (B, C, h, w)) -> (B, C, H, W)``."""


class Inference:
    """A generator ready to upscale batches of [0, 1] images.

    Args:
        net: generator with ``.scale``; put in eval mode (and, with ``channels_last``, converted
            in place) on ``precision.device``.
        precision: device and autocast mode.
        batch_size: most images per forward pass.
        max_pixels: most output pixels per forward pass (None: no limit).
        tile: LR tile size in pixels, or None for whole images.
        overlap: least overlap of tiles, LR pixels.
        channels_last: run in channels-last (NHWC) layout.
        self_ensemble: average the outputs of the four quarter turns of each input.
        name: the file or model, for messages.
    """

    def __init__(self, net: nn.Module, precision: Precision, *, batch_size: int = 8, max_pixels: int | None = None,
                 tile: int | None = None, overlap: int = 8, channels_last: bool = True,
                 self_ensemble: bool = False, name: str = "generator") -> None:
        self.net, self.precision, self.channels_last = net.eval(), precision, channels_last
        self.self_ensemble = self_ensemble
        self.net.to(precision.device)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.max_pixels = max_pixels
        self.plan = RunPlan(net.scale, batch_size, tile, overlap, name)

    @property
    def scale(self) -> int:
        return self.plan.scale

    @property
    def device(self) -> torch.device:
        return self.precision.device

    def _forward(self, lr: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast():
            if not self.self_ensemble:
                return self.net(lr)
            total = torch.zeros((), device=lr.device)
            for turns in range(4):
                total = total + torch.rot90(self.net(torch.rot90(lr, turns, (2, 3))).float(), -turns, (2, 3))
            return total / 4

    @torch.inference_mode()
    def __call__(self, lr: torch.Tensor, projection: Projection | None = None) -> torch.Tensor:
        """Upscale a batch.

        Args:
            lr: (B, C, h, w) float32 in [0, 1], on any device: whole images.
            projection: the LR degradation's data-consistency projection
                (:meth:`~mri_sr.data.degradation.Degradation.consistency`), applied to the
                network's output before clamping; None: the output as it is.

        Returns:
            (B, C, h * scale, w * scale) float32 in [0, 1] on the inference device.
        """
        lr = lr.to(self.device, dtype=torch.float32, non_blocking=True)
        if self.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        if self.max_pixels is not None:
            per_call = self.max_pixels // (lr.shape[2] * lr.shape[3] * self.scale**2)
            self.plan.batch_size = max(1, min(self.plan.batch_size, per_call))
        out = run_adaptive(self._forward, lr, self.plan)
        if projection is not None:
            out = projection(out, lr)
        return out.clamp_(0.0, 1.0)
