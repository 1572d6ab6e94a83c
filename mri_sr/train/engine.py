"""The training engine: one loop for every method; the method only picks the step function."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from mri_sr import __version__
from mri_sr.checkpoint import generator_payload, load_checkpoint, save_checkpoint, training_payload
from mri_sr.data.dataset import BatchStream, load_split
from mri_sr.device import Precision, device_name, pick_device
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_folder
from mri_sr.logsetup import progress
from mri_sr.train.distributed import Distributed, barrier, init_distributed, sync_buffers
from mri_sr.train.resume import check_resumable
from mri_sr.train.init import init_generators
from mri_sr.train.runlog import RunLog, plot_loss_curves
from mri_sr.train.steps import STEPS
from mri_sr.train.trainer import Trainer, seed_everything
from mri_sr.train.validate import bicubic_baseline, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the final generator is, and this process's trained networks (unwrapped)."""

    final: Path
    nets: dict[str, nn.Module]


@dataclass
class _Run:
    """One training run: its trainer, folders, data facts and progress."""

    config: dict[str, Any]
    trainer: Trainer
    prepared: dict[str, Any]
    out_dir: Path
    ddp: Distributed
    iteration: int = 0
    best_val_psnr: float = -math.inf
    wall_seconds: float = 0.0

    def payload(self) -> dict[str, Any]:
        """The generator checkpoint (``best.pt``, ``final.pt``) at the current iteration."""
        t = self.trainer
        return generator_payload(self.config, t.specs, t.raw_nets, self.prepared, self.iteration, t.precision.mode)

    def save_state(self) -> None:
        """``last.pt``: the generator payload plus the whole training state."""
        save_checkpoint(training_payload(self.payload(), self.trainer.state_dict(), self.best_val_psnr,
                                         self.wall_seconds), self.out_dir / "last.pt")


