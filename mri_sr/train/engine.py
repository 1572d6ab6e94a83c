"""The training engine: one loop (:func:`run_steps`) for every run, and :func:`train`, a model
config's run on a prepared folder.

The loop knows only a step function, a batch source and a :class:`Budget`; :func:`train` (every
method of a model config: the method picks the step function), through-plane self-training
(:mod:`mri_sr.throughplane.selftrain`) and the MRI feature network (:mod:`mri_sr.train.features`)
are runs of it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from mri_sr import __version__
from mri_sr.checkpoint import generator_payload, load_checkpoint, save_checkpoint, training_payload
from mri_sr.data.dataset import BatchStream, batch_to_device
from mri_sr.data.degradation import from_dict
from mri_sr.data.manifest import check_prepared, load_split, read_prepared
from mri_sr.device import Precision, device_name, pick_device
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_folder, refuse_overwriting_input
from mri_sr.logsetup import progress as progress_bar
from mri_sr.train.distributed import Distributed, barrier, init_distributed, sync_buffers
from mri_sr.train.runfolder import RunLock, check_resumable, check_same_data, data_fingerprint, init_generators
from mri_sr.train.runlog import RunLog, plot_loss_curves
from mri_sr.train.steps import STEPS
from mri_sr.train.trainer import Trainer, network_specs, seed_everything
from mri_sr.train.validate import bicubic_baseline, validate

log = logging.getLogger(__name__)

Step = Callable[[torch.Tensor, torch.Tensor], dict[str, float]]
"""One training iteration on an ``(lr, hr)`` batch (optimisers stepped); returns the logged loss parts."""


@dataclass(frozen=True)
class Budget:
    """When a run stops: after iteration ``iterations``, or once ``seconds`` of wall time have passed
    (the iteration running then finishes); None: no such limit. At least one is set.
    """

    iterations: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.iterations is None and self.seconds is None:
            raise ValueError("a Budget needs iterations or seconds")

    def fraction(self, done: int, elapsed: float) -> float:
        """Part of the run done, in [0, 1] and beyond: by iterations when they are capped, else by time."""
        return done / self.iterations if self.iterations is not None else elapsed / self.seconds

    def spent(self, done: int, elapsed: float) -> bool:
        """Whether a run that has done iteration ``done`` after ``elapsed`` wall seconds stops."""
        return (self.iterations is not None and done >= self.iterations) or \
            (self.seconds is not None and elapsed >= self.seconds)


def run_steps(step: Step, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], budget: Budget, *,
              start: int = 1, elapsed: float = 0.0, before: Callable[[int, float], None] | None = None,
              after: Callable[[int, dict[str, float], float], None] | None = None, desc: str = "train",
              progress: bool = True) -> tuple[int, float]:
    """The training loop: iterations ``start, start + 1, ...`` until ``budget`` is spent.

    Each iteration: ``before(iteration, fraction)`` (learning-rate schedules that follow the
    budget, CPU thread choice), the next batch of ``batches`` (drawn only when the iteration runs),
    ``step(lr, hr)``, then ``after(iteration, parts, seconds)`` (logs, validation, checkpoints).

    Args:
        step: one iteration's update; batches: ``(lr, hr)`` tensors on the step's device.
        budget: iteration cap and/or wall-time limit (``Budget.seconds`` counts from this call).
        start: number of the first iteration (iterations count from 1; a resumed run starts later).
        elapsed: wall seconds already spent (a resumed run), added to the seconds ``after`` sees.
        desc, progress: tqdm bar label, and whether to show it (stderr).

    Returns:
        ``(last, seconds)``: the last iteration done (``start - 1`` when none ran) and the wall
        seconds including ``elapsed``.
    """
    iterator, iteration = iter(batches), start - 1
    began = time.perf_counter()
    by_time = budget.iterations is None
    total = int(round(budget.seconds)) if by_time else budget.iterations
    with progress_bar(total=total, initial=0 if by_time else start - 1, unit="s" if by_time else "it", desc=desc,
                      disable=not progress, mininterval=1, dynamic_ncols=True) as bar:
        while True:
            now = time.perf_counter() - began
            if budget.spent(iteration, now):
                break
            if before is not None:
                before(iteration + 1, budget.fraction(iteration, now))
            batch = next(iterator, None)
            if batch is None:
                break
            parts = step(*batch)
            iteration += 1
            seconds = elapsed + time.perf_counter() - began
            bar.update(int(seconds - elapsed) - bar.n if by_time else 1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in parts.items()}, refresh=False)
            if after is not None:
                after(iteration, parts, seconds)
    return iteration, elapsed + time.perf_counter() - began


@dataclass(frozen=True)
class TrainResult:
    """Where the final generator is, and this process's trained networks (unwrapped)."""

    final: Path
    nets: dict[str, nn.Module]


