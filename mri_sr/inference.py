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
asked of training. :meth:`Inference.with_spread` also returns the per-pixel standard deviation
of the four views (their disagreement, not a calibrated error). Measurements: BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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

    def _views(self, lr: torch.Tensor) -> Iterator[torch.Tensor]:
        """The generator's output on each quarter turn of ``lr``, turned back (one view without
        self-ensemble); run under the precision's autocast by the caller."""
        for turns in range(4 if self.self_ensemble else 1):
            yield torch.rot90(self.net(torch.rot90(lr, turns, (2, 3))).float(), -turns, (2, 3))

    def _forward(self, lr: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast():
            if not self.self_ensemble:
                return self.net(lr)
            total = torch.zeros((), device=lr.device)
            for view in self._views(lr):
                total = total + view
            return total / 4

    def _forward_with_spread(self, doubled: torch.Tensor) -> torch.Tensor:
        """(B, 2C, h, w), the input twice -> (B, 2C, H, W): the mean of :meth:`_forward` (same
        operations, same numbers), then the views' population standard deviation."""
        channels = doubled.shape[1] // 2
        lr = doubled[:, :channels]
        lr = lr.contiguous(memory_format=torch.channels_last) if self.channels_last else lr.contiguous()
        if not self.self_ensemble:
            mean = self._forward(lr).float()
            return torch.cat([mean, torch.zeros_like(mean)], 1)
        with self.precision.autocast():
            views, total = [], torch.zeros((), device=lr.device)
            for view in self._views(lr):  # the sum of _forward, in its order
                views.append(view)
                total = total + view
            mean = total / 4
        variance = sum((view - mean).square() for view in views) / len(views)
        return torch.cat([mean, variance.sqrt()], 1)

    def _prepare(self, lr: torch.Tensor) -> torch.Tensor:
        lr = lr.to(self.device, dtype=torch.float32, non_blocking=True)
        if self.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        if self.max_pixels is not None:
            per_call = self.max_pixels // (lr.shape[2] * lr.shape[3] * self.scale**2)
            self.plan.batch_size = max(1, min(self.plan.batch_size, per_call))
        return lr

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
        lr = self._prepare(lr)
        out = run_adaptive(self._forward, lr, self.plan)
        if projection is not None:
            out = projection(out, lr)
        return out.clamp_(0.0, 1.0)

    @torch.inference_mode()
    def with_spread(self, lr: torch.Tensor,
                    projection: Projection | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Upscale a batch and measure how much the self-ensemble's views disagree.

        The spread is the per-pixel population standard deviation of the generator's outputs
        on the four quarter turns (each turned back), before data consistency and clamping: a
        measure of the views' disagreement, not a calibrated error. Without self-ensemble there
        is one view and the spread is 0. It is tiled, batched and blended like the output (it
        runs through :func:`~mri_sr.tiling.run_adaptive` as extra channels).

        Args:
            lr, projection: as :meth:`__call__`.

        Returns:
            ``(sr, spread)``: ``sr`` exactly as :meth:`__call__` returns it (the same numbers);
            ``spread`` (B, C, h * scale, w * scale) float32 >= 0 in the same normalised units,
            on the inference device.
        """
        lr = self._prepare(lr)
        both = run_adaptive(self._forward_with_spread, torch.cat([lr, lr], 1), self.plan)
        out, spread = both.split(lr.shape[1], 1)
        out = out.contiguous(memory_format=torch.channels_last) if self.channels_last else out.contiguous()
        if projection is not None:
            out = projection(out, lr)
        return out.clamp_(0.0, 1.0), spread.clamp_(min=0.0)