def _read_prepared(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "prepare.json"
    if not path.is_file():
        raise MriSrError(f"{data_dir}: not a prepared folder (no prepare.json); run `mri-sr prepare` first")
    return json.loads(path.read_text())


def _resume_or_init(run: _Run, init: str | Path | None) -> None:
    """Resume from ``last.pt`` when present; else initialise ``net_g`` from ``init``, if given."""
    last, trainer = run.out_dir / "last.pt", run.trainer
    if last.exists():
        checkpoint = load_checkpoint(last, map_location=trainer.precision.device)
        check_resumable(checkpoint, run.config, trainer.specs, last)
        trainer.load_state_dict(checkpoint)
        run.iteration, run.best_val_psnr = checkpoint["iteration"], checkpoint["best_val_psnr"]
        run.wall_seconds = checkpoint["wall_seconds"]
        log.info("resuming %s from iteration %d", run.out_dir, run.iteration)
    elif init:
        init_generators(trainer.raw_nets, trainer.specs, init)


def _validate(run: _Run, val_items: list[dict[str, Any]], bicubic: tuple[float, float], runlog: RunLog) -> None:
    """Score the generator on the validation slices; keep ``best.pt`` at the best PSNR."""
    t = run.trainer
    val_psnr, val_ssim = validate(t.raw_nets["net_g"], val_items, t.precision, t.channels_last)
    runlog.write({"iteration": run.iteration, "time": round(run.wall_seconds, 3),
                  "val_psnr": val_psnr, "val_ssim": val_ssim})
    log.info("iteration %d: validation PSNR %.3f dB (bicubic %.3f), SSIM %.4f",
             run.iteration, val_psnr, bicubic[0], val_ssim)
    if val_psnr > run.best_val_psnr:
        run.best_val_psnr = val_psnr
        save_checkpoint(run.payload(), run.out_dir / "best.pt")


def _finish(run: _Run, bicubic: tuple[float, float]) -> Path:
    """Write ``final.pt``, ``summary.json`` and ``loss_curves.png``.

    ``final.pt`` is the best-validation-PSNR generator for PSNR-oriented training, and the last
    one for GAN stages: validation PSNR would pick the least-adversarial snapshot of a GAN.
    """
    config, out_dir = run.config, run.out_dir
    final, choice = out_dir / "final.pt", "best_val_psnr"
    if config["method"] == "psnr" and (out_dir / "best.pt").exists():
        payload = load_checkpoint(out_dir / "best.pt")
        payload.pop("format", None)
    else:
        payload, choice = run.payload(), "last"
    save_checkpoint(payload, final)
    summary = {"model": config["model"], "scale": run.prepared["scale"], "iterations": config["train"]["iterations"],
               "wall_seconds": round(run.wall_seconds, 2), "device": device_name(run.trainer.precision.device),
               "precision": run.trainer.precision.mode, "world_size": run.ddp.world_size,
               "best_val_psnr": run.best_val_psnr, "bicubic_val_psnr": bicubic[0], "bicubic_val_ssim": bicubic[1],
               "final": choice, "final_iteration": payload["iteration"], "version": __version__,
               "perceptual_network": (run.trainer.losses["perceptual"].describe()
                                      if "perceptual" in run.trainer.losses else None)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_loss_curves(out_dir, bicubic[0])
    log.info("%s: final.pt = %s generator (iteration %d); best validation PSNR %.3f dB (bicubic %.3f dB)",
             config["model"], choice, payload["iteration"], run.best_val_psnr, bicubic[0])
    return final


def _batches(run: _Run, data_dir: Path) -> tuple[DataLoader, int]:
    """The training batches from the iteration after the resumed one; the first iteration."""
    tc, scale, start = run.config["train"], int(run.prepared["scale"]), run.iteration + 1
    stream = BatchStream(load_split(data_dir, "train"), tc["batch_size"], tc["lr_patch_size"], scale,
                         tc["seed"], start, tc["iterations"] + 1, run.ddp.rank,
                         augmentation=tc["augmentation"], degradation=tc["random_degradation"])
    device = run.trainer.precision.device
    return DataLoader(stream, batch_size=None, num_workers=tc["num_workers"], pin_memory=device.type == "cuda"), start


def _to_device(run: _Run, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(lr, hr) on the device, channels-last when the networks are."""
    t = run.trainer
    lr, hr = (batch[k].to(t.precision.device, non_blocking=True) for k in ("lr", "hr"))
    if t.channels_last:
        lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
    return lr, hr


def train(config: dict[str, Any], data_dir: str | Path, out_dir: str | Path, *, init: str | Path | None = None,
          device: str = "auto", precision: str | None = None) -> TrainResult:
    """Train one model; resume from ``out_dir/last.pt`` when it exists.

    Args:
        config: validated model config (``load_model_config``).
        data_dir: folder written by ``mri-sr prepare`` (train and val splits are used).
        out_dir: run folder: ``last.pt`` (full state), ``best.pt`` (best validation PSNR),
            ``final.pt`` (generator for inference: best for PSNR training, last for GAN stages),
            ``log.jsonl``, ``summary.json``, ``loss_curves.png``.
        init: checkpoint whose generator initialises ``net_g`` on a fresh start.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``. Under torchrun each process takes its
            LOCAL_RANK GPU (or CPU with gloo) and a different share of every batch.
        precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``; None: the config's ``device.precision``.

    Returns:
        ``final.pt``'s path and the networks as trained in this process.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    check_output_folder(out_dir)
    torch.set_flush_denormal(True)  # denormal floats (tiny GAN gradients) slow CPU kernels up to 100x
    dev = pick_device(device)
    ddp = init_distributed(dev)
    prepared = _read_prepared(data_dir)
    seed_everything(int(config["train"]["seed"]))
    trainer = Trainer(config, int(prepared["scale"]), Precision.choose(dev, precision or config["device"]["precision"]), ddp)
    run = _Run(config, trainer, prepared, out_dir, ddp)
    _resume_or_init(run, init)
    step, iterations = STEPS[config["method"]], config["train"]["iterations"]
    out_dir.mkdir(parents=True, exist_ok=True)
    runlog = RunLog(out_dir, run.iteration, enabled=ddp.is_main)
    val_items = load_split(data_dir, "val")[: config["validation"]["max_slices"]]
    if ddp.is_main:
        bicubic = bicubic_baseline(val_items, int(prepared["scale"]))
        log.info("validation bicubic PSNR %.3f dB, SSIM %.4f", *bicubic)
    loader, start = _batches(run, data_dir)
    started = time.perf_counter() - run.wall_seconds
    bar = progress(total=iterations, initial=start - 1, disable=not ddp.is_main, desc=config["model"],
                   mininterval=1, dynamic_ncols=True)
    for iteration, batch in zip(range(start, iterations + 1), loader):
        parts = step(trainer, *_to_device(run, batch))
        trainer.end_iteration()
        run.iteration, run.wall_seconds = iteration, time.perf_counter() - started
        bar.update(1)
        last = iteration == iterations
        if iteration % config["log_every"] == 0 or last:
            bar.set_postfix({k: f"{v:.3g}" for k, v in parts.items()}, refresh=False)
            runlog.write({"iteration": iteration, "time": round(run.wall_seconds, 3),
                          "learning_rate": trainer.learning_rate, "losses": parts})
        if ddp.is_main and (iteration % config["validation"]["every"] == 0 or last):
            _validate(run, val_items, bicubic, runlog)
        if ddp.is_main and (iteration % config["checkpoint_every"] == 0 or last):
            run.save_state()
        if iteration % config["checkpoint_every"] == 0:
            barrier(ddp)
    bar.close()
    runlog.close()
    sync_buffers(ddp, trainer.raw_nets)
    final = _finish(run, bicubic) if ddp.is_main else out_dir / "final.pt"
    barrier(ddp)
    return TrainResult(final, trainer.raw_nets)
