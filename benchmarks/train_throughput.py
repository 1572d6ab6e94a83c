"""Training throughput per model on the current device: eager fp32 against the fast path.

Both modes run side by side in one process on the same batches (real MNI template patches).
The fast path is bf16/fp16 autocast + channels_last on CUDA (plus torch.compile with
--compile); on CPU it is channels_last (plus torch.compile with --compile).

    python benchmarks/train_throughput.py                      # laptop budgets of configs/default.yaml
    python benchmarks/train_throughput.py --paper --compile    # full-size paper networks

Prints JSON: device, torch version, threads, and per model and mode iterations/s, images/s.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch

from mri_sr.config import load_config
from mri_sr.data.resize import imresize_torch
from mri_sr.io import load_volume
from mri_sr.device import pick_device
from mri_sr.train.device import Distributed, Precision
from mri_sr.train.engine import torch_device_name
from mri_sr.train.plan import resolve_models
from mri_sr.train.setup import build_setup, wrap_networks
from mri_sr.train.steps import STEPS, Trainer


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


def measure(config: dict, scale: int, device: torch.device, fast: bool, compile_: bool, data, warmup: int) -> dict:
    config = copy.deepcopy(config)
    config["device"].update(amp=fast, channels_last=fast, compile=fast and compile_)
    torch.manual_seed(0)
    setup = build_setup(config, scale, device)
    precision = Precision(device, config["device"]["amp"])
    trainer = Trainer(wrap_networks(setup.nets, config, Distributed(), device), setup.losses,
                      dict(config["losses"]["weights"]), setup.opt_g, setup.opt_d, precision)
    step = STEPS[config["method"]]
    memory_format = torch.channels_last if fast else torch.contiguous_format

    def run(lr, hr):
        step(trainer, lr.contiguous(memory_format=memory_format), hr.contiguous(memory_format=memory_format))

    for lr, hr in data[:warmup]:
        run(lr, hr)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for lr, hr in data[warmup:]:
        run(lr, hr)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    iterations = len(data) - warmup
    return {"mode": "fast" if fast else "eager_fp32", "iterations_per_s": round(iterations / seconds, 3),
            "images_per_s": round(iterations * config["train"]["batch_size"] / seconds, 2),
            "autocast": precision.active and str(precision.dtype).replace("torch.", ""),
            "channels_last": config["device"]["channels_last"], "compile": config["device"]["compile"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/default.yaml", help="workflow config (models, overrides)")
    parser.add_argument("--paper", action="store_true", help="ignore the config's overrides: paper-size networks")
    parser.add_argument("--models", nargs="*", help="subset of models (default: all the config trains)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
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
        for fast in (False, True):
            results.append({"model": name, "batch_size": tc["batch_size"], "lr_patch_size": tc["lr_patch_size"],
                            **measure(model, args.scale, device, fast, args.compile, data, args.warmup)})
    print(json.dumps({"device": torch_device_name(device), "torch": torch.__version__, "scale": args.scale,
                      "paper_networks": args.paper, "results": results}, indent=2))


if __name__ == "__main__":
    main()
