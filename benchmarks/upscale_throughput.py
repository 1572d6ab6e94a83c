"""Throughput of volume upscaling: a naive per-slice fp32 loop, the package's path in fp32, and
the package's path with ``precision: auto`` (bf16 where the CPU or GPU has it).

All paths run the same SRResNet x2 (same weights, eval mode) on the same MNI152 template crop,
normalised the same way, on the current device; the script prints one JSON object::

    {"device", "cpu_bf16", "threads", "torch", "network": {...}, "volume": {...},
     "naive": {"seconds_per_volume", "slices_per_second", "peak_memory_mb"},
     "fp32": {...}, "auto": {..., "precision"}, "speedup" (fp32 over naive),
     "auto_speedup_over_fp32", "max_abs_difference" (fp32 vs naive), "auto_vs_fp32_psnr_db"}

The naive loop is what one writes first: per slice, NumPy normalisation, a (1, 1, h, w) tensor,
``torch.no_grad()``, NCHW layout, ``.numpy()`` back. The package's path is
:func:`mri_sr.upscale.upscale_volume` through :class:`mri_sr.inference.Inference`: batches,
``torch.inference_mode``, channels-last layout, and the precision's autocast. Timings are the median of ``--repeats`` alternating runs after one
warm-up run of each, so that a busy machine slows both alike. Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` above what was allocated before; on CPU the peak growth of
the resident set of a fresh child process running the path once after loading its inputs
(sampled every millisecond). Measured figures: BENCHMARKS.md, "Volume upscaling".

Usage::

    python benchmarks/upscale_throughput.py [--crop 96] [--slices 16] [--batch-size 8]
        [--num-feat 64] [--num-block 16] [--repeats 3] [--device auto]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import resource
import statistics
import sys
import threading
import time

import numpy as np
import torch

from mri_sr.data.normalize import fit_percentiles
from mri_sr.resample import imresize
from mri_sr.device import Precision, cpu_supports_bf16, pick_device
from mri_sr.inference import Inference
from mri_sr.io import Volume, load_volume
from mri_sr.nets import build_network
from mri_sr.upscale import upscale_volume

PATHS = ("naive", "fp32", "auto")

PERCENTILES = (0.5, 99.5)


def make_inputs(args: argparse.Namespace) -> tuple[Volume, torch.nn.Module]:
    """The template crop (centre of the brain, axial slices) and the seeded network."""
    template = load_volume("builtin:mni152")
    centre = np.array(template.data.shape) // 2
    half = args.crop // 2
    x0, y0, z0 = centre[0] - half, centre[1] - half, centre[2] - args.slices // 2
    data = np.ascontiguousarray(template.data[x0:x0 + args.crop, y0:y0 + args.crop, z0:z0 + args.slices])
    affine = template.affine.copy()
    affine[:3, 3] = template.affine[:3, :3] @ [x0, y0, z0] + template.affine[:3, 3]
    torch.manual_seed(0)
    net = build_network({"type": "srresnet", "num_feat": args.num_feat, "num_block": args.num_block,
                         "scale": 2, "in_channels": 1})
    return Volume(data, affine, "MNI152 crop"), net.eval()


def naive(volume: Volume, net: torch.nn.Module, device: torch.device) -> np.ndarray:
    """Per-slice fp32 loop along the last axis doing the same job: the baseline."""
    net = net.to(device=device, memory_format=torch.contiguous_format)
    norm = fit_percentiles(volume.data, *PERCENTILES, name="benchmark")
    out = np.empty((volume.data.shape[0] * 2, volume.data.shape[1] * 2, volume.data.shape[2]), dtype=np.float32)
    with torch.no_grad():
        for k in range(volume.data.shape[2]):
            raw = norm.apply(volume.data[:, :, k], clip=False)
            lr = torch.from_numpy(np.clip(raw, 0.0, 1.0))[None, None].to(device)
            sr = net(lr).clamp(0.0, 1.0)[0, 0].cpu().numpy()
            out[:, :, k] = norm.invert(sr + imresize(raw - np.clip(raw, 0.0, 1.0), 2.0))  # keep the extremes
    return out


def package(volume: Volume, net: torch.nn.Module, device: torch.device, batch_size: int, mode: str) -> np.ndarray:
    """The package's path in precision ``mode``."""
    inference = Inference(net, Precision(device, mode), batch_size=batch_size, name="benchmark")
    return upscale_volume(volume, inference, percentiles=PERCENTILES, axis=2, batch_size=batch_size,
                          progress=False).data


