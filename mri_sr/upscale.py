"""Volume super-resolution: slice -> batch -> generator -> reassemble, in place in scanner space.

Geometry (the voxel-centre convention). A NIfTI affine maps a voxel index to the *centre* of
that voxel, so the field of view of an axis with ``n`` voxels spans indices ``-0.5`` to
``n - 0.5``. Upscaling an axis by ``s`` gives ``n * s`` voxels of size ``spacing / s`` whose
outer edges coincide with the input's: output voxel ``j`` is centred at input index
``(j + 0.5) / s - 0.5``. This is the pixel-area alignment of MATLAB ``imresize`` (and so of the
LR/HR pairs the networks are trained on), and the output affine is
``input_affine @ [diag(1/s) | (1/s - 1) / 2]`` along the upscaled axes. The output stays in the
input's array orientation (no reorientation; orientation codes unchanged); the slice axis keeps
its voxel count and spacing.

Intensities. A generator sees what it saw in training: the volume mapped to [0, 1] by the
checkpoint's ``normalisation`` percentiles, fitted on *this* volume, and clipped to [0, 1]. Its
output is clamped to [0, 1] and mapped back to scanner units. Voxels beyond the percentile range
(typically the brightest and darkest 0.5 %) are not saturated: the clipped-off excess
``x - clip(x, 0, 1)`` is upscaled with bicubic interpolation and added back, so extremes keep
their scanner values. Bicubic upscaling (``method="bicubic"``) works on scanner units directly,
unclipped (it may overshoot slightly at edges, as any cubic interpolation does).

Memory is bounded by the batch: LR slices are read from the volume ``batch_size`` at a time,
normalised and upscaled on the device, and written into the (whole) output array. A generator
runs under ``torch.inference_mode`` in channels-last layout on every device (oneDNN convolutions
on CPU ran ~1.6x faster in it, see ``benchmarks/upscale_throughput.py``), and on CUDA also under
autocast (bf16 where supported, else fp16). On an out-of-memory error the batch is halved and
then the slice is tiled (see :mod:`mri_sr.tiling`).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mri_sr.checkpoint import load_generator
from mri_sr.data.normalize import fit_percentiles
from mri_sr.data.resize import imresize_torch
from mri_sr.errors import MriSrError
from mri_sr.fsutil import refuse_overwriting_input
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.tiling import RunPlan, run_adaptive
from mri_sr.device import pick_device

log = logging.getLogger(__name__)

SliceUpscaler = Callable[[torch.Tensor], torch.Tensor]
"""Maps a (B, 1, h, w) float32 batch to (B, 1, h * scale, w * scale)."""

SPACING_TOLERANCE = 0.01  # spacings within 1 % count as equal (default axis ties, isotropy)
METHODS = ("bicubic",)


def bicubic(scale: int) -> SliceUpscaler:
    """MATLAB-compatible bicubic upscaling by ``scale`` of (B, C, h, w) batches, any units."""
    return functools.partial(imresize_torch, scale=scale)


def default_axis(spacing: tuple[float, float, float]) -> int:
    """The slice axis: the one with the largest spacing; the last of those within 1 % of it."""
    largest = max(spacing)
    return max(i for i, s in enumerate(spacing) if s >= largest * (1.0 - SPACING_TOLERANCE))


def upscaled_affine(affine: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    """Affine of the grid upscaled by ``factors`` per array axis, covering the same field of view.

    Args:
        affine: (4, 4) voxel index -> RAS+ mm of the voxel centre.
        factors: integer upscaling factor of each of the three array axes (1 = unchanged).

    Returns:
        (4, 4) float64: output voxel ``j`` along axis ``a`` is centred where input index
        ``(j + 0.5) / factors[a] - 0.5`` is.
    """
    inverse = 1.0 / np.asarray(factors, dtype=np.float64)
    index_map = np.eye(4)
    index_map[:3, :3] = np.diag(inverse)
    index_map[:3, 3] = (inverse - 1.0) / 2.0
    return np.asarray(affine, dtype=np.float64) @ index_map


def _check_input(volume: Volume, name: str) -> None:
    if volume.data.ndim != 3:
        raise MriSrError(f"{name}: upscaling needs a 3D volume, got shape {volume.data.shape} (pick one with --volume)")
    if not np.all(np.isfinite(volume.data)):
        raise MriSrError(f"{name}: volume contains NaN or infinite values")


def upscale_volume(
    volume: Volume,
    sr: nn.Module | SliceUpscaler,
    *,
    scale: int | None = None,
    axis: int | None = None,
    percentiles: tuple[float, float] | None = None,
    batch_size: int = 8,
    tile: int | None = None,
    overlap: int = 8,
    device: str | torch.device = "auto",
    progress: bool = True,
    name: str = "input",
) -> Volume:
    """Super-resolve every slice of a 3D volume along ``axis``; the result keeps its place in space.

    Args:
        volume: 3D volume, float32 scanner units, (X, Y, Z) with its affine.
        sr: a one-channel generator (``nn.Module`` with ``.scale`` and ``.in_channels == 1``; put
            in eval mode and moved, in place, to ``device`` in channels-last layout), or any
            callable mapping (B, 1, h, w) float32 to (B, 1, h * scale, w * scale), e.g.
            :func:`bicubic`.
        scale: upscaling factor; defaults to ``sr.scale`` (must agree with it when both are given).
        axis: slice axis 0, 1 or 2; default :func:`default_axis` (largest spacing, last on ties).
        percentiles: (low, high) percentiles in [0, 100] that map this volume to [0, 1] for ``sr``
            (the checkpoint's ``normalisation``; required for a generator). None: ``sr`` sees
            scanner units unchanged (linear interpolators).
        batch_size: LR slices per forward pass.
        tile: LR tile size in pixels, or None for whole slices (see :mod:`mri_sr.tiling`).
        overlap: least overlap of tiles, LR pixels.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda[:N]"`` or a torch device.
        progress: show a tqdm progress bar (stderr).
        name: file name for messages.

    Returns:
        Volume with data (X', Y', Z') float32 in the input's units, the two in-plane axes
        ``scale`` times longer, and the affine of :func:`upscaled_affine`.

    Raises:
        MriSrError: not 3D, non-finite values, constant intensity, or out of memory even when tiled.
        ValueError: programming errors (scale disagreeing with ``sr.scale``, a generator without
            percentiles, a generator with several channels).
    """
    _check_input(volume, name)
    is_net = isinstance(sr, nn.Module)
    if is_net:
        if scale is not None and scale != sr.scale:
            raise ValueError(f"scale {scale} disagrees with the generator's scale {sr.scale}")
        if sr.in_channels != 1 or percentiles is None:
            raise ValueError("a generator needs in_channels == 1 and the percentiles of its normalisation")
        scale = sr.scale
    if scale is None or scale < 1 or batch_size < 1:
        raise ValueError(f"a positive integer scale and batch size are needed, got {scale} and {batch_size}")
    axis = default_axis(volume.spacing) if axis is None else axis
    device = pick_device(device) if isinstance(device, str) else device
    on_cuda = device.type == "cuda"

    run = sr
    if is_net:
        sr.eval().to(device=device, memory_format=torch.channels_last)
        if on_cuda:
            run = _autocast(sr, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    if percentiles is not None:
        norm = fit_percentiles(volume.data, percentiles[0], percentiles[1], name=name)
        low, span = norm.low, norm.high - norm.low
    plan = RunPlan(scale, batch_size, tile, overlap, name)

    lr_stack = np.moveaxis(volume.data, axis, 0)  # view: (n, h, w)
    count, height, width_px = lr_stack.shape
    out = np.empty((count, height * scale, width_px * scale), dtype=np.float32)
    log.info("%s: %d slices of %dx%d along axis %d -> x%d on %s", name, count, height, width_px, axis, scale, device)
    with torch.inference_mode(), tqdm(total=count, unit="slice", desc="upscale", disable=not progress) as bar:
        for start in range(0, count, batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(lr_stack[start:start + batch_size], dtype=np.float32))
            if on_cuda:
                batch = batch.pin_memory().to(device, non_blocking=True)
            if percentiles is None:
                sr_batch = run_adaptive(run, batch.unsqueeze(1), plan)
            else:
                sr_batch = _run_normalised(run, batch.unsqueeze(1), low, span, plan)
            out[start:start + len(batch)] = sr_batch[:, 0].cpu().numpy()
            bar.update(len(batch))
    factors = tuple(scale if a != axis else 1 for a in range(3))
    return Volume(np.moveaxis(out, 0, axis), upscaled_affine(volume.affine, factors),
                  f"{volume.source}, upscaled x{scale} in-plane (slice axis {axis})")


def _run_normalised(run: SliceUpscaler, lr: torch.Tensor, low: float, span: float, plan: RunPlan) -> torch.Tensor:
    """Scanner units -> [0, 1] (clipped) -> ``run`` -> clamped -> scanner units, extremes added back.

    Args:
        run: the generator, on ``lr``'s device.
        lr: (B, 1, h, w) float32 LR slices in scanner units.
        low, span: the normalisation: ``(x - low) / span`` maps the volume's percentiles to 0 and 1.
        plan: batch and tile settings.

    Returns:
        (B, 1, h * s, w * s) float32 in scanner units.
    """
    lr = (lr - low) / span
    clipped = lr.clamp(0.0, 1.0).contiguous(memory_format=torch.channels_last)
    sr = run_adaptive(run, clipped, plan).clamp_(0.0, 1.0)
    excess = lr - clipped  # non-zero only beyond the percentiles
    if bool(excess.any()):
        sr += imresize_torch(excess, scale=plan.scale)
    return sr * span + low


def _autocast(net: nn.Module, dtype: torch.dtype) -> SliceUpscaler:
    """``net`` under CUDA autocast with ``dtype``."""

    def run(lr: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type="cuda", dtype=dtype):
            return net(lr)

    return run


def resize_axis(data: np.ndarray, axis: int, scale: int, chunk_voxels: int = 1 << 24) -> np.ndarray:
    """MATLAB-compatible bicubic upscaling of a 3D array along one axis only.

    Args:
        data: (X, Y, Z) float32, any units.
        axis: the axis to upscale.
        scale: integer factor.
        chunk_voxels: output voxels computed per matrix product (bounds the temporary memory).

    Returns:
        float32 array, ``data.shape[axis] * scale`` long along ``axis``, with the voxel-centre
        convention of :func:`upscaled_affine`.
    """
    length = data.shape[axis]
    # imresize along the rows only (columns keep their size, so their weights are the identity):
    # the rows' (length * scale, length) interpolation matrix.
    identity = torch.eye(length, dtype=torch.float64)[None, None]
    matrix = imresize_torch(identity, output_shape=(length * scale, length))[0, 0].float()
    src = np.moveaxis(data, axis, 0)
    out = np.empty((length * scale,) + src.shape[1:], dtype=np.float32)
    step = max(1, chunk_voxels // (length * scale * src.shape[2]))
    for start in range(0, src.shape[1], step):
        block = torch.from_numpy(np.ascontiguousarray(src[:, start:start + step], dtype=np.float32))
        resized = matrix @ block.reshape(length, -1)
        out[:, start:start + step] = resized.reshape(length * scale, -1, src.shape[2]).numpy()
    return np.moveaxis(out, 0, axis)


def upscale_volume_orthogonal(
    volume: Volume, sr: nn.Module | SliceUpscaler, *, scale: int | None = None, axis: int | None = None, **kwargs
) -> Volume:
    """Isotropic upscaling of an isotropic scan by fusing two orthogonal slicing passes.

    Definition: the output grid is upscaled by ``scale`` along all three axes (voxel size
    ``spacing / scale``, same field of view). Pass A slices along ``axis`` (default: the last
    axis): the 2D model upscales the two other axes, and MATLAB bicubic completes ``axis``. Pass B
    does the same slicing along ``(axis + 1) % 3``. The output is the mean of the two passes, so
    the third axis is upscaled by the model twice and each slice axis once by the model and once by
    bicubic. Cost: about twice the time of :func:`upscale_volume` (two model passes, plus two cheap
    1D bicubic passes), and the output holds ``scale ** 3`` times the input's voxels (x2: 8x);
    peak memory is about 2.5 times the output array.

    Args:
        volume: 3D volume whose three spacings agree within 1 %.
        sr, scale, kwargs: as :func:`upscale_volume` (``percentiles``, ``batch_size``, ``tile``,
            ``overlap``, ``device``, ``progress``, ``name``).
        axis: slice axis of pass A (pass B slices along ``(axis + 1) % 3``).

    Returns:
        Volume (X * s, Y * s, Z * s) float32 in the input's units.

    Raises:
        MriSrError: the scan is not isotropic, or as :func:`upscale_volume`.
    """
    name = kwargs.get("name", "input")
    _check_input(volume, name)
    spacing = volume.spacing
    if max(spacing) > min(spacing) * (1.0 + SPACING_TOLERANCE):
        raise MriSrError(f"{name}: --fuse-orthogonal needs an isotropic scan (spacings within 1 %), got "
                         f"{' x '.join(f'{s:.4g}' for s in spacing)} mm")
    factor = sr.scale if scale is None else scale
    first = default_axis(spacing) if axis is None else axis
    fused = None
    for pass_axis in (first, (first + 1) % 3):
        part = upscale_volume(volume, sr, scale=scale, axis=pass_axis, **kwargs)
        full = resize_axis(part.data, pass_axis, factor)
        del part
        fused = full if fused is None else np.add(fused, full, out=fused)
        del full
    fused *= 0.5
    source = f"{volume.source}, upscaled x{factor} isotropic (fused slicing along axes {first}, {(first + 1) % 3})"
    return Volume(fused, upscaled_affine(volume.affine, (factor, factor, factor)), source)


def load_upscaler(
    checkpoint: str | Path, device: torch.device, scale: int | None = None
) -> tuple[nn.Module, tuple[float, float]]:
    """The generator of a checkpoint and its normalisation percentiles, checked for MRI use.

    Raises:
        MriSrError: missing or unreadable checkpoint, more than one channel, or ``scale`` given and
            different from the checkpoint's (the message names the file).
    """
    net, payload = load_generator(checkpoint, device)
    channels = int(payload.get("in_channels", getattr(net, "in_channels", 1)))
    if channels != 1 or getattr(net, "in_channels", 1) != 1:
        raise MriSrError(f"{checkpoint}: generator has {channels} input channels; MRI upscaling needs a "
                         "one-channel (in_channels 1) generator")
    if scale is not None and scale != net.scale:
        raise MriSrError(f"{checkpoint}: checkpoint upscales x{net.scale}, but --scale {scale} was given")
    try:
        norm = payload["normalisation"]
        percentiles = (float(norm["low_percentile"]), float(norm["high_percentile"]))
    except (KeyError, TypeError, ValueError):
        raise MriSrError(f"{checkpoint}: checkpoint has no 'normalisation' percentiles") from None
    return net, percentiles


def _check_output(path: Path) -> None:
    """Fail early (before any work) on an output path that cannot be written."""
    if not path.name.endswith((".nii", ".nii.gz")):
        raise MriSrError(f"{path}: output must be a .nii or .nii.gz file")
    if path.is_dir():
        raise MriSrError(f"{path}: is a folder; give an output file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise MriSrError(f"{path}: cannot write output ({folder} is not a folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MriSrError(f"{path}: cannot write output (folder {folder} is not writable)")


def _check_options(batch_size: int, tile: int | None, overlap: int, axis: int | None) -> None:
    if batch_size < 1:
        raise MriSrError(f"--batch-size {batch_size}: must be at least 1")
    if overlap < 0:
        raise MriSrError(f"--overlap {overlap}: must be at least 0")
    if tile is not None and tile <= 2 * overlap:
        raise MriSrError(f"--tile {tile}: must be larger than twice --overlap ({overlap})")
    if axis is not None and axis not in (0, 1, 2):
        raise MriSrError(f"--axis {axis}: must be 0, 1 or 2")


def upscale_file(
    input: str | Path,
    output: str | Path,
    *,
    checkpoint: str | Path | None = None,
    method: str | None = None,
    scale: int | None = None,
    axis: int | None = None,
    batch_size: int = 8,
    tile: int | None = None,
    overlap: int = 8,
    device: str = "auto",
    volume: int | None = None,
    series: str | None = None,
    fuse_orthogonal: bool = False,
) -> None:
    """``mri-sr upscale``: read a scan, super-resolve it, write a NIfTI in the same place in space.

    Args:
        input: NIfTI file, DICOM folder or file, fastMRI ``.h5`` or ``builtin:mni152``.
        output: ``.nii`` or ``.nii.gz`` path, written atomically (no partial file on error).
        checkpoint: generator checkpoint (one-channel); its scale and normalisation are used.
        method: ``"bicubic"`` instead of a checkpoint.
        scale: with ``method``: the factor (default 2); with a checkpoint it must match, if given.
        axis, batch_size, tile, overlap, device: see :func:`upscale_volume`.
        volume: time point (0-based) of a 4D scan; required for 4D input.
        series: series of a DICOM folder holding several.
        fuse_orthogonal: see :func:`upscale_volume_orthogonal` (isotropic scans only).

    Raises:
        MriSrError: one line naming the file: unreadable input or checkpoint, wrong scale or
            channel count, unwritable output, 4D input without ``volume``, bad options.
    """
    output = Path(output)
    _check_output(output)
    refuse_overwriting_input(output, (input, checkpoint))
    _check_options(batch_size, tile, overlap, axis)
    if (checkpoint is None) == (method is None):
        raise MriSrError(f"{output}: give exactly one of --checkpoint and --method")
    torch_device = pick_device(device)
    if checkpoint is not None:
        sr, percentiles = load_upscaler(checkpoint, torch_device, scale)
        scale, how = sr.scale, f"checkpoint {Path(checkpoint).name}"
    elif method in METHODS:
        scale = 2 if scale is None else scale
        if scale < 2:
            raise MriSrError(f"--scale {scale}: must be at least 2")
        sr, percentiles, how = bicubic(scale), None, method
    else:
        raise MriSrError(f"--method {method}: unknown (known: {', '.join(METHODS)})")
    name = str(input)
    scan = load_volume(input, series=series).select(volume, name=name)
    upscale = upscale_volume_orthogonal if fuse_orthogonal else upscale_volume
    result = upscale(scan, sr, scale=scale, axis=axis, percentiles=percentiles, batch_size=batch_size,
                     tile=tile, overlap=overlap, device=torch_device, name=name)
    save_nifti(Volume(result.data, result.affine, f"{result.source} with {how}"), output)
    log.info("wrote %s: %s, spacing %s mm", output, "x".join(map(str, result.data.shape)),
             " x ".join(f"{s:.4g}" for s in result.spacing))
