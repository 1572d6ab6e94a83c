"""The training engine: one loop for every method; the method only picks the step function."""

from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from mri_sr import __version__
from mri_sr.checkpoint import load_checkpoint, save_checkpoint
from mri_sr.data.dataset import BatchStream, load_split
from mri_sr.data.online import degrade_batch
from mri_sr.errors import MriSrError
from mri_sr.device import pick_device
from mri_sr.train.device import Precision, barrier, init_distributed, sync_buffers
from mri_sr.train.runlog import RunLog, plot_loss_curves
from mri_sr.train.setup import build_setup, wrap_networks
from mri_sr.train.steps import STEPS, Trainer
from mri_sr.train.validate import bicubic_baseline, validate

log = logging.getLogger(__name__)


def _rng_state() -> dict[str, Any]:
    py = random.getstate()
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": [py[0], list(py[1]), py[2]],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]]}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    np.random.set_state((state["numpy"][0], state["numpy"][1].numpy().astype(np.uint32), *state["numpy"][2:]))


def _read_prepared(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "prepare.json"
    if not path.is_file():
        raise MriSrError(f"{data_dir}: not a prepared folder (no prepare.json); run `mri-sr prepare` first")
    return json.loads(path.read_text())


def _generator_payload(config, specs, raw_nets, prepared, iteration) -> dict[str, Any]:
    """What inference needs: the SR generator and how its inputs were made."""
    data = prepared["data"]
    return {
        "version": __version__, "model": config["model"], "iteration": iteration,
        "scale": prepared["scale"], "in_channels": 1, "net_g_spec": specs["net_g"],
        "nets": {"net_g": raw_nets["net_g"].state_dict()},
        "normalisation": dict(data["normalisation"]), "degradation": prepared["degradation"],
        "config": config,
    }


@dataclass(frozen=True)
class TrainResult:
    """Where the final generator is, and this process's trained networks (unwrapped)."""

    final: Path
    nets: dict[str, nn.Module]


def train(config: dict[str, Any], data_dir: str | Path, out_dir: str | Path, *,
          init: str | Path | None = None, device: str = "auto") -> TrainResult:
    """Train one model; resume from ``out_dir/last.pt`` when it exists.

    Args:
        config: validated model config (``load_model_config``).
        data_dir: folder written by ``mri-sr prepare`` (train and val splits are used).
        out_dir: run folder: ``last.pt`` (full state), ``best.pt`` (best validation PSNR),
            ``final.pt`` (generator for inference), ``log.jsonl``, ``summary.json``,
            ``loss_curves.png``.
        init: checkpoint whose generator initialises ``net_g`` on a fresh start.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``. Under torchrun each process takes its
            LOCAL_RANK GPU (or CPU with gloo) and a different share of every batch.

    Returns:
        ``final.pt``'s path and the networks as trained in this process.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    # Denormal floats (tiny GAN gradients) slow CPU kernels by up to 100x; flush them to zero.
    torch.set_flush_denormal(True)
    dev = pick_device(device)
    ddp = init_distributed(dev)
    prepared = _read_prepared(data_dir)
    scale, tc, seed = int(prepared["scale"]), config["train"], int(config["train"]["seed"])
    precision = Precision(dev, config["device"]["amp"])
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)

    setup = build_setup(config, scale, dev)
    raw_nets, specs, opt_g, opt_d, schedulers = setup.nets, setup.specs, setup.opt_g, setup.opt_d, setup.schedulers

    state = {"iteration": 0, "best_val_psnr": -math.inf, "wall_seconds": 0.0}
    last = out_dir / "last.pt"
    if last.exists():
        checkpoint = load_checkpoint(last, map_location=dev)
        for name, net in raw_nets.items():
            net.load_state_dict(checkpoint["nets"][name])
        opt_g.load_state_dict(checkpoint["optimizers"]["g"])
        if opt_d:
            opt_d.load_state_dict(checkpoint["optimizers"]["d"])
        for key, sched in schedulers.items():
            sched.load_state_dict(checkpoint["schedulers"][key])
        _set_rng_state(checkpoint["rng"])
        state = {k: checkpoint[k] for k in state}
        resumed_scaler = checkpoint.get("scaler")
        log.info("resuming %s from iteration %d", out_dir, state["iteration"])
    else:
        resumed_scaler = None
        if init:
            source = load_checkpoint(init)
            if source.get("net_g_spec") != specs["net_g"]:
                raise MriSrError(f"{init}: its generator {source.get('net_g_spec')} differs from {specs['net_g']}")
            raw_nets["net_g"].load_state_dict(source["nets"]["net_g"])

    nets = wrap_networks(raw_nets, config, ddp, dev)
    trainer = Trainer(nets, setup.losses, dict(config["losses"]["weights"]), opt_g, opt_d, precision)
    if resumed_scaler:
        trainer.scaler.load_state_dict(resumed_scaler)
    step = STEPS[config["method"]]

    out_dir.mkdir(parents=True, exist_ok=True)
    runlog = RunLog(out_dir, state["iteration"], enabled=ddp.is_main)
    val_items = load_split(data_dir, "val")[: config["validation"]["max_slices"]]
    if ddp.is_main:
        bicubic = bicubic_baseline(val_items, scale)
        log.info("validation bicubic PSNR %.3f dB, SSIM %.4f", *bicubic)

    def save_state(path: Path, iteration: int) -> None:
        save_checkpoint({
            **_generator_payload(config, specs, raw_nets, prepared, iteration),
            "nets": {name: net.state_dict() for name, net in raw_nets.items()},
            "optimizers": {"g": opt_g.state_dict(), **({"d": opt_d.state_dict()} if opt_d else {})},
            "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
            "scaler": trainer.scaler.state_dict(), "rng": _rng_state(),
            "best_val_psnr": state["best_val_psnr"], "wall_seconds": state["wall_seconds"],
        }, path)

    iterations, start = tc["iterations"], state["iteration"] + 1
    stream = BatchStream(load_split(data_dir, "train"), tc["batch_size"], tc["lr_patch_size"], scale,
                         seed, start, iterations + 1, ddp.rank,
                         augmentation=tc["augmentation"], degradation=tc["random_degradation"])
    loader = DataLoader(stream, batch_size=None, num_workers=tc["num_workers"], pin_memory=dev.type == "cuda")
    online = tc["online_degradation"]
    started = time.perf_counter() - state["wall_seconds"]
    bar = tqdm(total=iterations, initial=start - 1, disable=not ddp.is_main, desc=config["model"],
               mininterval=1 if sys.stderr.isatty() else 30, dynamic_ncols=True)
    for iteration, batch in zip(range(start, iterations + 1), loader):
        lr, hr = (batch[k].to(dev, non_blocking=True) for k in ("lr", "hr"))
        if online:
            generator = torch.Generator().manual_seed(seed * 1_000_003 + iteration * 97 + ddp.rank)
            lr = degrade_batch(hr, scale, tuple(online["blur_sigma"]), tuple(online["noise_sigma"]), generator)
        if dev.type == "cuda" and config["device"]["channels_last"]:
            lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
        parts = step(trainer, lr, hr)
        for sched in schedulers.values():
            sched.step()
        state["iteration"], state["wall_seconds"] = iteration, time.perf_counter() - started
        bar.update(1)
        if iteration % config["log_every"] == 0 or iteration == iterations:
            bar.set_postfix({k: f"{v:.3g}" for k, v in parts.items()}, refresh=False)
            runlog.write({"iteration": iteration, "time": round(state["wall_seconds"], 3),
                          "learning_rate": opt_g.param_groups[0]["lr"], "losses": parts})
        if ddp.is_main and (iteration % config["validation"]["every"] == 0 or iteration == iterations):
            val_psnr, val_ssim = validate(raw_nets["net_g"], val_items, scale, dev, precision)
            runlog.write({"iteration": iteration, "time": round(state["wall_seconds"], 3),
                          "val_psnr": val_psnr, "val_ssim": val_ssim})
            log.info("iteration %d: validation PSNR %.3f dB (bicubic %.3f), SSIM %.4f",
                     iteration, val_psnr, bicubic[0], val_ssim)
            if val_psnr > state["best_val_psnr"]:
                state["best_val_psnr"] = val_psnr
                save_checkpoint(_generator_payload(config, specs, raw_nets, prepared, iteration), out_dir / "best.pt")
        if ddp.is_main and (iteration % config["checkpoint_every"] == 0 or iteration == iterations):
            save_state(last, iteration)
        if iteration % config["checkpoint_every"] == 0:
            barrier(ddp)
    bar.close()
    runlog.close()
    sync_buffers(ddp, raw_nets)

    final = out_dir / "final.pt"
    if ddp.is_main:
        best = load_checkpoint(out_dir / "best.pt") if (out_dir / "best.pt").exists() else \
            _generator_payload(config, specs, raw_nets, prepared, state["iteration"])
        best.pop("format", None)
        save_checkpoint(best, final)
        summary = {"model": config["model"], "scale": scale, "iterations": iterations,
                   "wall_seconds": round(state["wall_seconds"], 2), "device": torch_device_name(dev),
                   "world_size": ddp.world_size, "best_val_psnr": state["best_val_psnr"],
                   "bicubic_val_psnr": bicubic[0], "bicubic_val_ssim": bicubic[1],
                   "best_iteration": best["iteration"], "version": __version__}
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot_loss_curves(out_dir)
        log.info("%s: best validation PSNR %.3f dB at iteration %d (bicubic %.3f dB); %s",
                 config["model"], state["best_val_psnr"], best["iteration"], bicubic[0], final)
    barrier(ddp)
    return TrainResult(final, raw_nets)


def torch_device_name(dev: torch.device) -> str:
    """Readable device name for reports, e.g. ``cpu (2 threads)`` or ``NVIDIA H100``."""
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({torch.get_num_threads()} threads)"
