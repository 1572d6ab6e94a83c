"""The ``mri-sr`` command line: argument parsing only; each verb calls one function."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import numpy as np

from mri_sr import __version__
from mri_sr.device import PRECISIONS
from mri_sr.errors import MriSrError, one_line
from mri_sr.fsutil import no_space_error
from mri_sr.logsetup import configure_logging
from mri_sr.signals import TERMINATED_EXIT_STATUS, Terminated, sigterm_raises

PRECISION_HELP = "autocast: auto = bf16 where the CPU/GPU has it (fp16 on older GPUs), else fp32"


def cmd_info(args: argparse.Namespace) -> None:
    from mri_sr.io import load_volume

    volume = load_volume(args.path, series=args.series)
    finite = np.isfinite(volume.data)
    non_finite = int(finite.size - np.count_nonzero(finite))
    values = volume.data[finite] if non_finite else volume.data
    info = {
        "source": volume.source,
        "shape": list(volume.data.shape),
        "spacing_mm": [round(s, 6) for s in volume.spacing],
        "orientation": volume.orientation,
        "intensity_range": [float(values.min()), float(values.max())] if values.size else [None, None],
        "non_finite_voxels": non_finite,
        "affine": np.round(volume.affine, 6).tolist(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"source:      {info['source']}")
    print(f"shape:       {'x'.join(map(str, info['shape']))}")
    print(f"spacing:     {' x '.join(f'{s:g}' for s in info['spacing_mm'])} mm")
    print(f"orientation: {info['orientation']}")
    if values.size:
        print(f"intensity:   {info['intensity_range'][0]:g} .. {info['intensity_range'][1]:g} (finite voxels)")
    if non_finite:
        print(f"not finite:  {non_finite} of {finite.size} voxels are NaN or infinite")
    print("affine (voxel -> RAS+ mm):")
    for row in info["affine"][:3]:
        print("  " + " ".join(f"{v:11.4f}" for v in row))


def cmd_prepare(args: argparse.Namespace) -> None:
    from mri_sr.config import load_config
    from mri_sr.data.prepare import prepare

    prepare(load_config(args.config), args.scale, args.out)


def cmd_train(args: argparse.Namespace) -> None:
    from mri_sr.train import load_model_config, train
    from mri_sr.train.config import set_feature_checkpoint

    config = set_feature_checkpoint(load_model_config(args.config), args.features)
    train(config, args.data, args.out, init=args.init, device=args.device, precision=args.precision)


def cmd_features(args: argparse.Namespace) -> None:
    from mri_sr.train.features import FeatureSettings, train_features

    settings = FeatureSettings(iterations=args.iterations, batch_size=args.batch_size, seed=args.seed)
    train_features(args.data, args.out, settings, device=args.device, precision=args.precision)


def cmd_interpolate(args: argparse.Namespace) -> None:
    from mri_sr.checkpoint import interpolate_checkpoints

    interpolate_checkpoints(args.psnr, args.gan, args.out, args.alpha)


def cmd_evaluate(args: argparse.Namespace) -> None:
    from mri_sr.evaluate import evaluate

    evaluate(method=args.method, dataset=args.dataset, scale=args.scale, out=args.out,
             name=args.name, device=args.device, precision=args.precision, mask=args.mask, images_dir=args.images,
             data_consistency=not args.no_data_consistency, self_ensemble=args.self_ensemble)


def cmd_report(args: argparse.Namespace) -> None:
    from mri_sr.report import build_report

    build_report(metrics=args.metrics, runs=args.runs, out=args.out, config=args.config)


def _bids_derivatives(args: argparse.Namespace, write: Callable[[], object]) -> None:
    """Run ``write``; with ``--bids-derivatives`` check first that the output lies in a BIDS derivatives
    dataset (``<root>/sub-*/``) and then keep the dataset's ``dataset_description.json``."""
    from mri_sr.bids import derivatives_root, write_dataset_description

    root = derivatives_root(args.output) if args.bids_derivatives else None  # fails before the work
    write()
    if root is not None:
        write_dataset_description(root)


def cmd_upscale(args: argparse.Namespace) -> None:
    _bids_derivatives(args, lambda: _upscale(args))


