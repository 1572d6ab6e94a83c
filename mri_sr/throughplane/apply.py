"""Through-plane super-resolution of a whole thick-slice scan (``mri-sr throughplane``), SMORE-style.

Steps: find the slice axis (largest spacing), the factor ``S`` (spacing ratio) and the slice
profile (a box of the slice thickness, :class:`mri_sr.data.degradation.SliceProfile`) from the
scan's geometry (:func:`detect`; :func:`dicom_slice_thickness` for DICOM input); normalise the
scan to [0, 1] by its 0.5 and 99.5 percentiles; self-train a one-axis generator on the scan's own
in-plane slices degraded along one in-plane axis by that profile
(:mod:`mri_sr.throughplane.selftrain`); apply it to the two orthogonal stacks that contain the
slice axis and average them (:func:`apply_fused`); map back to scanner units (the clipped-off
extremes are interpolated along the slice axis and added back, as in :mod:`mri_sr.upscale`).
Only the slice axis grows, by ``S``, with the affine of :func:`mri_sr.geometry.upscaled_affine`
(output voxel ``j`` at input index ``(j + 0.5) / S - 0.5``): same field of view, orientation and
units.

A 2D multi-slice scan has fine in-plane spacing ``p`` and slice spacing ``d = S * p``; each slice
integrates the tissue over a box of the slice thickness ``t`` (``t < d``: a gap between slices;
``t = d``: contiguous slices), ``S * t / d`` voxels of the fine grid wide.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mri_sr.checkpoint import save_checkpoint
from mri_sr.data.degradation import SliceProfile
from mri_sr.data.normalize import fit_percentiles
from mri_sr.device import Precision, pick_device
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_file, file_sha256, refuse_overwriting_input
from mri_sr.geometry import upscaled_affine
from mri_sr.inference import Inference
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.logsetup import progress as progress_bar
from mri_sr.resample import interpolate_axis, restore_extremes
from mri_sr.sidecar import sidecar_path, write_sidecar
from mri_sr.throughplane.selftrain import PERCENTILES, PairSampler, ThroughPlaneOptions, self_train
from mri_sr.upscale import check_output, check_volume

log = logging.getLogger(__name__)

FACTORS = (2, 3, 4)
"""Through-plane factors supported (the generators' one-axis upsampler)."""
RATIO_TOLERANCE = 0.03
"""A spacing ratio within 3 % of an integer is rounded to it."""
MIN_RATIO = 1.5
"""Below this slice-to-in-plane spacing ratio a scan counts as isotropic."""


def dicom_slice_thickness(path: str | Path) -> tuple[float | None, float | None]:
    """``(SliceThickness, SpacingBetweenSlices)`` in mm of a DICOM folder or file; None when absent.

    Reads those two tags of the first DICOM file found (sorted names), nothing else.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        try:
            ds = pydicom.dcmread(file, stop_before_pixels=True, specific_tags=["SliceThickness", "SpacingBetweenSlices"])
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError, IndexError):
            continue
        values = []
        for keyword in ("SliceThickness", "SpacingBetweenSlices"):
            try:
                value = float(ds.get(keyword))
            except (TypeError, ValueError):
                value = float("nan")
            values.append(value if np.isfinite(value) and value > 0 else None)
        return values[0], values[1]
    return None, None


def detect(spacing: tuple[float, float, float], *, scale: int | None = None, thickness: float | None = None,
           name: str = "input") -> tuple[int, SliceProfile]:
    """The slice axis and slice profile of a thick-slice scan.

    Args:
        spacing: voxel size of the three array axes, mm.
        scale: the factor to use (default: the slice-to-in-plane spacing ratio, rounded when
            within 3 % of an integer).
        thickness: slice thickness ``t`` in mm (DICOM SliceThickness); default: the slice spacing
            ``d`` (contiguous slices). Thinner than the spacing means a gap; the box is never wider
            than twice the spacing. The profile's box is ``S * t / d`` fine voxels wide.
        name: file name for messages.

    Returns:
        ``(axis, profile)``: the axis of largest spacing and its
        :class:`~mri_sr.data.degradation.SliceProfile` (no blur, no noise).

    Raises:
        MriSrError: an isotropic scan, a ratio far from an integer, or a factor not in 2, 3, 4.
    """
    axis = int(np.argmax(spacing))
    fine = float(np.mean([s for a, s in enumerate(spacing) if a != axis]))
    ratio = spacing[axis] / fine
    shown = " x ".join(f"{s:.4g}" for s in spacing)
    if ratio < MIN_RATIO:
        raise MriSrError(f"{name}: scan is nearly isotropic ({shown} mm); through-plane super-resolution needs thick slices")
    if scale is None:
        scale = round(ratio)
        if abs(ratio - scale) > RATIO_TOLERANCE * scale:
            raise MriSrError(f"{name}: slice spacing is {ratio:.3f} times the in-plane spacing ({shown} mm), not "
                             f"an integer factor; give --scale")
    if scale not in FACTORS:
        raise MriSrError(f"{name}: through-plane factor {scale} is not supported (supported: "
                         f"{', '.join(map(str, FACTORS))})")
    thickness = spacing[axis] if thickness is None else min(thickness, 2.0 * spacing[axis])
    return axis, SliceProfile(scale=scale, width=scale * thickness / spacing[axis])


def apply_fused(sr: Inference, data: np.ndarray, axis: int, *, batch_size: int = 8,
                progress: bool = True) -> np.ndarray:
    """Super-resolve the slice axis of a normalised volume, fusing two orthogonal stacks.

    For slice axis ``a`` and in-plane axes ``b``, ``c``: stack 1 holds the planes (a, c) for every
    index along ``b``, stack 2 the planes (a, b) for every index along ``c``. Each plane has the
    slice axis as rows, which the network lengthens by ``S``; the two results are averaged.

    Args:
        sr: the one-axis generator's inference path, (B, 1, h, w) -> (B, 1, h * S, w) clamped
            to [0, 1], ``sr.scale = S`` (no tiling: tiles assume both axes grow).
        data: (X, Y, Z) float32 in [0, 1] (normalised, clipped).
        axis: slice axis.
        batch_size: planes per forward pass.
        progress: tqdm bar on stderr.

    Returns:
        float32 array, ``S`` times longer along ``axis``, clamped to [0, 1]: mean of the two stacks.
    """
    scale = sr.scale
    others = [a for a in range(3) if a != axis]
    fused = None
    total = sum(data.shape[b] for b in others)
    with progress_bar(total=total, unit="plane", desc="apply", disable=not progress) as bar:
        for stack_axis in others:
            planes = np.moveaxis(data, (stack_axis, axis), (0, 1))  # (n, slices, w)
            out = np.empty((planes.shape[0], planes.shape[1] * scale, planes.shape[2]), dtype=np.float32)
            for start in range(0, len(planes), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(planes[start:start + batch_size]))[:, None]
                out[start:start + len(batch)] = sr(batch)[:, 0].cpu().numpy()
                bar.update(len(batch))
            result = np.moveaxis(out, (0, 1), (stack_axis, axis))
            fused = result if fused is None else fused + result
    return fused * np.float32(0.5)


def upscale_through_plane(volume: Volume, options: ThroughPlaneOptions = ThroughPlaneOptions(), *,
                          name: str = "input") -> Volume:
    """Super-resolve the slice axis of a thick-slice 3D scan, trained on the scan itself.

    Args:
        volume: 3D scan, float32 scanner units (X, Y, Z), one axis coarser than the other two.
        options: see :class:`~mri_sr.throughplane.selftrain.ThroughPlaneOptions` (``volume``,
            ``series`` are for files; ``save_model`` is written here).
        name: file name for messages.

    Returns:
        Volume ``S`` times longer along the slice axis, float32 in the input's units.

    Raises:
        MriSrError: not 3D, non-finite, isotropic, unsupported factor, constant intensity, bad
            options or model.
    """
    check_volume(volume, name)
    options.check(name)
    axis, profile = detect(volume.spacing, scale=options.scale, thickness=options.thickness, name=name)
    scale = profile.scale
    log.info("%s: slice axis %d, x%d, slice profile a box of %.3g fine voxels", name, axis, scale, profile.width)
    norm = fit_percentiles(volume.data, *PERCENTILES, name=name)
    unclipped = norm.apply(volume.data, clip=False)
    clipped = np.clip(unclipped, 0.0, 1.0)
    chosen = Precision.choose(pick_device(options.device), options.precision)
    sampler = PairSampler(np.moveaxis(clipped, axis, 0), profile)
    threads = torch.get_num_threads()
    try:  # self-training may pick a faster CPU thread count; applying uses it too
        run = self_train(sampler, options, chosen)
        if options.save_model is not None:
            save_checkpoint(run.payload(axis, profile), options.save_model)
        out = apply_fused(Inference(run.net, chosen, name=name), clipped, axis, progress=options.progress)
    finally:
        torch.set_num_threads(threads)
    restore_extremes(out, unclipped, clipped, functools.partial(interpolate_axis, axis=axis, scale=scale))
    factors = tuple(scale if a == axis else 1 for a in range(3))
    return volume.on_grid(norm.invert(out), upscaled_affine(volume.affine, factors),
                  f"{volume.source}, through-plane x{scale} along axis {axis} "
                  f"(self-trained {run.iterations} iterations)")


def through_plane_file(input: str | Path, output: str | Path,
                       options: ThroughPlaneOptions = ThroughPlaneOptions()) -> None:
    """``mri-sr throughplane IN OUT``: read, self-train, super-resolve, write atomically.

    Without ``options.thickness`` the slice thickness comes from DICOM ``SliceThickness`` (DICOM
    input; with ``SpacingBetweenSlices`` larger, the gap is modelled), else it is the slice spacing.

    Raises:
        MriSrError: one line naming the file: unreadable input, 4D without ``volume``, an
            isotropic scan, an unsupported factor, bad options, an unwritable output or
            ``save_model``, or one that would replace an input.
    """
    output = Path(output)
    check_output(output)
    check_output_file(sidecar_path(output))
    inputs = (input, options.init, sidecar_path(input))
    refuse_overwriting_input(output, inputs)
    refuse_overwriting_input(sidecar_path(output), inputs)  # the output's sidecar must not replace the input's
    if options.save_model is not None:
        check_output_file(options.save_model)
        if Path(options.save_model).absolute() in (output.absolute(), sidecar_path(output).absolute()):
            raise MriSrError(f"--save-model {options.save_model}: is an output of the command; choose another name")
        refuse_overwriting_input(options.save_model, inputs)
    name = str(input)
    scan = load_volume(input, series=options.series).select(options.volume, name=name)
    if options.thickness is None and (Path(input).is_dir() or name.lower().endswith((".dcm", ".ima"))):
        options = replace(options, thickness=dicom_slice_thickness(input)[0])
    result = upscale_through_plane(scan, options, name=name)
    save_nifti(result, output)
    factor = max(round(n / m) for n, m in zip(result.data.shape[:3], scan.data.shape[:3]))
    write_sidecar(output, source=input, checkpoint=None, method="through-plane", scale=factor,
                  precision=Precision.choose(pick_device(options.device), options.precision).mode,
                  options={k: v for k, v in dataclasses.asdict(options).items() if k not in ("series", "progress")},
                  details={"StartWeights": Path(options.init).name if options.init else None,
                           "StartWeightsSHA256": file_sha256(options.init) if options.init else None})
    log.info("wrote %s: %s, spacing %s mm", output, "x".join(map(str, result.data.shape)),
             " x ".join(f"{s:.4g}" for s in result.spacing))
