"""Training pairs made on the fly: crop HR, augment it, then degrade it with randomised parameters.

LR is always the degradation of the augmented HR patch, so the pair stays consistent
whatever the augmentation did. The HR crop carries ``context`` LR pixels of margin on each
side through the augmentation and degradation (k-space truncation and blur see real
neighbours instead of the crop's wrap-around), then both images are cut to the patch.

Two places make them, from the same draws (the model schema's ``train.pairs_on``):

- :func:`make_pair`: one sample at a time in NumPy, in the DataLoader workers;
- :func:`draw_pairs` in the workers (crops and draws only), then :func:`make_pairs` as batched
  tensor operations on the training device (:func:`mri_sr.data.augment.augment_batch`,
  :class:`mri_sr.data.degradation.BatchDraw`). A crop whose slice leaves less than ``context``
  of margin is mirrored out to the full margin, so that every crop of a batch has one size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.transforms import Compose, Resize

from mri_sr.data.augment import AugmentationDraws, augment, augment_batch, draw_augmentation
from mri_sr.data.degradation import BatchDraw, DegradationSampler, Draw

#: Defaults of the pair options of the model schema's ``train.random_degradation`` (its degradation
#: ranges default to :data:`mri_sr.data.degradation.SAMPLER_DEFAULTS`); the one source: the schema
#: does not repeat them.
DEFAULTS: dict[str, Any] = {"context": 6, "zoom": [1.0, 3.0]}


def _crop(hr_slice: np.ndarray, lr_patch: int, context: int, scale: int, zoom: tuple[float, float],
          rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One sample's HR crop with its margin (arguments as :func:`make_pair`).

    Returns:
        (1, side, side) float32 with ``side = (lr_patch + 2 c) * scale``, and ``c``, the LR
        pixels of margin (``context``, or fewer where the slice is too small).
    """
    size = min(hr_slice.shape[-2:])
    low, high = zoom
    zoom = min(low + (high - low) * rng.random(), size / (lr_patch * scale))
    c = max(0, min(context, (int(size / zoom) // scale - lr_patch) // 2))
    side = (lr_patch + 2 * c) * scale
    region = min(size, round(side * zoom))
    top = int(rng.integers(0, hr_slice.shape[-2] - region + 1))
    left = int(rng.integers(0, hr_slice.shape[-1] - region + 1))
    crop = hr_slice[..., top:top + region, left:left + region]
    if region != side:  # coarser voxels: the crop's area averaged onto the patch grid
        crop = np.asarray(Resize((side, side), mode="area")(torch.as_tensor(np.ascontiguousarray(crop))))
    return crop, c


def make_pair(hr_slice: np.ndarray, lr_patch: int, context: int, pipeline: Compose, sampler: DegradationSampler,
              zoom: tuple[float, float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, Draw]:
    """One training pair from one prepared HR slice.

    Args:
        hr_slice: (1, H, W) float32 in [0, 1], H and W multiples of the scale.
        lr_patch: LR patch side; the HR patch side is ``lr_patch * scale``.
        context: LR pixels of margin around the patch (fewer where the slice is too small).
        pipeline: seeded augmentation (:func:`mri_sr.data.augment.augmentation`).
        sampler: draws the sample's degradation (its base gives the scale).
        zoom: [low, high]: a region ``zoom`` times larger (drawn in the range) is area-averaged
            onto the patch grid first (voxels ``zoom`` times larger: anatomy at a coarser scale);
            (1, 1): none.
        rng: the batch's generator (crop position, degradation, noise seed).

    Returns:
        ``lr`` (1, p, p) and ``hr`` (1, p*s, p*s) float32 in [0, 1], and the draw that made LR
        from the augmented HR (with its margin).
    """
    s = sampler.base.scale
    crop, c = _crop(hr_slice, lr_patch, context, s, zoom, rng)
    hr = augment(pipeline, crop)[0]
    draw = sampler.draw(rng)
    lr = draw(hr)
    hr_out = hr[c * s:(c + lr_patch) * s, c * s:(c + lr_patch) * s].astype(np.float32)
    return lr[None, c:c + lr_patch, c:c + lr_patch], hr_out[None], draw


@dataclass(frozen=True)
class PairDraws:
    """A batch's HR crops and everything drawn to make its pairs; :func:`make_pairs` makes them.

    Attributes:
        hr: (B, 1, S, S) float32 in [0, 1], ``S = (lr_patch + 2 context) * scale``: the crops
            with their margin (mirrored where the slice left less).
        augmentation: the batch's augmentation draws.
        degradation: the batch's degradations and noise seed.
        lr_patch, context, scale: LR patch side, LR pixels of margin, the factor.
    """

    hr: torch.Tensor
    augmentation: AugmentationDraws
    degradation: BatchDraw
    lr_patch: int
    context: int
    scale: int

    def pin_memory(self) -> PairDraws:
        """The same with ``hr`` in pinned memory (the DataLoader's ``pin_memory`` calls it)."""
        return dataclasses.replace(self, hr=self.hr.pin_memory())


def draw_pairs(hr_slices: list[np.ndarray], lr_patch: int, context: int, pipeline: Compose,
               sampler: DegradationSampler, zoom: tuple[float, float], rng: np.random.Generator) -> PairDraws:
    """What :func:`make_pair` draws for each slice, in the same order from the same generators,
    without augmenting or degrading: the crops and the draws, for :func:`make_pairs`.

    Args:
        hr_slices: the batch's (1, H, W) HR slices (arguments otherwise as :func:`make_pair`).
        rng: the batch's generator; after the samples, it draws the seed of the batch's noise.
    """
    s = sampler.base.scale
    crops, margins, augmentations, draws = [], [], [], []
    for hr_slice in hr_slices:
        crop, c = _crop(hr_slice, lr_patch, context, s, zoom, rng)
        margin = (context - c) * s
        crops.append(np.pad(crop, ((0, 0), (margin, margin), (margin, margin)), mode="symmetric"))
        margins.append(margin)
        augmentations.append(draw_augmentation(pipeline, crop.shape[-2:]))
        draws.append(sampler.draw(rng))
    return PairDraws(torch.from_numpy(np.stack(crops).astype(np.float32)),
                     AugmentationDraws.stack(pipeline, augmentations, margins),
                     BatchDraw(tuple(draws), int(rng.integers(2**63 - 1))), lr_patch, context, s)


def make_pairs(batch: PairDraws, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of training pairs on ``device``: augment the crops, degrade them, cut the patches.

    On a CPU the operations run on one intra-op thread, as in a DataLoader worker: operations on
    tensors this small gain nothing from more threads, and stall on a busy machine with them.

    Returns:
        ``lr`` (B, 1, p, p) and ``hr`` (B, 1, p*s, p*s) float32 in [0, 1] on ``device``: the
        pairs :func:`make_pair` makes from the same draws, up to the noise's draw, float
        rounding, and the margin where it was mirrored.
    """
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        hr = augment_batch(batch.augmentation, batch.hr.to(device, non_blocking=True))
        lr = batch.degradation(hr)
    finally:
        torch.set_num_threads(threads)
    c, p, s = batch.context, batch.lr_patch, batch.scale
    return (lr[..., c:c + p, c:c + p].contiguous(), hr[..., c * s:(c + p) * s, c * s:(c + p) * s].contiguous())