def _upscale(args: argparse.Namespace) -> None:
    from mri_sr.upscale import UpscaleOptions, upscale_file

    options = UpscaleOptions(scale=args.scale, axis=args.axis, batch_size=args.batch_size, tile=args.tile,
                             overlap=args.overlap, device=args.device, precision=args.precision, volume=args.volume,
                             series=args.series, fuse_orthogonal=args.fuse_orthogonal,
                             self_ensemble=args.self_ensemble, data_consistency=not args.no_data_consistency)
    upscale_file(args.input, args.output, checkpoint=args.checkpoint, method=args.method, options=options,
                 uncertainty=args.uncertainty)


def cmd_models(args: argparse.Namespace) -> None:
    from mri_sr.models import add_model, models_folder, shipped_models

    if args.add:
        if not args.card:
            raise MriSrError(f"{args.add}: --add needs --card (the model card, Markdown)")
        model = add_model(args.add, args.card, name=args.name, description=args.description or "",
                          folder=args.folder)
        print(f"added {model.name} (x{model.scale}) to {model.index}")
        return
    models = shipped_models(args.folder)
    if args.json:
        print(json.dumps([model.to_dict() for model in models], indent=2))
        return
    if not models:
        print(f"no shipped models in {args.folder or models_folder()} "
              "(mri-sr upscale then needs --checkpoint or --method)")
        return
    for model in models:
        print(f"{model.name}  x{model.scale}  {model.file}  card: {model.card}")
        if model.description:
            print(f"    {model.description}")


def cmd_model_card(args: argparse.Namespace) -> None:
    from mri_sr.report.card import write_model_card

    out = write_model_card(args.run, args.metrics, args.scans, args.name, args.out)
    print(f"wrote {out}")


def cmd_throughplane(args: argparse.Namespace) -> None:
    from mri_sr.throughplane.apply import through_plane_file
    from mri_sr.throughplane.selftrain import ThroughPlaneOptions

    options = ThroughPlaneOptions(scale=args.scale, thickness=args.thickness, model=args.model, init=args.init,
                                  minutes=args.minutes, iterations=args.iterations, batch_size=args.batch_size,
                                  seed=args.seed, device=args.device, precision=args.precision, volume=args.volume,
                                  series=args.series, save_model=args.save_model)
    _bids_derivatives(args, lambda: through_plane_file(args.input, args.output, options))


def cmd_throughplane_report(args: argparse.Namespace) -> None:
    from mri_sr.report.throughplane import build_throughplane_report

    if len(args.scans) != len(args.results):
        raise MriSrError(f"{args.out}: {len(args.scans)} --scans but {len(args.results)} --results")
    build_throughplane_report(args.scans, args.results, args.out)


BIDS_HELP = ("the output lies in a BIDS derivatives dataset (<root>/sub-*/[ses-*/]anat/): checked before the work; "
             "the dataset's dataset_description.json is written beside sub-*/")