def run_path(name: str, volume: Volume, net: torch.nn.Module, device: torch.device, batch_size: int) -> np.ndarray:
    if name == "naive":
        out = naive(volume, net, device)
    else:
        mode = Precision.choose(device, name).mode
        out = package(volume, net, device, batch_size, mode)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out


def _rss_mb() -> float:
    """Current resident set size of this process (Linux ``/proc/self/statm``), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _child_peak(args: argparse.Namespace, name: str, queue: multiprocessing.Queue) -> None:
    """In a fresh process: load inputs, then report the peak growth of the resident set in one run.

    The resident set is sampled every millisecond by a thread; ``ru_maxrss`` alone would not do,
    as loading the template already sets a higher lifetime peak than one run of a small crop.
    """
    torch.set_num_threads(args.threads)
    volume, net = make_inputs(args)
    gc.collect()
    baseline = peak = _rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    run_path(name, volume, net, torch.device("cpu"), args.batch_size)
    done.set()
    sampler.join()
    queue.put(max(peak, _rss_mb()) - baseline)


def peak_memory_mb(args: argparse.Namespace, name: str, volume: Volume, net: torch.nn.Module,
                   device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        run_path(name, volume, net, device, args.batch_size)
        return (torch.cuda.max_memory_allocated(device) - start) / 2**20
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child_peak, args=(args, name, queue))
    child.start()
    peak = queue.get()
    child.join()
    return float(peak)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crop", type=int, default=96, help="in-plane crop of the template, voxels")
    parser.add_argument("--slices", type=int, default=16, help="axial slices of the crop")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-feat", type=int, default=64, help="SRResNet width (64 = default)")
    parser.add_argument("--num-block", type=int, default=16, help="SRResNet residual blocks (16 = default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    volume, net = make_inputs(args)

    outputs = {name: run_path(name, volume, net, device, args.batch_size) for name in PATHS}  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in PATHS}
    for _ in range(args.repeats):
        for name in seconds:
            start = time.perf_counter()
            run_path(name, volume, net, device, args.batch_size)
            seconds[name].append(time.perf_counter() - start)
    count = volume.data.shape[2]
    report = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "cpu_bf16": cpu_supports_bf16(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "network": {"type": "srresnet", "scale": 2, "num_feat": args.num_feat, "num_block": args.num_block,
                    "parameters": sum(p.numel() for p in net.parameters())},
        "volume": {"source": "builtin:mni152 (centre crop)", "shape": list(volume.data.shape), "slice_axis": 2},
        "batch_size": args.batch_size,
        "repeats": args.repeats,
    }
    for name, times in seconds.items():
        median = statistics.median(times)
        report[name] = {"seconds_per_volume": round(median, 4), "slices_per_second": round(count / median, 3),
                        "seconds_all_runs": [round(t, 4) for t in times],
                        "peak_memory_mb": round(peak_memory_mb(args, name, volume, net, device), 1)}
    report["auto"]["precision"] = Precision.choose(device, "auto").mode
    report["speedup"] = round(report["fp32"]["slices_per_second"] / report["naive"]["slices_per_second"], 3)
    report["auto_speedup_over_fp32"] = round(report["auto"]["slices_per_second"] / report["fp32"]["slices_per_second"], 3)
    report["max_abs_difference"] = float(np.abs(outputs["fp32"] - outputs["naive"]).max())
    peak = float(np.percentile(outputs["fp32"], 99.5))  # the 99.5th percentile, as prepare's normalisation
    mse = float(np.mean((outputs["auto"].astype(np.float64) - outputs["fp32"]) ** 2))
    report["auto_vs_fp32_psnr_db"] = round(10 * np.log10(peak**2 / mse), 2) if mse > 0 else float("inf")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
