"""Training speed of the demo's SRResNet with its pairs made in the DataLoader workers or on the device.

The model schema's ``train.pairs_on`` chooses where each batch is augmented and degraded:
``workers`` (one sample at a time, NumPy, in the DataLoader workers) or ``device`` (the workers
crop and draw; the batch is augmented and degraded as tensor operations on the training device).
Both train the demo's SRResNet (``configs/default.yaml``'s ``training.overrides``: network, batch,
patch, DataLoader workers) on the demo's prepared data, side by side in one process: a warm-up,
then ``--rounds`` rounds of ``--iterations`` steps of each path back to back (the order
alternating), so that a busy machine slows both alike; the per-round figures show how far load
moved them. ``precision: auto`` (bf16 autocast on CPUs with avx512_bf16/AMX and on bf16 GPUs).

    python benchmarks/data_path.py                        # prepares the demo's data in a temporary folder
    python benchmarks/data_path.py --data results/data/x4 # the demo's prepared data

Prints JSON: device, CPU flags, torch version and threads, precision, the machine's load average
(1 min) before and after the timed rounds, and per path the timed iterations, iterations/s
(overall and per round) and ``data_wait_share``: the share of the timed wall time spent getting
the next batch (waiting for the workers and, on the device path, making the pairs there); then
the device path's speed relative to the workers': overall, and the median of the rounds' ratios
(each round's two paths measured back to back).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from mri_sr.config import load_config
from mri_sr.data.manifest import load_split
from mri_sr.data.prepare import prepare
from mri_sr.device import Precision, cpu_supports_bf16, device_name, pick_device
from mri_sr.train.config import resolve_models
from mri_sr.train.engine import training_batches
from mri_sr.train.steps import STEPS
from mri_sr.train.trainer import Trainer

PATHS = ("workers", "device")
SCALE = 4


def timed_round(trainer: Trainer, batches, step, iterations: int) -> tuple[float, float]:
    """``iterations`` steps; (wall seconds, seconds spent in ``next(batches)``), synchronised on CUDA."""
    device = trainer.precision.device
    waiting, start = 0.0, time.perf_counter()
    for _ in range(iterations):
        before = time.perf_counter()
        lr, hr = next(batches)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        waiting += time.perf_counter() - before
        step(trainer, lr, hr)
        trainer.end_iteration()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, waiting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="prepared x4 folder (default: prepare the demo's data in a temporary folder)")
    parser.add_argument("--config", default="configs/default.yaml", help="workflow config (its srresnet overrides)")
    parser.add_argument("--iterations", type=int, default=25, help="steps per path and round")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per path first")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.set_flush_denormal(True)
    config = load_config(args.config)
    model = resolve_models(config)["srresnet"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / f"x{SCALE}"
        if not args.data:
            prepare(config, SCALE, data)
        items = load_split(data, "train")
        total = args.warmup + args.rounds * args.iterations
        runs = {}
        for path in PATHS:
            config_path = copy.deepcopy(model)
            config_path["train"]["pairs_on"] = path
            torch.manual_seed(0)
            trainer = Trainer(config_path, SCALE, Precision.choose(device, "auto"))
            batches = training_batches(config_path, items, SCALE, trainer, 1, total + 1)
            runs[path] = {"trainer": trainer, "batches": batches, "wall": 0.0, "waiting": 0.0, "rounds": []}
        step = STEPS[model["method"]]
        for path in PATHS:
            timed_round(runs[path]["trainer"], runs[path]["batches"], step, args.warmup)
        load_before = os.getloadavg()[0]
        for r in range(args.rounds):
            for path in PATHS if r % 2 == 0 else PATHS[::-1]:
                wall, waiting = timed_round(runs[path]["trainer"], runs[path]["batches"], step, args.iterations)
                runs[path]["wall"] += wall
                runs[path]["waiting"] += waiting
                runs[path]["rounds"].append(round(args.iterations / wall, 3))
    load_after = os.getloadavg()[0]
    timed = args.rounds * args.iterations
    tc = model["train"]
    result = {
        "device": device_name(device), "cpu_bf16": cpu_supports_bf16(), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "precision": runs["workers"]["trainer"].precision.mode,
        "model": "srresnet", "batch_size": tc["batch_size"], "lr_patch_size": tc["lr_patch_size"],
        "num_workers": tc["num_workers"], "load_average": [round(load_before, 2), round(load_after, 2)],
        "paths": {path: {"iterations": timed, "iterations_per_s": round(timed / run["wall"], 3),
                         "rounds_iterations_per_s": run["rounds"],
                         "data_wait_share": round(run["waiting"] / run["wall"], 4)} for path, run in runs.items()},
    }
    result["device_over_workers"] = round(runs["workers"]["wall"] / runs["device"]["wall"], 3)
    ratios = [d / w for d, w in zip(runs["device"]["rounds"], runs["workers"]["rounds"])]
    result["device_over_workers_median_of_rounds"] = round(statistics.median(ratios), 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
