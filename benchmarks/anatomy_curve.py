"""Gain over bicubic on real scans against training iterations: the snapshots of a run.

A run trained with ``snapshot_every`` keeps its generator every so many iterations
(``RUN/snapshots/<iteration>.pt``). Each snapshot is scored on each prepared test set (``mri-sr
evaluate`` with data consistency and self-ensemble, as the workflow's report and the model cards
score generators) beside bicubic, so the curve shows whether training longer still helps on scans
the model never saw (configs/general.yaml's general models, trained on synthetic anatomy).

    python benchmarks/anatomy_curve.py --run results/runs/x4/general --scans results/scans/x4/chris_t1 \\
        results/scans/x4/philips_mprage results/scans/x4/siemens_xa30_t1 --jobs 2

Prints JSON: the run, scale, CPU flags, and per snapshot its iteration, each test set's PSNR and gain
over bicubic (dB), and the mean gain.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mri_sr.checkpoint import load_checkpoint
from mri_sr.device import cpu_supports_bf16


def _evaluate(method: str, dataset: Path, scale: int, out: Path, threads: int) -> float:
    command = [sys.executable, "-m", "mri_sr.cli", "evaluate", "--method", method, "--dataset", str(dataset),
               "--scale", str(scale), "--out", str(out)]
    if method != "bicubic":
        command.append("--self-ensemble")
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return float(json.loads(out.read_text())["psnr"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="run folder with snapshots/")
    parser.add_argument("--scans", nargs="+", required=True, type=Path, help="prepared test sets of the run's scale")
    parser.add_argument("--jobs", type=int, default=1, help="evaluations at a time (one thread each)")
    args = parser.parse_args()
    snapshots = sorted((args.run / "snapshots").glob("*.pt"))
    if not snapshots:
        raise SystemExit(f"{args.run}: no snapshots/ (train with snapshot_every)")
    scale = int(load_checkpoint(snapshots[0])["scale"])
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        def score(method: Path | str, scan: Path) -> float:
            out = Path(tmp) / f"{Path(str(method)).stem}_{scan.name}.json"
            return _evaluate(str(method), scan, scale, out, 1)

        bicubic = {scan.name: pool.submit(score, "bicubic", scan) for scan in args.scans}
        futures = {(s, scan.name): pool.submit(score, s, scan) for s in snapshots for scan in args.scans}
        base = {name: f.result() for name, f in bicubic.items()}
        rows = []
        for snapshot in snapshots:
            psnr = {scan.name: futures[(snapshot, scan.name)].result() for scan in args.scans}
            gains = {name: round(value - base[name], 3) for name, value in psnr.items()}
            rows.append({"iteration": int(snapshot.stem), "psnr": {k: round(v, 3) for k, v in psnr.items()},
                         "gain": gains, "mean_gain": round(sum(gains.values()) / len(gains), 3)})
    print(json.dumps({"run": str(args.run), "scale": scale, "cpu_bf16": cpu_supports_bf16(),
                      "bicubic": {k: round(v, 3) for k, v in base.items()}, "snapshots": rows}, indent=2))


if __name__ == "__main__":
    main()
