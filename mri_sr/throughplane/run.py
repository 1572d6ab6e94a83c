"""``mri-sr upscale --through-plane``: self-supervised super-resolution of the slice axis (SMORE-style).

Steps: find the slice axis (largest spacing), the factor ``S`` (spacing ratio) and the slice
profile (box of the slice thickness); normalise the scan to [0, 1] by its 0.5 and 99.5
percentiles; train a one-axis generator on the scan's own in-plane slices degraded along one
in-plane axis by that profile (:mod:`mri_sr.throughplane.pairs`); apply it to the two orthogonal
stacks that contain the slice axis and average them (:mod:`mri_sr.throughplane.apply`); map back
to scanner units (the clipped-off extremes are interpolated and added back, as in
:mod:`mri_sr.upscale`). Only the slice axis grows, by ``S``, with the affine of
:func:`mri_sr.geometry.upscaled_affine` (output voxel ``j`` at input index ``(j + 0.5) / S - 0.5``):
same field of view, orientation and units.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from mri_sr.checkpoint import save_checkpoint
from mri_sr.data.axis_interp import interpolate_axis
from mri_sr.data.normalize import fit_percentiles
from mri_sr.device import Precision, pick_device
from mri_sr.inference import Inference
from mri_sr.errors import MriSrError
from mri_sr.fsutil import refuse_overwriting_input
from mri_sr.geometry import upscaled_affine
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.nets import build_network
from mri_sr.throughplane.apply import apply_fused
from mri_sr.throughplane.pairs import PairSampler
from mri_sr.throughplane.profile import detect, dicom_slice_thickness
from mri_sr.throughplane.selftrain import load_init, model_spec, self_train
from mri_sr.upscale import check_volume
from mri_sr.upscale_options import check_output

log = logging.getLogger(__name__)

PERCENTILES = (0.5, 99.5)


def upscale_through_plane(volume: Volume, *, scale: int | None = None, thickness: float | None = None,
                          model: str | dict = "srresnet", checkpoint: str | Path | None = None,
                          minutes: float = 5.0, iterations: int | None = None, seed: int = 0,
                          device: str = "auto", precision: str = "auto", progress: bool = True, name: str = "input",
                          save_model: str | Path | None = None) -> Volume:
    """Super-resolve the slice axis of a thick-slice 3D scan, trained on the scan itself.

    Args:
        volume: 3D scan, float32 scanner units (X, Y, Z), one axis coarser than the other two.
        scale: factor (default: the spacing ratio); see :func:`mri_sr.throughplane.profile.detect`.
        thickness: slice thickness in mm (default: the slice spacing, no gap).
        model: a ``--model`` name of :data:`mri_sr.throughplane.selftrain.MODELS`, or a network spec.
        checkpoint: mri-sr checkpoint whose matching generator weights start the training.
        minutes: training time budget (minutes).
        iterations: iteration cap (reproducible runs; None: as many as fit in ``minutes``).
        seed: random seed (pairs and initialisation).
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        precision: autocast of self-training and application (``auto``: bf16 where the CPU or GPU has it).
        progress: progress bars on stderr.
        name: file name for messages.
        save_model: also write the trained generator as an mri-sr checkpoint here (for ``--checkpoint``).

    Returns:
        Volume ``S`` times longer along the slice axis, float32 in the input's units.

    Raises:
        MriSrError: not 3D, non-finite, isotropic, unsupported factor, constant intensity, bad model.
    """
    check_volume(volume, name)
    if minutes <= 0 or (iterations is not None and iterations < 1):
        raise MriSrError(f"{name}: --minutes must be positive and --iterations at least 1")
    axis, profile = detect(volume.spacing, scale=scale, thickness=thickness, name=name)
    scale = profile.factor
    log.info("%s: slice axis %d, x%d, slice profile a box of %.3g fine voxels", name, axis, scale, profile.width)
    norm = fit_percentiles(volume.data, *PERCENTILES, name=name)
    unclipped = norm.apply(volume.data, clip=False)
    clipped = np.clip(unclipped, 0.0, 1.0)
    chosen = Precision.choose(pick_device(device), precision)
    spec = model_spec(model, scale)
    torch.manual_seed(seed)  # the initial weights
    net = build_network(spec)
    if checkpoint is not None:
        load_init(net, checkpoint)
    sampler = PairSampler(np.moveaxis(clipped, axis, 0), profile)
    threads = torch.get_num_threads()
    try:  # self-training may pick a faster CPU thread count; applying uses it too
        stats = self_train(net, sampler, minutes=minutes, iterations=iterations, seed=seed, precision=chosen,
                           progress=progress)
        if save_model is not None:
            save_checkpoint({"model": "throughplane", "iteration": stats["iterations"], "scale": scale,
                             "in_channels": 1, "net_g_spec": spec, "nets": {"net_g": net.cpu().state_dict()},
                             "normalisation": {"low_percentile": PERCENTILES[0], "high_percentile": PERCENTILES[1]}},
                            save_model)
        out = apply_fused(Inference(net, chosen, name=name), clipped, axis, progress=progress)
    finally:
        torch.set_num_threads(threads)
    excess = unclipped - clipped
    if np.any(excess):
        out += interpolate_axis(excess, axis, scale)
    factors = tuple(scale if a == axis else 1 for a in range(3))
    return volume.on_grid(norm.invert(out), upscaled_affine(volume.affine, factors),
                  f"{volume.source}, through-plane x{scale} along axis {axis} "
                  f"(self-trained {stats['iterations']} iterations)")


def through_plane_file(input: str | Path, output: str | Path, *, scale: int | None = None, model: str = "srresnet",
                       checkpoint: str | Path | None = None, minutes: float = 5.0, iterations: int | None = None,
                       seed: int = 0, device: str = "auto", precision: str = "auto", volume: int | None = None,
                       series: str | None = None,
                       save_model: str | Path | None = None) -> None:
    """``mri-sr upscale IN OUT --through-plane``: read, self-train, super-resolve, write atomically.

    The slice thickness comes from DICOM ``SliceThickness`` (DICOM input; with
    ``SpacingBetweenSlices`` larger, the gap is modelled), else it is the slice spacing.

    Raises:
        MriSrError: one line naming the file: unreadable input, 4D without ``volume``, an
            isotropic scan, an unsupported factor, unwritable output.
    """
    output = Path(output)
    check_output(output)
    refuse_overwriting_input(output, (input, checkpoint))
    name = str(input)
    scan = load_volume(input, series=series).select(volume, name=name)
    thickness = None
    if Path(input).is_dir() or name.lower().endswith((".dcm", ".ima")):
        thickness, _ = dicom_slice_thickness(input)
    result = upscale_through_plane(scan, scale=scale, thickness=thickness, model=model, checkpoint=checkpoint,
                                   minutes=minutes, iterations=iterations, seed=seed, device=device,
                                   precision=precision, name=name,
                                   save_model=save_model)
    save_nifti(result, output)
    log.info("wrote %s: %s, spacing %s mm", output, "x".join(map(str, result.data.shape)),
             " x ".join(f"{s:.4g}" for s in result.spacing))
