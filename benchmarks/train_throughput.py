"""Training throughput per model on the current device: fp32 against ``precision: auto``.

Both modes run side by side in one process on the same batches (real MNI template patches),
alternating repeats so that a busy machine slows both alike. ``auto`` is bf16 autocast on CPUs
with avx512_bf16/AMX and on CUDA with bf16 (fp16 + grad scaling on older CUDA), fp32 elsewhere;
channels_last on CUDA as configured (plus torch.compile with --compile).

    python benchmarks/train_throughput.py                      # laptop budgets of configs/default.yaml
    python benchmarks/train_throughput.py --paper --compile    # full-size paper networks

Prints JSON: device, CPU flags, torch version, threads, and per model and mode iterations/s,
images/s, and the speed-up of auto over fp32.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch

from mri_sr.config import load_config
from mri_sr.resample import imresize_torch
from mri_sr.device import Precision, cpu_supports_bf16, device_name, pick_device
from mri_sr.io import load_volume
from mri_sr.train.config import resolve_models
from mri_sr.train.steps import STEPS
from mri_sr.train.trainer import Trainer


def batches(n: int, batch_size: int, lr_patch: int, scale: int, device: torch.device, seed: int = 0):
    """``n`` (lr, hr) batches of axial MNI template patches, LR by MATLAB bicubic."""
    volume = load_volume("builtin:mni152").data
    volume = volume / np.percentile(volume, 99.5)
    rng = np.random.default_rng(seed)
    hr_patch = lr_patch * scale
    out = []
    for _ in range(n):
        patches = []
        for _ in range(batch_size):
            z = rng.integers(60, 130)
            y, x = rng.integers(0, volume.shape[1] - hr_patch), rng.integers(0, volume.shape[0] - hr_patch)
            patches.append(volume[x:x + hr_patch, y:y + hr_patch, z])
        hr = torch.from_numpy(np.clip(np.stack(patches), 0, 1)[:, None].astype(np.float32))
        lr = imresize_torch(hr, scale=1 / scale).clamp(0, 1)
        out.append((lr.to(device), hr.to(device)))
    return out


def build(config: dict, scale: int, device: torch.device, mode: str, compile_: bool) -> Trainer:
    config = copy.deepcopy(config)
    config["device"]["compile"] = compile_
    torch.manual_seed(0)
    return Trainer(config, scale, Precision.choose(device, mode))


def run_steps(trainer: Trainer, step, data) -> float:
    """Seconds for one step per batch of ``data`` (synchronised on CUDA)."""
    device = trainer.precision.device
    memory_format = torch.channels_last if trainer.channels_last else torch.contiguous_format
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for lr, hr in data:
        step(trainer, lr.contiguous(memory_format=memory_format), hr.contiguous(memory_format=memory_format))
        trainer.end_iteration()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure(config: dict, scale: int, device: torch.device, compile_: bool, data, warmup: int,
            repeats: int) -> list[dict]:
    """fp32 and auto on the same batches: warm-up, then ``repeats`` alternating timed rounds."""
    trainers = {mode: build(config, scale, device, mode, compile_) for mode in ("fp32", "auto")}
    step = STEPS[config["method"]]
    for trainer in trainers.values():
        run_steps(trainer, step, data[:warmup])
    seconds = {mode: [] for mode in trainers}
    for _ in range(repeats):
        for mode, trainer in trainers.items():
            seconds[mode].append(run_steps(trainer, step, data[warmup:]))
    iterations, results = len(data) - warmup, []
    for mode, trainer in trainers.items():
        best = min(seconds[mode])
        results.append({"mode": mode, "precision": trainer.precision.mode,
                        "iterations_per_s": round(iterations / best, 3),
                        "images_per_s": round(iterations * config["train"]["batch_size"] / best, 2),
                        "channels_last": trainer.channels_last, "compile": compile_})
    results[1]["speedup_over_fp32"] = round(results[1]["iterations_per_s"] / results[0]["iterations_per_s"], 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml", help="workflow config (models, overrides)")
    parser.add_argument("--paper", action="store_true", help="ignore the config's overrides: paper-size networks")
    parser.add_argument("--models", nargs="*", help="subset of models (default: all the config trains)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed rounds per mode (best kept)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="add torch.compile to the fast path")
    args = parser.parse_args()

    torch.set_flush_denormal(True)
    config = load_config(args.config)
    if args.paper:
        config["training"]["overrides"] = {}
    models = resolve_models(config)
    device = pick_device(args.device)
    results = []
    for name, model in models.items():
        if args.models and name not in args.models:
            continue
        tc = model["train"]
        data = batches(args.warmup + args.iterations, tc["batch_size"], tc["lr_patch_size"], args.scale, device)
        for result in measure(model, args.scale, device, args.compile, data, args.warmup, args.repeats):
            results.append({"model": name, "batch_size": tc["batch_size"], "lr_patch_size": tc["lr_patch_size"],
                            **result})
    print(json.dumps({"device": device_name(device), "cpu_bf16": cpu_supports_bf16(), "torch": torch.__version__,
                      "scale": args.scale,
                      "paper_networks": args.paper, "results": results}, indent=2))


if __name__ == "__main__":
    main()
