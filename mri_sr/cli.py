"""The ``mri-sr`` command line: argument parsing only; each verb calls one function."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np

from mri_sr import __version__
from mri_sr.errors import MriSrError


def cmd_info(args: argparse.Namespace) -> None:
    from mri_sr.io import load_volume

    volume = load_volume(args.path, series=args.series)
    info = {
        "source": volume.source,
        "shape": list(volume.data.shape),
        "spacing_mm": [round(s, 6) for s in volume.spacing],
        "orientation": volume.orientation,
        "intensity_range": [float(np.nanmin(volume.data)), float(np.nanmax(volume.data))],
        "affine": np.round(volume.affine, 6).tolist(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"source:      {info['source']}")
    print(f"shape:       {'x'.join(map(str, info['shape']))}")
    print(f"spacing:     {' x '.join(f'{s:g}' for s in info['spacing_mm'])} mm")
    print(f"orientation: {info['orientation']}")
    print(f"intensity:   {info['intensity_range'][0]:g} .. {info['intensity_range'][1]:g}")
    print("affine (voxel -> RAS+ mm):")
    for row in info["affine"][:3]:
        print("  " + " ".join(f"{v:11.4f}" for v in row))


def cmd_prepare(args: argparse.Namespace) -> None:
    from mri_sr.config import load_config
    from mri_sr.data.prepare import prepare

    prepare(load_config(args.config), args.scale, args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mri-sr", description="MRI super-resolution toolkit")
    parser.add_argument("--version", action="version", version=f"mri-sr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="show a scan's shape, spacing, orientation and intensities")
    p.add_argument("path", help="NIfTI file, DICOM folder, fastMRI .h5 or builtin:mni152")
    p.add_argument("--series", help="SeriesInstanceUID (or prefix) or SeriesNumber in a DICOM folder")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("prepare", help="volumes -> normalised HR / degraded LR training slices")
    p.add_argument("--config", required=True, help="YAML config (its 'data' section is used)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--out", required=True, help="output folder (shards/, manifest.csv)")
    p.set_defaults(func=cmd_prepare)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except MriSrError as exc:
        print(f"mri-sr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mri-sr: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
