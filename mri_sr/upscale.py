"""Volume super-resolution: slice -> batch -> generator -> reassemble, in place in scanner space.

Geometry follows :mod:`mri_sr.geometry` (the voxel-centre convention): the output covers the
input's field of view, in-plane voxels become ``scale`` times smaller, the slice axis keeps its
voxel count and spacing, and the output stays in the input's array orientation.

Intensities. A generator sees what it saw in training: the volume mapped to [0, 1] by the
checkpoint's ``normalisation`` percentiles, fitted on *this* volume, and clipped to [0, 1]. Its
output is clamped to [0, 1] and mapped back to scanner units. Voxels beyond the percentile range
(typically the brightest and darkest 0.5 %) are not saturated: the clipped-off excess
``x - clip(x, 0, 1)`` is upscaled with bicubic interpolation and added back, so extremes keep
their scanner values. Bicubic upscaling (``method="bicubic"``) works on scanner units directly,
unclipped (it may overshoot slightly at edges, as any cubic interpolation does).

Data consistency. A generator whose training degradation has a data-consistency projection
(k-space truncation without blur) has each output slice projected onto the images whose central
k-space agrees with the input slice up to the training noise level (:func:`load_upscaler`,
:meth:`mri_sr.data.degradation.Degradation.consistency`), in the normalised units, before the
excess is added back: what the scanner measured stays, the network adds what lies beyond it.

With no checkpoint and no method, :func:`upscale_file` runs the shipped model of the scale
(:mod:`mri_sr.models`) and upscales an isotropic scan along all three axes; every output gets a
JSON sidecar (:mod:`mri_sr.sidecar`). :func:`upscale_with_spread` also returns the per-voxel
spread of the views (self-ensemble turns, fused orientations): their disagreement, not a
calibrated error.

Memory is bounded by the batch: LR slices are read from the volume ``batch_size`` at a time and
upscaled through :class:`mri_sr.inference.Inference` (device, precision, channels-last, tiling
and the out-of-memory fallback), then written into the (whole) output array.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from mri_sr.checkpoint import load_generator
from mri_sr.data.degradation import from_dict
from mri_sr.data.normalize import fit_percentiles
from mri_sr.device import PRECISIONS, Precision, pick_device
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_file, refuse_overwriting_input
from mri_sr.geometry import default_axis, is_isotropic, upscaled_affine
from mri_sr.inference import Inference, Projection
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.logsetup import progress as progress_bar
from mri_sr.models import DEFAULT_SCALE, default_model
from mri_sr.resample import imresize_torch, resize_axis, restore_extremes
from mri_sr.sidecar import sidecar_path, write_sidecar
from mri_sr.tiling import RunPlan, run_adaptive

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class UpscaleOptions:
    """How to upscale a scan.

    Attributes:
        scale: with ``--method``: the factor (default :data:`DEFAULT_SCALE`); with a checkpoint it
            must match, if given; with neither: the shipped model of this factor (default
            :data:`DEFAULT_SCALE`).
        axis: slice axis 0, 1 or 2 (None: the largest spacing).
        batch_size: LR slices per forward pass.
        tile: LR tile size in pixels for slices too large for memory (None: whole slices).
        overlap: least overlap of tiles, LR pixels.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see :mod:`mri_sr.device`).
        volume: time point (0-based) of a 4D scan; required for 4D input.
        series: series of a DICOM folder holding several.
        fuse_orthogonal: isotropic scans: upscale along two axes and average (every axis
            upscaled); None: do so for an isotropic scan upscaled by a shipped model without
            ``axis``; False: in-plane only.
        self_ensemble: average a generator's outputs over the 4 quarter turns of each slice.
        data_consistency: project the outputs of a generator trained on k-space-truncated LR onto
            the scan's own k-space, up to the training noise level (:func:`mri_sr.upscale.load_upscaler`).
        progress: show a progress bar.

    Raises:
        MriSrError: on construction, an option out of range (one line naming the option).
    """

    scale: int | None = None
    axis: int | None = None
    batch_size: int = 8
    tile: int | None = None
    overlap: int = 8
    device: str = "auto"
    precision: str = "auto"
    volume: int | None = None
    series: str | None = None
    fuse_orthogonal: bool | None = None
    self_ensemble: bool = False
    data_consistency: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.scale is not None and self.scale not in (2, 3, 4):
            raise MriSrError(f"--scale {self.scale}: must be 2, 3 or 4")
        if self.axis is not None and self.axis not in (0, 1, 2):
            raise MriSrError(f"--axis {self.axis}: must be 0, 1 or 2")
        if self.batch_size < 1:
            raise MriSrError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.overlap < 0:
            raise MriSrError(f"--overlap {self.overlap}: must be at least 0")
        if self.tile is not None and self.tile <= 2 * self.overlap:
            raise MriSrError(f"--tile {self.tile}: must be larger than twice --overlap ({self.overlap})")
        if self.precision not in PRECISIONS:
            raise MriSrError(f"--precision {self.precision}: unknown (choose {', '.join(PRECISIONS)})")
        if self.volume is not None and self.volume < 0:
            raise MriSrError(f"--volume {self.volume}: must be at least 0")


def check_output(path: Path) -> None:
    """Fail early (before any work) on an output path that cannot be written."""
    if not path.name.lower().endswith((".nii", ".nii.gz")):
        raise MriSrError(f"{path}: output must be a .nii or .nii.gz file")
    check_output_file(path)


SliceUpscaler = Callable[[torch.Tensor], torch.Tensor]
"""Maps a (B, 1, h, w) float32 batch to (B, 1, h * scale, w * scale)."""


def bicubic(scale: int) -> SliceUpscaler:
    """MATLAB-compatible bicubic upscaling by ``scale`` of (B, C, h, w) batches, any units."""
    return functools.partial(imresize_torch, scale=scale)


def check_volume(volume: Volume, name: str) -> None:
    """A 3D volume of finite values, or one line naming ``name``."""
    if volume.data.ndim != 3:
        raise MriSrError(f"{name}: upscaling needs a 3D volume, got shape {volume.data.shape} (pick one with --volume)")
    if not np.all(np.isfinite(volume.data)):
        raise MriSrError(f"{name}: volume contains NaN or infinite values")


def upscale_volume(volume: Volume, sr: Inference | SliceUpscaler, *, scale: int | None = None,
                   axis: int | None = None, percentiles: tuple[float, float] | None = None, batch_size: int = 8,
                   projection: Projection | None = None, progress: bool = True, name: str = "input") -> Volume:
    """Super-resolve every slice of a 3D volume along ``axis``; the result keeps its place in space.

    Args:
        volume: 3D volume, float32 scanner units, (X, Y, Z) with its affine.
        sr: a one-channel generator's :class:`Inference` (needs ``percentiles``), or any callable
            mapping (B, 1, h, w) float32 to (B, 1, h * scale, w * scale) in the same units, e.g.
            :func:`bicubic` (then ``scale`` is required).
        scale: upscaling factor; defaults to the generator's (must agree with it when both are given).
        axis: slice axis 0, 1 or 2; default :func:`~mri_sr.geometry.default_axis`.
        percentiles: (low, high) percentiles in [0, 100] that map this volume to [0, 1] for the
            generator (the checkpoint's ``normalisation``).
        batch_size: LR slices read per step.
        projection: with a generator: the data-consistency projection of each (normalised) output
            slice onto its input slice (:func:`load_upscaler`); None: the output as it is.
        progress: show a tqdm progress bar (stderr).
        name: file name for messages.

    Returns:
        Volume with data (X', Y', Z') float32 in the input's units, the two in-plane axes
        ``scale`` times longer, and the affine of :func:`~mri_sr.geometry.upscaled_affine`.

    Raises:
        MriSrError: not 3D, non-finite values, constant intensity, or out of memory even when tiled.
        ValueError: programming errors (a scale disagreeing with the generator's, a generator
            without percentiles, no scale for a plain callable).
    """
    return _in_plane(volume, sr, scale=scale, axis=axis, percentiles=percentiles, batch_size=batch_size,
                     projection=projection, progress=progress, name=name, spread=False)[0]


def _in_plane(volume: Volume, sr: Inference | SliceUpscaler, *, scale: int | None, axis: int | None,
              percentiles: tuple[float, float] | None, batch_size: int, projection: Projection | None,
              progress: bool, name: str, spread: bool) -> tuple[Volume, np.ndarray | None]:
    """:func:`upscale_volume`, and with ``spread`` the views' standard deviation on its grid
    ((X', Y', Z') float32, scanner units; zeros for a plain callable: one view)."""
    check_volume(volume, name)
    is_net = isinstance(sr, Inference)
    if is_net and (percentiles is None or (scale is not None and scale != sr.scale)):
        raise ValueError(f"a generator needs its percentiles and its own scale (x{sr.scale}), got {scale}")
    scale = sr.scale if is_net else scale
    if scale is None:
        raise ValueError("a scale is needed for an upscaling callable")
    axis = default_axis(volume.spacing) if axis is None else axis
    if is_net:
        norm = fit_percentiles(volume.data, percentiles[0], percentiles[1], name=name)
        low, span = norm.low, norm.high - norm.low
    plan = RunPlan(scale, batch_size, None, 0, name)

    lr_stack = np.moveaxis(volume.data, axis, 0)  # view: (n, h, w)
    count, height, width_px = lr_stack.shape
    out = np.empty((count, height * scale, width_px * scale), dtype=np.float32)
    spread_out = np.zeros_like(out) if spread else None
    log.info("%s: %d slices of %dx%d along axis %d -> x%d", name, count, height, width_px, axis, scale)
    with torch.inference_mode(), progress_bar(total=count, unit="slice", desc="upscale", disable=not progress) as bar:
        for start in range(0, count, batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(lr_stack[start:start + batch_size], dtype=np.float32))
            batch = batch.unsqueeze(1)
            if is_net:
                sr_batch, views_std = _run_normalised(sr, batch, low, span, projection, spread)
            else:
                sr_batch, views_std = run_adaptive(sr, batch, plan), None
            out[start:start + len(batch)] = sr_batch[:, 0].cpu().numpy()
            if views_std is not None:
                spread_out[start:start + len(batch)] = views_std[:, 0].cpu().numpy()
            bar.update(len(batch))
    factors = tuple(scale if a != axis else 1 for a in range(3))
    result = volume.on_grid(np.moveaxis(out, 0, axis), upscaled_affine(volume.affine, factors),
                            f"{volume.source}, upscaled x{scale} in-plane (slice axis {axis})")
    return result, None if spread_out is None else np.moveaxis(spread_out, 0, axis)


def _run_normalised(sr: Inference, lr: torch.Tensor, low: float, span: float, projection: Projection | None = None,
                    spread: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scanner units -> [0, 1] (clipped) -> generator -> scanner units, extremes added back.

    Args:
        sr: the generator's inference path.
        lr: (B, 1, h, w) float32 LR slices in scanner units (CPU).
        low, span: the normalisation: ``(x - low) / span`` maps the volume's percentiles to 0 and 1.
        projection: data-consistency projection in the normalised units, or None for none.
        spread: also return the self-ensemble views' standard deviation (:meth:`Inference.with_spread`).

    Returns:
        (B, 1, h * s, w * s) float32 in scanner units, on the inference device; and the views'
        standard deviation, same shape, in scanner units (``span`` times the normalised one), or None.
    """
    lr = ((lr - low) / span).to(sr.device)
    clipped = lr.clamp(0.0, 1.0)
    sr_out, views_std = sr.with_spread(clipped, projection) if spread else (sr(clipped, projection), None)
    out = restore_extremes(sr_out, lr, clipped, functools.partial(imresize_torch, scale=sr.scale))
    return out * span + low, None if views_std is None else views_std * span


def upscale_volume_orthogonal(volume: Volume, sr: Inference | SliceUpscaler, *, scale: int | None = None,
                              axis: int | None = None, **kwargs) -> Volume:
    """Isotropic upscaling of an isotropic scan by fusing two orthogonal slicing passes.

    Definition: the output grid is upscaled by ``scale`` along all three axes (voxel size
    ``spacing / scale``, same field of view). Pass A slices along ``axis`` (default: the last
    axis): the 2D model upscales the two other axes, and MATLAB bicubic completes ``axis``. Pass B
    does the same slicing along ``(axis + 1) % 3``. The output is the mean of the two passes, so
    the third axis is upscaled by the model twice and each slice axis once by the model and once by
    bicubic. Cost: two model passes of :func:`upscale_volume` plus two 1D bicubic passes; the
    output holds ``scale ** 3`` times the input's voxels, and at the peak memory holds the fused
    array, one pass on the output grid and that pass before its 1D completion.

    Args:
        volume: 3D volume whose three spacings agree within 1 %.
        sr, scale, kwargs: as :func:`upscale_volume` (``percentiles``, ``batch_size``,
            ``projection``, ``progress``, ``name``).
        axis: slice axis of pass A (pass B slices along ``(axis + 1) % 3``).

    Returns:
        Volume (X * s, Y * s, Z * s) float32 in the input's units.

    Raises:
        MriSrError: the scan is not isotropic, or as :func:`upscale_volume`.
    """
    return _orthogonal(volume, sr, scale=scale, axis=axis, spread=False, **kwargs)[0]


def _orthogonal(volume: Volume, sr: Inference | SliceUpscaler, *, scale: int | None, axis: int | None,
                spread: bool, **kwargs) -> tuple[Volume, np.ndarray | None]:
    """:func:`upscale_volume_orthogonal`, and with ``spread`` the spread of :func:`upscale_with_spread`."""
    name = kwargs.get("name", "input")
    check_volume(volume, name)
    if not is_isotropic(volume.spacing):
        raise MriSrError(f"{name}: --fuse-orthogonal needs an isotropic scan (spacings within 1 %), got "
                         f"{' x '.join(f'{s:.4g}' for s in volume.spacing)} mm")
    options = {"batch_size": 8, "percentiles": None, "projection": None, "progress": True, "name": name, **kwargs}
    factor = sr.scale if isinstance(sr, Inference) else scale
    first = default_axis(volume.spacing) if axis is None else axis
    fused = variance = None
    for pass_axis in (first, (first + 1) % 3):
        part, part_spread = _in_plane(volume, sr, scale=scale, axis=pass_axis, spread=spread, **options)
        full = resize_axis(part.data, pass_axis, factor)
        del part
        if spread:  # the pass's views' variance, completed along its slice axis as its mean is
            within = np.maximum(resize_axis(np.square(part_spread), pass_axis, factor), 0.0)
            variance = 0.5 * within if variance is None else variance + 0.5 * within
            if fused is not None:  # the two passes' own variance: ((A - B) / 2) ** 2
                variance += np.square(0.5 * (fused - full))
        fused = full if fused is None else np.add(fused, full, out=fused)
        del full
    fused *= 0.5
    source = f"{volume.source}, upscaled x{factor} isotropic (fused slicing along axes {first}, {(first + 1) % 3})"
    result = volume.on_grid(fused, upscaled_affine(volume.affine, (factor, factor, factor)), source)
    return result, None if variance is None else np.sqrt(variance, out=variance)


def upscale_with_spread(volume: Volume, sr: Inference | SliceUpscaler, *, fuse: bool,
                        **kwargs) -> tuple[Volume, Volume]:
    """The output of :func:`upscale_volume` (``fuse``: :func:`upscale_volume_orthogonal`), the same
    numbers, and the per-voxel spread of the views that made it, on the same grid.

    The spread is a standard deviation in the input's units: of the self-ensemble's four views
    (:meth:`Inference.with_spread`; a plain callable or a generator without self-ensemble has
    one view, spread 0) and, when fusing, of the two orientations too: the population variance
    of all views, the mean of each pass's views' variance (completed along its slice axis by the
    same bicubic as its mean, negative overshoots set to 0) plus the variance of the two passes.
    It measures how much the views disagree, not the error of the output: it is no calibrated
    uncertainty (views that agree on a wrong value give 0).

    Args:
        volume, sr, kwargs: as :func:`upscale_volume` or :func:`upscale_volume_orthogonal`.
        fuse: fuse two orthogonal slicing passes (isotropic scans).

    Returns:
        ``(output, spread)``: two Volumes on the output grid (same affine, header and units),
        float32, the spread >= 0.
    """
    result, spread = (_orthogonal if fuse else _in_plane)(volume, sr, spread=True, **{
        "scale": None, "axis": None, "percentiles": None, "batch_size": 8, "projection": None, "progress": True,
        "name": "input", **kwargs})
    source = f"{result.source}: standard deviation of the views (their disagreement, not a calibrated error)"
    return result, result.on_grid(spread.astype(np.float32, copy=False), result.affine, source)


def load_upscaler(checkpoint: str | Path,
                  options: UpscaleOptions) -> tuple[Inference, tuple[float, float], Projection | None]:
    """The inference path of a checkpoint's generator, its normalisation percentiles, and the
    data-consistency projection of its training degradation (None: none).

    Data consistency applies (``options.data_consistency``) where the checkpoint's ``degradation``
    record has a projection (:meth:`~mri_sr.data.degradation.Degradation.consistency`): k-space
    truncation without blur, which is how a scan relates to a finer acquisition of the same
    anatomy, so the output keeps the scan's own k-space, up to the training noise level (the
    level ``evaluate`` projects at). A real scan is usually less noisy than that: the ball is
    then larger than needed, which is safe (it still holds the true image) but corrects less. A
    checkpoint without a ``degradation`` record gets none.

    Raises:
        MriSrError: missing or unreadable checkpoint, more than one channel, no normalisation, a
            one-axis generator (``mri-sr throughplane --save-model``; refused by
            :func:`~mri_sr.checkpoint.load_generator`), or ``options.scale`` given and different from the
            checkpoint's (the message names the file).
    """
    precision = Precision.choose(pick_device(options.device), options.precision)
    generator = load_generator(checkpoint, precision.device, both_axes=True)
    if generator.in_channels != 1:
        raise MriSrError(f"{checkpoint}: generator has {generator.in_channels} input channels; MRI upscaling "
                         "needs a one-channel (in_channels 1) generator")
    if options.scale is not None and options.scale != generator.scale:
        raise MriSrError(f"{checkpoint}: checkpoint upscales x{generator.scale}, but --scale {options.scale} was given")
    if generator.percentiles is None:
        raise MriSrError(f"{checkpoint}: checkpoint has no 'normalisation' percentiles")
    inference = Inference(generator.net, precision, batch_size=options.batch_size, tile=options.tile,
                          overlap=options.overlap, self_ensemble=options.self_ensemble, name=str(checkpoint))
    trained_on = generator.info.get("degradation")
    degradation = from_dict({**trained_on, "scale": generator.scale}) if trained_on else None
    projection = degradation.consistency() if degradation is not None and options.data_consistency else None
    if projection is not None:
        log.info("%s: outputs projected onto the scan's measurements (%s; --no-data-consistency: off)",
                 checkpoint, ", ".join(f"{k} {v:.3g}" for k, v in projection.to_dict().items()))
    return inference, generator.percentiles, projection


def upscale_file(input: str | Path, output: str | Path, *, checkpoint: str | Path | None = None,
                 method: str | None = None, options: UpscaleOptions | None = None,
                 uncertainty: str | Path | None = None) -> Path:
    """``mri-sr upscale``: read a scan, super-resolve it, write a NIfTI in the same place in space
    and its JSON sidecar beside it (:mod:`mri_sr.sidecar`).

    With neither ``checkpoint`` nor ``method``, the shipped model of ``options.scale`` (default
    :data:`DEFAULT_SCALE`) runs (:func:`mri_sr.models.default_model`, its
    file's SHA-256 checked); an isotropic scan is then upscaled along all three axes (the fusion
    of :func:`upscale_volume_orthogonal`) unless ``options.axis`` or ``options.fuse_orthogonal``
    says otherwise. A scan that is not isotropic is upscaled in-plane, and the log points to
    ``mri-sr throughplane`` for its slice axis.

    Args:
        input: NIfTI file, DICOM folder or file, fastMRI ``.h5`` or ``builtin:mni152``.
        output: ``.nii`` or ``.nii.gz`` path, written atomically (no partial file on error).
        checkpoint: generator checkpoint (one-channel); its scale and normalisation are used.
        method: ``"bicubic"`` instead of a checkpoint.
        options: the command's options (checked when made); defaults when None.
        uncertainty: also write the views' spread (:func:`upscale_with_spread`) to this ``.nii`` /
            ``.nii.gz``, on the output's grid; a generator then runs with self-ensemble.

    Returns:
        The sidecar's path.

    Raises:
        MriSrError: one line naming the file: unreadable input or checkpoint, wrong scale or
            channel count, no shipped model of the scale, a damaged shipped model, unwritable
            output, 4D input without ``volume``, bad options.
    """
    output, options = Path(output), options or UpscaleOptions()
    _check_outputs(input, output, checkpoint, uncertainty)
    if checkpoint is not None and method is not None:
        raise MriSrError(f"{output}: give at most one of --checkpoint and --method")
    model = None
    if checkpoint is None and method is None:
        model = default_model(options.scale or DEFAULT_SCALE)
        checkpoint = model.file
        log.info("model: shipped %s (x%d, %s, sha256 %s...; card %s)", model.name, model.scale, model.file,
                 model.sha256[:12], model.card)
    if uncertainty is not None and checkpoint is not None and not options.self_ensemble:
        log.info("--uncertainty: self-ensemble on (the spread is that of its four views)")
        options = dataclasses.replace(options, self_ensemble=True)
    if checkpoint is not None:
        sr, percentiles, projection = load_upscaler(checkpoint, options)
        scale, precision = sr.scale, sr.precision.mode
        how = f"model {model.name}" if model else f"checkpoint {Path(checkpoint).name}"
    elif method == "bicubic":
        scale = options.scale or DEFAULT_SCALE
        sr, percentiles, projection, how, precision = bicubic(scale), None, None, method, "fp32"
    else:
        raise MriSrError(f"--method {method}: unknown (known: bicubic)")
    name = str(input)
    scan = load_volume(input, series=options.series).select(options.volume, name=name)
    fuse = _fuse(scan, options, shipped=model is not None, name=name)
    run = dict(scale=scale, axis=options.axis, percentiles=percentiles, batch_size=options.batch_size,
               projection=projection, progress=options.progress, name=name)
    if uncertainty is not None:
        result, spread = upscale_with_spread(scan, sr, fuse=fuse, **run)
    else:
        result, spread = (upscale_volume_orthogonal if fuse else upscale_volume)(scan, sr, **run), None
    save_nifti(result.on_grid(result.data, result.affine, f"{result.source} with {how}"), output)
    if spread is not None:
        save_nifti(spread, uncertainty)
        log.info("wrote %s: standard deviation of the views (their disagreement, not a calibrated error)",
                 uncertainty)
    log.info("wrote %s: %s, spacing %s mm", output, "x".join(map(str, result.data.shape)),
             " x ".join(f"{s:.4g}" for s in result.spacing))
    # --series is left out: it may be a SeriesInstanceUID, a DICOM identifier of the patient's study.
    settings = {k: v for k, v in dataclasses.asdict(options).items() if k not in ("progress", "series")}
    details = {"Grid": result.source.split(", upscaled ", 1)[-1], "VoxelSizeMm": [round(s, 6) for s in result.spacing],
               "Uncertainty": Path(uncertainty).name if uncertainty is not None else None}
    return write_sidecar(output, source=input, checkpoint=checkpoint, method=method, scale=scale,
                         precision=precision, options={**settings, "fuse_orthogonal": fuse},
                         model=model.name if model else None, details=details)


def _check_outputs(input: str | Path, output: Path, checkpoint: str | Path | None,
                   uncertainty: str | Path | None) -> None:
    """Fail before any work on outputs that cannot be written or would replace an input (the
    sidecar included: it must not replace the input's own sidecar)."""
    check_output(output)
    check_output_file(sidecar_path(output))
    inputs = (input, checkpoint, None if str(input).startswith("builtin:") else sidecar_path(input))
    refuse_overwriting_input(output, inputs)
    refuse_overwriting_input(sidecar_path(output), inputs)
    if uncertainty is not None:
        check_output(Path(uncertainty))
        if Path(uncertainty).absolute() == output.absolute():
            raise MriSrError(f"--uncertainty {uncertainty}: is the output file; choose another name")
        refuse_overwriting_input(uncertainty, inputs)


def _fuse(scan: Volume, options: UpscaleOptions, *, shipped: bool, name: str) -> bool:
    """Whether to fuse orthogonal passes: ``options.fuse_orthogonal`` when given, else an isotropic
    scan upscaled by a shipped model with no ``--axis``. Logs the grid and, for an anisotropic
    scan upscaled in-plane, the command that upscales its slice axis."""
    isotropic = is_isotropic(scan.spacing)
    fuse = options.fuse_orthogonal
    if fuse is None:
        fuse = shipped and isotropic and options.axis is None
    if fuse:
        log.info("%s: isotropic scan: every axis upscaled (fused orthogonal slicing; --no-fuse-orthogonal: "
                 "in-plane only)", name)
    elif not isotropic:
        axis = default_axis(scan.spacing) if options.axis is None else options.axis
        log.info("%s: upscaled in-plane; slice axis %d keeps its %.4g mm spacing (mri-sr throughplane OUT OUT2 "
                 "upscales it)", name, axis, scan.spacing[axis])
    return fuse