SELF_ENSEMBLE_HELP = "run a generator on the 4 quarter turns of each slice and average the outputs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mri-sr", description="MRI super-resolution toolkit")
    parser.add_argument("--version", action="version", version=f"mri-sr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="show a scan's shape, spacing, orientation and intensities")
    p.add_argument("path", help="NIfTI file, DICOM folder, fastMRI .h5 or builtin:mni152")
    p.add_argument("--series", help="SeriesNumber, series key (listed when a folder holds several) or SeriesInstanceUID "
                                           "(or a unique prefix) in a DICOM folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("prepare", help="volumes -> normalised HR / degraded LR training slices")
    p.add_argument("--config", required=True, help="YAML config (its 'data' section is used)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--out", required=True, help="output folder (shards/, manifest.csv)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train one model (resumes from OUT/last.pt when present)")
    p.add_argument("--config", required=True, help="model YAML, e.g. configs/models/srresnet.yaml")
    p.add_argument("--data", required=True, help="prepared folder (mri-sr prepare --out)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs, final.pt")
    p.add_argument("--init", help="checkpoint whose generators initialise net_g (and net_g_lr when both have one)")
    p.add_argument("--features", help="MRI feature network (mri-sr features) for a perceptual term with network mri")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=PRECISIONS, help="autocast precision (default: the config's device.precision)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("features", help="train the MRI feature network of the perceptual loss (self-supervised)")
    p.add_argument("--data", required=True, help="prepared folder (its training HR slices are used)")
    p.add_argument("--out", required=True, help="feature network checkpoint, e.g. features.pt")
    p.add_argument("--iterations", type=int, default=300, help="Adam updates (default 300)")
    p.add_argument("--batch-size", type=int, default=16, help="patches per update (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("interpolate", help="ESRGAN network interpolation (1-alpha)*PSNR + alpha*GAN")
    p.add_argument("--alpha", type=float, required=True, help="0 = PSNR model, 1 = GAN model")
    p.add_argument("psnr", help="PSNR-oriented checkpoint")
    p.add_argument("gan", help="GAN checkpoint of the same architecture")
    p.add_argument("out", help="output checkpoint")
    p.set_defaults(func=cmd_interpolate)

    _add_evaluate(sub)

    p = sub.add_parser("report", help="one self-contained HTML page (+ CSV) over metrics JSON files")
    p.add_argument("--metrics", nargs="+", required=True, help="metrics JSON files (mri-sr evaluate --out)")
    p.add_argument("--runs", nargs="*", default=[], help="training run folders (curves, wall times)")
    p.add_argument("--config", help="resolved workflow config to show in the report")
    p.add_argument("--out", required=True, help="HTML file; the CSV goes beside it")
    p.set_defaults(func=cmd_report)

    _add_upscale(sub)
    _add_throughplane(sub)

    p = sub.add_parser("models", help="list the shipped models (name, scale, file, card), or add one")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--folder", help="models folder (default: $MRI_SR_MODELS, else the package's)")
    p.add_argument("--add", metavar="CKPT", help="copy this generator checkpoint into the folder and list it")
    p.add_argument("--card", help="with --add: its model card (Markdown)")
    p.add_argument("--name", help="with --add: the model's name (default: the file's stem)")
    p.add_argument("--description", help="with --add: one line")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("model-card", help="write the model card of a training run: training data and budget, "
                                          "gains over bicubic on test sets, what it is not for")
    p.add_argument("--run", required=True, help="run folder (final.pt, summary.json)")
    p.add_argument("--metrics", required=True, help="metrics folder of the run's scale: scan-NAME/METHOD.json "
                                                    "and scan-NAME/bicubic.json")
    p.add_argument("--scans", nargs="+", required=True, help="test-set names for the gains table")
    p.add_argument("--name", required=True, help="the model's name")
    p.add_argument("--out", required=True, help="model card, Markdown")
    p.set_defaults(func=cmd_model_card)
    return parser


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="PSNR/SSIM of a method on a benchmark folder or prepared test split")
    p.add_argument("--method", required=True, help="bicubic | nearest | lanczos | path to a checkpoint")
    p.add_argument("--dataset", required=True, help="folder with HR/*.png, or a prepared folder (test split)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--out", required=True, help="metrics JSON")
    p.add_argument("--name", help="method name in the JSON (default: from --method)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.add_argument("--mask", action="store_true", help="MRI: also report metrics inside a foreground mask")
    p.add_argument("--images", help="folder to save SR images for the report's comparison panels")
    p.add_argument("--no-data-consistency", action="store_true",
                   help="MRI: score a generator's raw output (default: projected onto its LR's k-space "
                        "data-consistency ball at the prepared noise level)")
    p.add_argument("--self-ensemble", action="store_true", help=SELF_ENSEMBLE_HELP)
    p.set_defaults(func=cmd_evaluate)


def _add_upscale(sub: argparse._SubParsersAction) -> None:
    from mri_sr.models import DEFAULT_SCALE

    p = sub.add_parser("upscale", help="super-resolve a whole scan, keeping its place in scanner space")
    p.add_argument("input", help="NIfTI file, DICOM folder or fastMRI .h5")
    p.add_argument("output", help="output .nii or .nii.gz")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--checkpoint", help="trained generator checkpoint (default: the shipped model of --scale, "
                                          "see mri-sr models)")
    how.add_argument("--method", choices=("bicubic",), help="classical interpolation, no checkpoint")
    p.add_argument("--scale", type=int, choices=(2, 3, 4),
                   help=f"the factor of the shipped model or of --method (default {DEFAULT_SCALE})")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), help="slice axis (default: largest spacing)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--tile", type=int, help="LR tile size for slices too large for memory")
    p.add_argument("--overlap", type=int, default=8, help="LR pixels of overlap between tiles")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.add_argument("--volume", type=int, help="time point of a 4D scan (0-based)")
    p.add_argument("--series", help="series in a DICOM folder holding several")
    p.add_argument("--fuse-orthogonal", action=argparse.BooleanOptionalAction, default=None,
                   help="isotropic scans: upscale along two axes and average, every axis upscaled (default: "
                        "on for an isotropic scan upscaled by a shipped model without --axis)")
    p.add_argument("--uncertainty", metavar="STD.nii.gz",
                   help="also write the per-voxel standard deviation of the views (self-ensemble turns, fused "
                        "orientations) on the output grid: their disagreement, not a calibrated error "
                        "(turns --self-ensemble on)")
    p.add_argument("--self-ensemble", action="store_true", help=SELF_ENSEMBLE_HELP + " (4x the time)")
    p.add_argument("--no-data-consistency", action="store_true",
                   help="keep the generator's output as it is (default for a generator trained on k-space-"
                        "truncated LR: projected onto the scan's own k-space up to the training noise level)")
    p.add_argument("--bids-derivatives", action="store_true", help=BIDS_HELP)
    p.add_argument("--through-plane", action=_MovedTo, nargs=0, help="moved: use mri-sr throughplane IN OUT")
    p.set_defaults(func=cmd_upscale)


class _MovedTo(argparse.Action):
    """``upscale --through-plane``: one error line pointing at the ``throughplane`` command."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        raise MriSrError("upscale --through-plane is now its own command: mri-sr throughplane IN OUT "
                         "[--scale S] [--minutes N] [--iterations N] [--model M] [--init CKPT] ... "
                         "(mri-sr throughplane --help)")


def _add_throughplane(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("throughplane", help="thick-slice scan: self-trained super-resolution of the slice axis only",
                       description="Super-resolve the slice axis of a thick-slice scan with a one-axis generator "
                                   "trained on the scan's own in-plane slices (no training data, no checkpoint). "
                                   "Replaces mri-sr upscale --through-plane.")
    p.add_argument("input", help="thick-slice NIfTI file, DICOM folder or fastMRI .h5")
    p.add_argument("output", help="output .nii or .nii.gz (only the slice axis grows)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), help="factor (default: slice / in-plane spacing ratio)")
    p.add_argument("--thickness", type=float,
                   help="slice thickness, mm (default: DICOM SliceThickness, else the slice spacing)")
    p.add_argument("--model", default="srresnet", help="srresnet (default) or srresnet_large")
    p.add_argument("--init", help="checkpoint whose matching generator weights start the self-training")
    p.add_argument("--minutes", type=float, default=5.0, help="self-training time budget (default 5)")
    p.add_argument("--iterations", type=int, help="stop self-training after N iterations (reproducible)")
    p.add_argument("--batch-size", type=int, default=16, help="training pairs per iteration (default 16)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the self-training")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.add_argument("--volume", type=int, help="time point of a 4D scan (0-based)")
    p.add_argument("--series", help="series in a DICOM folder holding several")
    p.add_argument("--save-model", help="also write the self-trained generator to this checkpoint")
    p.add_argument("--bids-derivatives", action="store_true", help=BIDS_HELP)
    p.set_defaults(func=cmd_throughplane)

    p = sub.add_parser("throughplane-report", help="HTML page: thick-slice scans, B-spline and through-plane results")
    p.add_argument("--scans", nargs="*", default=[], help="thick-slice input scans")
    p.add_argument("--results", nargs="*", default=[], help="their mri-sr throughplane outputs, same order")
    p.add_argument("--out", required=True, help="HTML file")
    p.set_defaults(func=cmd_throughplane_report)


def cap_threads() -> None:
    """At most one torch thread per available CPU (Snakemake sets OMP_NUM_THREADS to a rule's
    threads, which may exceed the CPUs of a laptop; more threads than CPUs only slow torch down)."""
    import os

    import torch

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, min(torch.get_num_threads(), available)))


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except MriSrError as exc:  # an option that moved (upscale --through-plane)
        print(f"mri-sr: error: {one_line(exc, limit=None)}", file=sys.stderr)
        return 1
    if args.command in ("train", "features", "evaluate", "upscale", "throughplane"):
        cap_threads()
    configure_logging(args.verbose)
    try:
        with sigterm_raises():
            args.func(args)
    except MriSrError as exc:
        print(f"mri-sr: error: {one_line(exc, limit=None)}", file=sys.stderr)
        return 1
    except OSError as exc:  # an I/O failure the checks could not foresee (disk full, permissions)
        if (full := no_space_error(exc, getattr(args, "out", None) or getattr(args, "output", None))) is not None:
            print(f"mri-sr: error: {full}", file=sys.stderr)
            return 1
        if exc.filename is None:
            raise
        print(f"mri-sr: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Terminated:
        print("mri-sr: terminated", file=sys.stderr)
        return TERMINATED_EXIT_STATUS
    except KeyboardInterrupt:
        print("mri-sr: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
