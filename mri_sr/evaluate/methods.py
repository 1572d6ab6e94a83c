"""Super-resolution methods as callables: classical interpolation or a trained generator.

Two entry points, one per image convention:

- :meth:`SRMethod.upscale_float` for MRI slices, (B, C, h, w) float32 in [0, 1];
- :meth:`SRMethod.upscale_rgb` for natural images, (h, w, 3) uint8 RGB, whose result is rounded
  to uint8 as published SR tables do before measuring.

Classical methods:

- ``bicubic``: MATLAB ``imresize`` bicubic (:func:`mri_sr.resample.imresize`); uint8 mode
  (rounded after each axis, as MATLAB) for RGB, float for MRI.
- ``nearest`` and ``lanczos``: Pillow ``Image.resize`` with ``NEAREST`` (pixel replication at an
  integer scale) and ``LANCZOS`` (a = 3); on the uint8 RGB image for natural images and on each
  float32 slice (Pillow mode ``F``) for MRI.

A checkpoint's generator sees [0, 1] inputs: RGB / 255 for three-channel models; for one-channel
(MRI) models on natural images, BT.601 Y / 255 (MATLAB ``rgb2ycbcr``), with Cb and Cr upscaled by
float bicubic and the result converted back to RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mri_sr.checkpoint import load_generator
from mri_sr.device import Precision
from mri_sr.errors import MriSrError
from mri_sr.inference import Inference, Projection
from mri_sr.metrics import rgb_to_ycbcr, ycbcr_to_rgb
from mri_sr.resample import CLASSICAL, classical_upscale, imresize

MAX_BATCH = 16  # slices per generator call
BATCH_PIXELS = 2**20  # ... and at most this many output pixels per call


@dataclass
class SRMethod:
    """One way of making an SR image from an LR image.

    Attributes:
        name: display name (``bicubic``, or the checkpoint's model name unless given).
        kind: ``"bicubic"``, ``"nearest"``, ``"lanczos"`` or ``"checkpoint"``.
        scale: upscaling factor.
        in_channels: channels the generator takes (None for classical methods, which work on
            any number of channels).
        net_g: the generator's inference path (checkpoints only).
        source: the checkpoint file (checkpoints only).
        info: plain facts about the checkpoint for the metrics JSON (model, iteration, ...).
    """

    name: str
    kind: str
    scale: int
    in_channels: int | None = None
    net_g: Inference | None = None
    source: str | None = None
    info: dict[str, Any] | None = None

    def upscale_float(self, lr: np.ndarray, projection: Projection | None = None) -> np.ndarray:
        """Upscale a batch of float images.

        Args:
            lr: (B, C, h, w) float32 in [0, 1] (normalised intensities).
            projection: generators only: the data-consistency projection applied to the output
                (:class:`~mri_sr.inference.Inference`); classical methods ignore it.

        Returns:
            (B, C, h*scale, w*scale) float32, clipped to [0, 1].
        """
        lr = np.asarray(lr, dtype=np.float32)
        if self.net_g is not None:
            return self._run_net(lr, projection)
        out = np.empty((*lr.shape[:2], lr.shape[2] * self.scale, lr.shape[3] * self.scale), np.float32)
        for b in range(lr.shape[0]):
            for c in range(lr.shape[1]):
                out[b, c] = self._resize_float(lr[b, c])
        return np.clip(out, 0.0, 1.0)

    def upscale_rgb(self, lr: np.ndarray) -> np.ndarray:
        """Upscale one 8-bit RGB image; the result is rounded to uint8.

        Args:
            lr: (h, w, 3) uint8 RGB.

        Returns:
            (h*scale, w*scale, 3) uint8 RGB.
        """
        if self.kind in CLASSICAL:
            return classical_upscale(lr, self.scale, self.kind)
        if self.in_channels == 3:
            sr = self._run_net(lr.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)[0].transpose(1, 2, 0)
            return _to_uint8(sr * 255.0)
        ycbcr = rgb_to_ycbcr(lr)
        sr_y = self._run_net((ycbcr[..., 0] / 255.0).astype(np.float32)[None, None])[0, 0] * 255.0
        sr_cbcr = imresize(ycbcr[..., 1:], float(self.scale))
        return _to_uint8(ycbcr_to_rgb(np.concatenate([sr_y[..., None], sr_cbcr], axis=-1)))

    def _resize_float(self, img: np.ndarray) -> np.ndarray:
        """(h, w) float32 -> (h*s, w*s) float32 by the classical method (not clipped)."""
        return classical_upscale(img, self.scale, self.kind).astype(np.float32)

    def _run_net(self, lr: np.ndarray, projection: Projection | None = None) -> np.ndarray:
        """(B, C, h, w) float32 -> generator output clipped to [0, 1] (see :class:`Inference`)."""
        sr = self.net_g(torch.from_numpy(np.ascontiguousarray(lr)), projection)
        return np.ascontiguousarray(sr.cpu().numpy())


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """Float image in [0, 255] units -> uint8, rounded and saturated."""
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def load_method(method: str, scale: int, precision: Precision | None, name: str | None = None, *,
                self_ensemble: bool = False) -> SRMethod:
    """Make the SR callable named by ``--method``.

    Args:
        method: ``bicubic``, ``nearest``, ``lanczos`` or the path of a generator checkpoint.
        scale: the upscaling factor asked for.
        precision: device and autocast mode of a generator (None for classical methods).
        name: display name (default: the method, or the checkpoint's ``model``).
        self_ensemble: a generator averages its outputs over the four quarter turns of
            its input (:class:`~mri_sr.inference.Inference`); classical methods ignore it.

    Raises:
        MriSrError: not a known method nor a file, an unreadable checkpoint, or a checkpoint made
            for another scale (the message names the file).
    """
    if method in CLASSICAL:
        return SRMethod(name=name or method, kind=method, scale=scale)
    path = Path(method)
    if not path.is_file():
        raise MriSrError(f"{method}: not a checkpoint file, nor one of {', '.join(CLASSICAL)}")
    generator = load_generator(path, precision.device, both_axes=True)
    if generator.scale != scale:
        raise MriSrError(f"{path}: checkpoint is a x{generator.scale} model, but the evaluation scale is x{scale}")
    if generator.in_channels not in (1, 3):
        raise MriSrError(f"{path}: generator takes {generator.in_channels} channels; evaluation supports 1 or 3")
    inference = Inference(generator.net, precision, batch_size=MAX_BATCH, max_pixels=BATCH_PIXELS,
                          self_ensemble=self_ensemble, name=str(path))
    return SRMethod(name=name or generator.name, kind="checkpoint", scale=scale, in_channels=generator.in_channels,
                    net_g=inference, source=str(path), info=generator.info)
