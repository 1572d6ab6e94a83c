"""GPU check: run every CUDA path of mri-sr once and print how well each uses the GPU.

Run through ``benchmarks/gpu_check.sh`` (one command, meant for the first GPU a project gets).
Steps, each printing one JSON object on its own line, then a summary object:

``train``
    Each model of ``--config`` (default ``configs/gpu.yaml``: the papers' networks and batches),
    ``--iterations`` steps in ``precision: auto`` (bf16 on a bf16 GPU), without and with
    ``torch.compile``, fed as training feeds it (:func:`mri_sr.train.engine.training_batches`: the
    configured DataLoader workers, the pairs made where the model config's ``train.pairs_on`` says,
    on the GPU by default). Reports where the pairs were made (``pairs_on``), iterations/s,
    ``data_wait_share`` (fraction of the timed wall time spent getting the next batch: waiting for
    the workers, and making the pairs on the device), peak device memory (MiB), FLOP per
    iteration (counted once with :class:`torch.utils.flop_counter.FlopCounterMode`) and the
    achieved TFLOP/s against the GPU's dense bf16 peak (:data:`DENSE_BF16_TFLOPS`, or the
    ``GPU_PEAK_BF16_TFLOPS`` environment variable).
``features``
    ``mri-sr features`` (the MRI feature network), when a model's perceptual term uses it, or
    when the VGG19 file is missing (those models then use the MRI features; the result says so).
``ddp``
    ``mri-sr train`` of the first model trained with the ``psnr`` step under ``torchrun`` on every visible GPU (two gloo
    processes on a CPU).
``upscale``
    ``mri-sr upscale`` of a ``--cube``-voxel cube (the MNI template, zero-padded) with the DDP
    run's generator.
``evaluate``
    ``mri-sr evaluate`` of that generator on the prepared test split.

``--small``: the same steps at tiny sizes (``configs/default.yaml``'s laptop networks, one model
per training step unless ``--models`` says otherwise, batch 2, a few iterations, no DataLoader workers, a 32-voxel cube, torch.compile only with ``--compile``)
on whatever device there is: a check that the script runs to its end before a GPU is spent on it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from mri_sr.config import load_config, validate_config
from mri_sr.data.degradation import from_dict
from mri_sr.data.manifest import load_split, read_prepared
from mri_sr.data.prepare import prepare
from mri_sr.device import Precision, device_name, pick_device
from mri_sr.errors import MriSrError
from mri_sr.io import load_volume
from mri_sr.train.config import check_vgg19_weights, perceptual_network, resolve_models, set_feature_checkpoint
from mri_sr.train.engine import pairs_on_device, training_batches
from mri_sr.train.steps import STEPS
from mri_sr.train.trainer import Trainer

DENSE_BF16_TFLOPS = (
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("B200", 2250.0),
    ("A100", 312.0), ("L40S", 362.1), ("L40", 181.0), ("L4", 121.0), ("A10", 125.0), ("RTX 4090", 165.2),
)
"""(substring of the CUDA device name, dense bf16 tensor-core peak in TFLOP/s), first match wins."""

CLI = [sys.executable, "-m", "mri_sr.cli"]


def peak_tflops(device: torch.device) -> float | None:
    """The device's dense bf16 peak in TFLOP/s; None on a CPU or an unknown GPU."""
    if "GPU_PEAK_BF16_TFLOPS" in os.environ:
        return float(os.environ["GPU_PEAK_BF16_TFLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in DENSE_BF16_TFLOPS if key in name), None)


def peak_memory_mib(device: torch.device) -> float:
    """Peak allocated device memory since the last reset (CUDA), or the process's peak RSS (CPU)."""
    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def emit(record: dict[str, Any]) -> dict[str, Any]:
    print(json.dumps(record), flush=True)
    return record


def train_speed(model: dict[str, Any], data_dir: Path, scale: int, device: torch.device, compile_: bool,
                iterations: int, warmup: int, flops: float | None) -> tuple[dict[str, Any], float]:
    """Time ``iterations`` training steps after ``warmup`` (compilation happens there).

    Returns:
        The record (where the pairs were made, iterations/s, the share of wall time spent getting
        the next batch, peak memory in MiB, FLOP per iteration and achieved TFLOP/s) and the FLOP
        per iteration (counted here unless given).
    """
    config = copy.deepcopy(model)
    config["device"]["compile"] = compile_
    torch.manual_seed(0)
    trainer = Trainer(config, scale, Precision.choose(device, "auto"),
                      degradation=from_dict(read_prepared(data_dir)["degradation"]))
    tc, step = config["train"], STEPS[config["method"]]
    batches = training_batches(config, load_split(data_dir, "train"), scale, trainer, 1, warmup + iterations + 2)
    for _ in range(warmup):
        step(trainer, *next(batches))
        trainer.end_iteration()
    if flops is None:
        batch = next(batches)
        with FlopCounterMode(display=False) as counter:
            step(trainer, *batch)
            trainer.end_iteration()
        flops = float(counter.get_total_flops())
    else:
        next(batches)
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    waiting, start = 0.0, time.perf_counter()
    for _ in range(iterations):
        before = time.perf_counter()
        batch = next(batches)
        synchronize(device)  # the pairs made on the device count as waiting for data
        waiting += time.perf_counter() - before
        step(trainer, *batch)
        trainer.end_iteration()
    synchronize(device)
    wall = time.perf_counter() - start
    peak = peak_tflops(device)
    achieved = flops * iterations / wall / 1e12
    return {"pairs_on": "device" if pairs_on_device(tc["pairs_on"], device) else "workers",
            "precision": trainer.precision.mode, "compile": compile_, "batch_size": tc["batch_size"],
            "lr_patch_size": tc["lr_patch_size"], "iterations": iterations,
            "iterations_per_s": round(iterations / wall, 3), "data_wait_share": round(waiting / wall, 4),
            "peak_memory_mib": peak_memory_mib(device), "gflop_per_iteration": round(flops / 1e9, 3),
            "achieved_tflops": round(achieved, 3),
            "share_of_dense_bf16_peak": round(achieved / peak, 4) if peak else None}, flops


def run_cli(*args: str, env: dict[str, str] | None = None, launcher: list[str] | None = None) -> float:
    """Run ``mri-sr ARGS`` (under ``launcher`` when given, e.g. torchrun); its wall seconds."""
    start = time.perf_counter()
    command = (launcher + ["-m", "mri_sr.cli"] if launcher else CLI) + [str(a) for a in args]
    result = subprocess.run(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"gpu_check: {' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return time.perf_counter() - start


def cube_volume(path: Path, size: int) -> None:
    """The MNI template in a ``size``-voxel cube (centre-cropped or zero-padded), 1 mm."""
    data = load_volume("builtin:mni152").data
    cube = np.zeros((size,) * 3, np.float32)
    src = [slice(max(0, (n - size) // 2), max(0, (n - size) // 2) + min(n, size)) for n in data.shape]
    dst = [slice(max(0, (size - n) // 2), max(0, (size - n) // 2) + min(n, size)) for n in data.shape]
    cube[tuple(dst)] = data[tuple(src)]
    nib.save(nib.Nifti1Image(cube, np.eye(4)), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes: a check that every step runs (CPU)")
    parser.add_argument("--config", help="workflow config (default: configs/gpu.yaml; --small: configs/default.yaml)")
    parser.add_argument("--models", nargs="*", help="subset of the config's models (default: all, with pre-training)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--iterations", type=int, help="timed training steps per model and mode (default 200; --small 2)")
    parser.add_argument("--cube", type=int, help="side of the upscaled cube in voxels (default 256; --small 32)")
    parser.add_argument("--compile", action="store_true", help="--small: also time torch.compile (slow on a CPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", help="folder for the prepared data and runs (default: a temporary folder)")
    args = parser.parse_args()
    small = args.small
    iterations = args.iterations or (2 if small else 200)
    warmup = 1 if small else 10
    cube = args.cube or (32 if small else 256)
    device = pick_device(args.device)
    torch.set_flush_denormal(True)
    config = load_config(args.config or ("configs/default.yaml" if small else "configs/gpu.yaml"))
    config["data"]["sources"] = [{"path": "builtin:mni152"}]
    config = validate_config(config, name="gpu check config")
    models = {n: m for n, m in resolve_models(config).items() if not args.models or n in args.models}
    if small and not args.models:  # one model per training step (psnr, gan, cycle...)
        models = {m["method"]: (n, m) for n, m in reversed(models.items())}
        models = dict(sorted(models.values()))
    if small:
        for model in models.values():
            model["train"].update(batch_size=2, num_workers=0)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        data_dir = work / f"x{args.scale}"
        if not data_dir.exists():
            prepare(config, args.scale, data_dir)
        emit({"step": "prepare", "device": device_name(device), "torch": torch.__version__,
              "dense_bf16_peak_tflops": peak_tflops(device), "small": small, "seconds": round(time.perf_counter() - began, 1)})

        try:
            vgg_missing = False
            check_vgg19_weights(models)
        except MriSrError as error:
            vgg_missing = str(error)
        needs_features = vgg_missing or any(perceptual_network(m) == "mri" for m in models.values())
        features = work / "features.pt"
        if needs_features:
            seconds = run_cli("features", "--data", data_dir, "--out", features, "--iterations",
                              2 if small else 200, "--batch-size", 2 if small else 16, "--device", args.device)
            emit({"step": "features", "seconds": round(seconds, 1), "vgg19_missing": vgg_missing})

        results = []
        for name, model in models.items():
            note = None
            if vgg_missing and perceptual_network(model) == "vgg19":
                model["losses"].setdefault("options", {}).setdefault("perceptual", {})["network"] = "mri"
                note = "VGG19 file missing: perceptual term on the MRI feature network"
            set_feature_checkpoint(model, features)
            flops = None
            for compile_ in (False, True) if not small or args.compile else (False,):
                record, flops = train_speed(model, data_dir, args.scale, device, compile_, iterations, warmup, flops)
                results.append(emit({"step": "train", "model": name, **record, "note": note}))

        first = next((n for n, m in models.items() if m["method"] == "psnr"), next(iter(models)))
        ddp_model = copy.deepcopy(models[first])
        ddp_model["train"]["iterations"] = iterations + warmup
        ddp_model["validation"]["every"] = ddp_model["checkpoint_every"] = iterations + warmup
        ddp_model["log_every"] = 1 if small else 10
        (work / "ddp.yaml").write_text(yaml.safe_dump(ddp_model))
        processes = torch.cuda.device_count() if device.type == "cuda" else 2
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        seconds = run_cli("train", "--config", work / "ddp.yaml", "--data", data_dir, "--out", work / "ddp",
                          "--device", args.device, launcher=launcher, env={"OMP_NUM_THREADS": "1"} if small else None)
        log = [json.loads(line) for line in (work / "ddp" / "log.jsonl").open() if '"losses"' in line]
        after_warmup = next(r for r in log if r["iteration"] >= warmup)
        span = log[-1]["time"] - after_warmup["time"]
        speed = (log[-1]["iteration"] - after_warmup["iteration"]) / span if span > 0 else None
        emit({"step": "ddp", "model": first, "processes": processes, "iterations": log[-1]["iteration"],
              "iterations_per_s_after_warmup": round(speed, 3) if speed else None, "seconds": round(seconds, 1)})

        checkpoint = work / "ddp" / "final.pt"
        cube_volume(work / "cube.nii.gz", cube)
        seconds = run_cli("upscale", work / "cube.nii.gz", work / "cube-sr.nii", "--checkpoint", checkpoint,
                          "--device", args.device, "--batch-size", 16)
        shape = nib.load(work / "cube-sr.nii").shape
        emit({"step": "upscale", "input": [cube] * 3, "output": list(shape), "seconds": round(seconds, 1),
              "slices_per_s": round(cube / seconds, 2)})

        seconds = run_cli("evaluate", "--method", checkpoint, "--dataset", data_dir, "--scale", args.scale,
                          "--out", work / "metrics.json", "--device", args.device, "--mask")
        metrics = json.loads((work / "metrics.json").read_text())
        emit({"step": "evaluate", "images": len(metrics.get("images", [])), "seconds": round(seconds, 1)})

    emit({"step": "summary", "device": device_name(device), "small": small, "models": list(models),
          "train_runs": len(results), "total_seconds": round(time.perf_counter() - began, 1)})


if __name__ == "__main__":
    main()
