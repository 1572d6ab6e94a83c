"""The ``--through-plane`` options of ``mri-sr upscale`` and their call (argument plumbing only)."""

from __future__ import annotations

import argparse

from mri_sr.errors import MriSrError


def add_through_plane_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--through-plane`` and its options to the ``upscale`` sub-parser."""
    group = parser.add_argument_group("through-plane (thick-slice scans, no trained model needed)")
    group.add_argument("--through-plane", action="store_true",
                       help="self-trained super-resolution of the slice axis only (--checkpoint: start weights)")
    group.add_argument("--minutes", type=float, default=5.0, help="self-training time budget (default 5)")
    group.add_argument("--iterations", type=int, help="stop self-training after N iterations (reproducible)")
    group.add_argument("--model", default="srresnet", help="srresnet (default) or srresnet_large")
    group.add_argument("--seed", type=int, default=0, help="random seed of the self-training")
    group.add_argument("--save-model", help="write the self-trained generator to this checkpoint")


def run_through_plane(args: argparse.Namespace) -> None:
    """Call :func:`mri_sr.throughplane.run.through_plane_file` with the parsed arguments."""
    from mri_sr.throughplane.run import through_plane_file

    if args.method is not None or args.axis is not None or args.fuse_orthogonal or args.self_ensemble:
        raise MriSrError(f"{args.output}: --through-plane takes no --method, --axis, --fuse-orthogonal or "
                         "--self-ensemble")
    through_plane_file(args.input, args.output, scale=args.scale, model=args.model, checkpoint=args.checkpoint,
                       minutes=args.minutes, iterations=args.iterations, seed=args.seed, device=args.device,
                       precision=args.precision,
                       volume=args.volume, series=args.series, save_model=args.save_model)


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    """The ``throughplane-report`` verb: orthogonal views of input, B-spline and result per scan."""
    p = sub.add_parser("throughplane-report", help="HTML page: thick-slice scans, B-spline and through-plane results")
    p.add_argument("--scans", nargs="*", default=[], help="thick-slice input scans")
    p.add_argument("--results", nargs="*", default=[], help="their mri-sr upscale --through-plane outputs, same order")
    p.add_argument("--out", required=True, help="HTML file")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> None:
    """Call :func:`mri_sr.report.throughplane.build_throughplane_report`."""
    from mri_sr.report.throughplane import build_throughplane_report

    if len(args.scans) != len(args.results):
        raise MriSrError(f"{args.out}: {len(args.scans)} --scans but {len(args.results)} --results")
    build_throughplane_report(args.scans, args.results, args.out)
