"""Benchmark of ``mri-sr throughplane`` on a real fine scan made thick (run by hand).

For each scan: the fine volume (axis ``--axis``, default the last) is cut to a multiple of ``S``
and made thick: thick slice ``k`` = mean of fine slices ``S k .. S k + S - 1``, centred (its
affine says so) at fine index ``S k + (S - 1) / 2``. ``mri-sr throughplane THICK OUT``
restores it; the script checks that OUT's affine equals the fine grid's (max abs difference,
mm) and compares PSNR against cubic B-spline interpolation of THICK along the slice axis
(scipy ``map_coordinates`` order 3 at the same positions).

PSNR definition: peak = 99.5th percentile of the fine (reference) volume; head mask = fine
voxels above 5 % of the peak; MSE over the mask; PSNR = 10 log10(peak^2 / MSE), in scanner
units (no clipping). Prints one JSON object per scan.

Usage: python benchmarks/throughplane_eval.py SCAN [SCAN ...] [--scale 4] [--axis 2] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from mri_sr.resample import bspline_axis
from mri_sr.geometry import upscaled_affine
from mri_sr.io import Volume, load_volume, save_nifti


def make_thick(fine: Volume, axis: int, scale: int) -> tuple[Volume, Volume]:
    """``(fine_cut, thick)``: the fine volume cut to a multiple of ``scale`` along ``axis``, and its box average."""
    count = fine.data.shape[axis] // scale
    cut = np.take(fine.data, np.arange(count * scale), axis=axis)
    shape = list(cut.shape)
    shape[axis:axis + 1] = [count, scale]
    thick = cut.reshape(shape).mean(axis=axis + 1, dtype=np.float64).astype(np.float32)
    index_map = np.eye(4)
    index_map[axis, axis] = scale
    index_map[axis, 3] = (scale - 1) / 2.0
    return Volume(cut, fine.affine, fine.source), Volume(thick, fine.affine @ index_map, "thick")


def psnr_in_head(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR (dB) over voxels above 5 % of the reference's 99.5th percentile, that percentile the peak."""
    peak = float(np.percentile(reference, 99.5))
    mask = reference > 0.05 * peak
    mse = float(np.mean((test[mask].astype(np.float64) - reference[mask]) ** 2))
    return 10.0 * np.log10(peak**2 / mse)


def evaluate(scan: str, scale: int, axis: int, minutes: float, workdir: Path) -> dict:
    fine, thick = make_thick(load_volume(scan), axis, scale)
    thick_path, out_path = workdir / "thick.nii.gz", workdir / "out.nii.gz"
    save_nifti(thick, thick_path)
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "mri_sr.cli", "throughplane", str(thick_path), str(out_path),
                    "--minutes", str(minutes), "--device", "cpu"], check=True)
    seconds = time.monotonic() - start
    out = nib.load(str(out_path))
    result = out.get_fdata(dtype=np.float32)
    spline = bspline_axis(thick.data, axis, scale)
    factors = tuple(scale if a == axis else 1 for a in range(3))
    return {
        "scan": Path(scan).name, "scale": scale, "axis": axis, "fine_shape": list(fine.data.shape),
        "thick_shape": list(thick.data.shape), "spacing_mm": [round(s, 4) for s in fine.spacing],
        "affine_max_error_mm": float(np.abs(out.affine - fine.affine).max()),
        "affine_rule_error_mm": float(np.abs(upscaled_affine(thick.affine, factors) - fine.affine).max()),
        "shape_matches": list(result.shape) == list(fine.data.shape),
        "psnr_throughplane_db": round(psnr_in_head(fine.data, result), 3),
        "psnr_bspline_db": round(psnr_in_head(fine.data, spline), 3),
        "psnr_gain_db": round(psnr_in_head(fine.data, result) - psnr_in_head(fine.data, spline), 3),
        "seconds_total": round(seconds, 1), "minutes_budget": minutes,
        "cpus": len(os.sched_getaffinity(0)), "load_average_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scans", nargs="+", help="fine (about 1 mm isotropic) NIfTI scans or builtin:mni152")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--axis", type=int, default=2)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    for scan in args.scans:
        with tempfile.TemporaryDirectory() as workdir:
            print(json.dumps(evaluate(scan, args.scale, args.axis, args.minutes, Path(workdir))), flush=True)


if __name__ == "__main__":
    main()