@dataclass
class _Run:
    """One training run: its trainer, folders, data facts and progress.

    ``data`` is ``{"folder", "fingerprint"}`` of the prepared folder
    (:func:`~mri_sr.train.runfolder.data_fingerprint`), recorded in every checkpoint.
    """

    config: dict[str, Any]
    trainer: Trainer
    prepared: dict[str, Any]  # the data folder's prepare.json
    out_dir: Path
    ddp: Distributed
    data: dict[str, str]
    iteration: int = 0
    best_val_psnr: float = -math.inf
    wall_seconds: float = 0.0

    def payload(self) -> dict[str, Any]:
        """The generator checkpoint (``best.pt``, ``final.pt``) at the current iteration."""
        t = self.trainer
        return {**generator_payload(self.config, t.specs, t.raw_nets, self.prepared, self.iteration, t.precision.mode),
                "data": dict(self.data)}

    def save_state(self) -> None:
        """``last.pt``: the generator payload plus the whole training state."""
        save_checkpoint(training_payload(self.payload(), self.trainer.state_dict(), self.best_val_psnr,
                                         self.wall_seconds), self.out_dir / "last.pt")


def _resume_or_init(run: _Run, init: str | Path | None) -> None:
    """Resume from ``last.pt`` when present; else initialise ``net_g`` from ``init``, if given."""
    last, trainer = run.out_dir / "last.pt", run.trainer
    if last.exists():
        try:
            checkpoint = load_checkpoint(last, map_location=trainer.precision.device)
        except MriSrError as exc:  # e.g. cut short by a crash: say how to go on
            raise MriSrError(f"{exc}; cannot resume from it: move {run.out_dir} aside (or delete it) to start "
                             "afresh, or choose another --out") from None
        check_resumable(checkpoint, run.config, trainer.specs, last)
        check_same_data(checkpoint, run.data["folder"], run.data["fingerprint"], last)
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


def pairs_on_device(setting: str, device: torch.device) -> bool:
    """Whether the model schema's ``train.pairs_on`` (``auto`` | ``workers`` | ``device``) makes
    the training pairs on ``device``: ``auto`` does on CUDA."""
    return setting == "device" or (setting == "auto" and device.type == "cuda")


