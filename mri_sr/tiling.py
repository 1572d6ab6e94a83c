"""Tiled super-resolution of image batches: overlapping LR tiles, blended with linear ramps.

A slice too large for the device's memory is cut into square LR tiles of ``tile`` pixels that
overlap their neighbours by at least ``overlap`` pixels; the last tile along each axis is aligned
to the image edge, so every tile is whole. Each tile is upscaled on its own and the SR tiles are
blended. Along each axis, wherever a tile has a neighbour (never at the image border), its weight
over the ``R = overlap * scale`` HR pixels next to that edge is 0 for the outer quarter of ``R``,
then rises linearly to 1 over the middle half; the 2D weight is the outer product, and the
blended image is the weighted sum divided by the summed weights. Where two neighbours overlap by
exactly ``overlap`` LR pixels their weights sum to 1. A convolutional network's output is least
reliable next to a tile edge (zero padding there replaces real neighbours); the zero margin drops
those pixels entirely, so tiling is exact when ``overlap / 4`` is at least the network's
receptive-field radius in LR pixels, and the ramp hides what remains of the seams otherwise.
MONAI's ``sliding_window_inference`` lays out the same tiles but weights every window with one
importance map (constant or Gaussian), also along edges shared with a neighbour, so the spoiled
edge pixels enter its blend and it is never exact (``tests/test_tiling.py`` shows it).

:func:`run_adaptive` runs a batch under a :class:`RunPlan` and, on an out-of-memory error,
halves the batch and then tiles the slice (halving the tile) until it fits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mri_sr.errors import MriSrError

log = logging.getLogger(__name__)

MIN_TILE = 16  # smallest LR tile the out-of-memory fallback tries


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """First pixels of the tiles covering ``length`` pixels.

    Args:
        length: image size along the axis, in LR pixels.
        tile: tile size in LR pixels.
        overlap: least overlap between neighbouring tiles, in LR pixels; ``0 <= overlap < tile``.

    Returns:
        Increasing start indices; ``[0]`` when one tile covers the axis. The last tile ends at
        ``length``; neighbours overlap by ``overlap`` pixels or, for the last one, more.

    Raises:
        ValueError: ``tile < 1`` or ``overlap`` outside ``[0, tile)``.
    """
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    if length <= tile:
        return [0]
    return list(range(0, length - tile, tile - overlap)) + [length - tile]


def ramp_weights(size: int, ramp: int, rise: bool, fall: bool, device: torch.device | None = None) -> torch.Tensor:
    """1D blending weights of one tile along one axis.

    Args:
        size: tile length in HR pixels.
        ramp: blending length ``R`` in HR pixels (``overlap * scale``).
        rise: blend at the start (the tile has a neighbour before it).
        fall: blend at the end (the tile has a neighbour after it).
        device: where to create the tensor.

    Returns:
        (size,) float32 in [0, 1]: over the ``R`` pixels at a blended edge, 0 on the outer
        ``R // 4``, then ``(k + 0.5) / L`` over the next ``L = R - 2 * (R // 4)``, 1 elsewhere.
    """
    weights = torch.ones(size, dtype=torch.float32, device=device)
    ramp = min(ramp, size)
    if ramp > 0:
        margin = ramp // 4
        length = ramp - 2 * margin
        up = torch.zeros(ramp, dtype=torch.float32, device=device)
        up[margin:margin + length] = (torch.arange(length, dtype=torch.float32, device=device) + 0.5) / length
        up[margin + length:] = 1.0
        if rise:
            weights[:ramp] = torch.minimum(weights[:ramp], up)
        if fall:
            weights[size - ramp:] = torch.minimum(weights[size - ramp:], up.flip(0))
    return weights


def apply_tiled(
    sr: Callable[[torch.Tensor], torch.Tensor], lr: torch.Tensor, scale: int, tile: int, overlap: int
) -> torch.Tensor:
    """Upscale a batch tile by tile and blend the SR tiles.

    Args:
        sr: maps (B, C, t_h, t_w) -> (B, C, t_h * scale, t_w * scale), any units.
        lr: (B, C, h, w) batch, float, on the device ``sr`` runs on.
        scale: integer upscaling factor of ``sr``.
        tile: LR tile size in pixels (squares; clipped to the image size).
        overlap: least overlap of neighbouring tiles in LR pixels, ``0 <= overlap < tile``.

    Returns:
        (B, C, h * scale, w * scale) float32 on ``lr``'s device, in ``sr``'s output units. With one
        tile per axis it is exactly ``sr(lr)``.
    """
    batch, channels, height, width = lr.shape
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    if len(rows) == 1 and len(cols) == 1:
        return sr(lr).float()
    tile_h, tile_w = min(tile, height), min(tile, width)
    out = torch.zeros(batch, channels, height * scale, width * scale, dtype=torch.float32, device=lr.device)
    total = torch.zeros(1, 1, height * scale, width * scale, dtype=torch.float32, device=lr.device)
    ramp = overlap * scale
    for i, top in enumerate(rows):
        weight_y = ramp_weights(tile_h * scale, ramp, i > 0, i < len(rows) - 1, lr.device)
        for j, left in enumerate(cols):
            weight_x = ramp_weights(tile_w * scale, ramp, j > 0, j < len(cols) - 1, lr.device)
            weight = weight_y[:, None] * weight_x[None, :]
            piece = sr(lr[:, :, top:top + tile_h, left:left + tile_w]).float()
            region = (slice(None), slice(None), slice(top * scale, (top + tile_h) * scale),
                      slice(left * scale, (left + tile_w) * scale))
            out[region] += piece * weight
            total[region] += weight
    return out / total


@dataclass
class RunPlan:
    """How batches are run; :func:`run_adaptive` shrinks it after an out-of-memory error.

    Attributes:
        scale: upscaling factor of the upscaler.
        batch_size: most slices per call of the upscaler.
        tile: LR tile size in pixels, or None for whole slices.
        overlap: least overlap of tiles in LR pixels.
        name: file name for messages.
    """

    scale: int
    batch_size: int
    tile: int | None
    overlap: int
    name: str


def run_adaptive(sr: Callable[[torch.Tensor], torch.Tensor], lr: torch.Tensor, plan: RunPlan) -> torch.Tensor:
    """``sr(lr)`` in chunks of ``plan.batch_size``, tiled when ``plan.tile`` is set.

    On ``torch.OutOfMemoryError`` the batch size is halved (down to 1), then the slice is tiled
    with tiles half its larger side, halved again on each further error; ``plan`` keeps the
    smaller settings for the following batches.

    Args:
        sr: maps (B, C, h, w) -> (B, C, h * scale, w * scale).
        lr: (B, C, h, w) float batch on ``sr``'s device.
        plan: settings, updated in place after an out-of-memory error.

    Returns:
        (B, C, h * scale, w * scale) float32.

    Raises:
        MriSrError: out of memory even with one slice in tiles of ``MIN_TILE`` pixels (or of no
            more than twice the overlap).
    """
    if lr.shape[0] > plan.batch_size:
        return torch.cat([run_adaptive(sr, chunk, plan) for chunk in lr.split(plan.batch_size)])
    try:
        if plan.tile is None:
            return sr(lr).float()
        return apply_tiled(sr, lr, plan.scale, plan.tile, plan.overlap)
    except torch.OutOfMemoryError:
        if lr.is_cuda:
            torch.cuda.empty_cache()
    if lr.shape[0] > 1:
        plan.batch_size = lr.shape[0] // 2
        log.warning("out of memory: batch size lowered to %d", plan.batch_size)
    else:
        tile = min(plan.tile or max(lr.shape[-2:]), max(lr.shape[-2:])) // 2
        if tile < MIN_TILE or tile <= 2 * plan.overlap:
            raise MriSrError(f"{plan.name}: out of memory even when one slice is cut into "
                             f"{2 * tile}-pixel tiles; try a smaller --overlap or --device cpu")
        plan.tile = tile
        log.warning("out of memory on one slice: tiling it in %d-pixel LR tiles", tile)
    return run_adaptive(sr, lr, plan)
