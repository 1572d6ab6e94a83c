"""fp32 against ``--precision auto`` through the command line, side by side in one run.

1. ``mri-sr upscale`` of ``--slices`` axial slices of a scan (default: the 1 mm MNI152 T1
   template) with a trained checkpoint, ``--repeats`` alternating runs per precision; the two
   outputs are compared by PSNR (peak: the 99.5th percentile of the fp32 output).
2. ``mri-sr train`` of ``--iterations`` iterations of a model config on a prepared folder, once per
   precision (fresh run folders), alternating.

    python benchmarks/precision_cli.py --checkpoint results/runs/x4/srresnet/final.pt \\
        --train-config results/config/models/srresnet.yaml --data results/data/x4

Prints JSON: CPU, flags, threads, seconds per run and the speed-up of auto over fp32.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from mri_sr.device import cpu_supports_bf16, resolve_precision
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.io.nifti import load_nifti

MODES = ("fp32", "auto")


def _cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def crop_slices(scan: str, slices: int, out: Path) -> Path:
    """The central ``slices`` slices along the last axis of ``scan`` as a NIfTI."""
    volume = load_volume(scan)
    start = volume.data.shape[2] // 2 - slices // 2
    affine = volume.affine.copy()
    affine[:3, 3] = volume.affine[:3, :3] @ [0, 0, start] + volume.affine[:3, 3]
    save_nifti(Volume(np.ascontiguousarray(volume.data[:, :, start:start + slices]), affine, "crop"), out)
    return out


def upscale(args: argparse.Namespace, folder: Path) -> dict:
    scan = crop_slices(args.scan, args.slices, folder / "scan.nii.gz")
    seconds = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            seconds[mode].append(_timed([sys.executable, "-m", "mri_sr.cli", "upscale", str(scan),
                                         str(folder / f"{mode}.nii.gz"), "--checkpoint", args.checkpoint,
                                         "--axis", "2", "--device", "cpu", "--precision", mode]))
    fp32, auto = (load_nifti(folder / f"{mode}.nii.gz").data.astype(np.float64) for mode in MODES)
    peak = float(np.percentile(fp32, 99.5))
    mse = float(np.mean((auto - fp32) ** 2))
    best = {mode: min(times) for mode, times in seconds.items()}
    return {"slices": args.slices, "seconds": seconds, "speedup_auto_over_fp32": round(best["fp32"] / best["auto"], 3),
            "psnr_auto_vs_fp32_db": round(10 * np.log10(peak**2 / mse), 2) if mse else float("inf")}


def train(args: argparse.Namespace, folder: Path) -> dict:
    config = yaml.safe_load(Path(args.train_config).read_text())
    config["train"]["iterations"] = args.iterations
    config["validation"] = {**config.get("validation", {}), "every": args.iterations}
    config["checkpoint_every"] = args.iterations
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    seconds = {}
    for mode in MODES:
        seconds[mode] = _timed([sys.executable, "-m", "mri_sr.cli", "train", "--config", str(path), "--data", args.data,
                                "--out", str(folder / f"run_{mode}"), "--device", "cpu", "--precision", mode])
    return {"iterations": args.iterations, "seconds": seconds,
            "speedup_auto_over_fp32": round(seconds["fp32"] / seconds["auto"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="generator checkpoint for upscale")
    parser.add_argument("--scan", default="builtin:mni152")
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-config", help="model config for the training benchmark (skipped without it)")
    parser.add_argument("--data", help="prepared folder for the training benchmark")
    parser.add_argument("--iterations", type=int, default=150)
    args = parser.parse_args()
    report = {"cpu": _cpu_model(), "cpu_bf16": cpu_supports_bf16(), "threads": torch.get_num_threads(),
              "auto_means": resolve_precision("auto", torch.device("cpu")), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        report["upscale"] = upscale(args, Path(tmp))
        if args.train_config and args.data:
            report["train"] = train(args, Path(tmp))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