def training_batches(config: dict[str, Any], items: list[dict[str, Any]], scale: int, trainer: Trainer, start: int,
                     stop: int, rank: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The ``(lr, hr)`` batches of iterations ``start`` to ``stop - 1`` on the trainer's device.

    A :class:`~mri_sr.data.dataset.BatchStream` in the config's DataLoader workers; its pairs are
    made there or on the device as ``train.pairs_on`` says (:func:`pairs_on_device`), and are
    channels-last when the networks are.

    Args:
        config: validated model config; items: the ``train`` split (:func:`~mri_sr.data.manifest.load_split`).
        scale: the prepared data's factor; rank: the process's rank under DDP.
    """
    tc, device = config["train"], trainer.precision.device
    stream = BatchStream(items, tc["batch_size"], tc["lr_patch_size"], scale, tc["seed"], start, stop, rank,
                         augmentation=tc["augmentation"], degradation=tc["random_degradation"],
                         pairs_on_device=pairs_on_device(tc["pairs_on"], device),
                         synthetic_anatomy=tc["synthetic_anatomy"])
    for batch in DataLoader(stream, batch_size=None, num_workers=tc["num_workers"], pin_memory=device.type == "cuda"):
        lr, hr = batch_to_device(batch, device)
        if trainer.channels_last:
            lr, hr = lr.contiguous(memory_format=torch.channels_last), hr.contiguous(memory_format=torch.channels_last)
        yield lr, hr


def train(config: dict[str, Any], data_dir: str | Path, out_dir: str | Path, *, init: str | Path | None = None,
          device: str = "auto", precision: str | None = None) -> TrainResult:
    """Train one model; resume from ``out_dir/last.pt`` when it exists.

    Args:
        config: validated model config (``load_model_config``).
        data_dir: folder written by ``mri-sr prepare`` (train and val splits are used).
        out_dir: run folder: ``last.pt`` (full state), ``best.pt`` (best validation PSNR),
            ``final.pt`` (generator for inference: best for PSNR training, last for GAN stages),
            ``log.jsonl``, ``summary.json``, ``loss_curves.png``, ``snapshots/<iteration>.pt``
            (generators every ``snapshot_every`` iterations, when set), and ``.lock``
            (:class:`~mri_sr.train.runfolder.RunLock`, held while the run is written).
        init: checkpoint whose generator initialises ``net_g`` on a fresh start.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``. Under torchrun each process takes its
            LOCAL_RANK GPU (or CPU with gloo) and a different share of every batch.
        precision: ``auto`` | ``fp32`` | ``bf16`` | ``fp16``; None: the config's ``device.precision``.

    Returns:
        ``final.pt``'s path and the networks as trained in this process.

    Raises:
        MriSrError: one line: ``out_dir`` unusable, in use by another process, or ``data_dir``
            or inside it, ``data_dir`` not prepared, or ``last.pt`` not resumable (another network config or other data).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    check_output_folder(out_dir)
    refuse_overwriting_input(out_dir, (data_dir,))  # a run in a prepared folder goes when it is prepared again
    prepared = read_prepared(data_dir)  # the data is checked before the run folder is made
    check_prepared(data_dir, config["train"]["lr_patch_size"])
    try:
        network_specs(config, int(prepared["scale"]))
    except MriSrError as exc:
        raise MriSrError(f"{data_dir}: {exc}") from None
    torch.set_flush_denormal(True)  # denormal floats (tiny GAN gradients) slow CPU kernels down
    dev = pick_device(device)
    ddp = init_distributed(dev)
    with RunLock(out_dir) if ddp.is_main else nullcontext():
        return _train(config, prepared, data_dir, out_dir, init, dev, precision, ddp)


def _train(config: dict[str, Any], prepared: dict[str, Any], data_dir: Path, out_dir: Path,
           init: str | Path | None, dev: torch.device, precision: str | None, ddp: Distributed) -> TrainResult:
    """:func:`train` once the run folder is this process's; ``prepared``: ``data_dir``'s ``prepare.json``."""
    seed_everything(int(config["train"]["seed"]))
    trainer = Trainer(config, int(prepared["scale"]), Precision.choose(dev, precision or config["device"]["precision"]), ddp,
                      degradation=from_dict(prepared["degradation"]))
    run = _Run(config, trainer, prepared, out_dir, ddp, {"folder": str(data_dir), "fingerprint": data_fingerprint(data_dir)})
    _resume_or_init(run, init)
    method_step, iterations = STEPS[config["method"]], config["train"]["iterations"]
    out_dir.mkdir(parents=True, exist_ok=True)
    runlog = RunLog(out_dir, run.iteration, enabled=ddp.is_main)
    val_items = load_split(data_dir, "val")[: config["validation"]["max_slices"]]
    if ddp.is_main:
        bicubic = bicubic_baseline(val_items, int(prepared["scale"]))
        log.info("validation bicubic PSNR %.3f dB, SSIM %.4f", *bicubic)
    start = run.iteration + 1
    batches = training_batches(config, load_split(data_dir, "train"), int(prepared["scale"]), trainer, start,
                               iterations + 1, ddp.rank)

    def step(lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        parts = method_step(trainer, lr, hr)
        trainer.end_iteration()
        return parts

    def after(iteration: int, parts: dict[str, float], seconds: float) -> None:
        run.iteration, run.wall_seconds = iteration, seconds
        last = iteration == iterations
        if iteration % config["log_every"] == 0 or last:
            runlog.write({"iteration": iteration, "time": round(run.wall_seconds, 3),
                          "learning_rate": trainer.learning_rate, "losses": parts})
        if ddp.is_main and (iteration % config["validation"]["every"] == 0 or last):
            _validate(run, val_items, bicubic, runlog)
        if ddp.is_main and (iteration % config["checkpoint_every"] == 0 or last):
            run.save_state()
        if ddp.is_main and config["snapshot_every"] and iteration % config["snapshot_every"] == 0:
            save_checkpoint(run.payload(), out_dir / "snapshots" / f"{iteration:07d}.pt")
        if iteration % config["checkpoint_every"] == 0:
            barrier(ddp)

    run_steps(step, batches, Budget(iterations), start=start,
              elapsed=run.wall_seconds, after=after, desc=config["model"], progress=ddp.is_main)
    runlog.close()
    sync_buffers(ddp, trainer.raw_nets)
    final = _finish(run, bicubic) if ddp.is_main else out_dir / "final.pt"
    barrier(ddp)
    return TrainResult(final, trainer.raw_nets)
