"""Through-plane self-training: training pairs from the scan's own in-plane slices, and the run
of the training engine on them.

The in-plane slices (the planes that do not contain the slice axis) are fine along both of
their axes. Degrading one of those axes with the slice profile gives an image that looks, along
that axis, like a plane through the thick slices; the network learns to undo it (SMORE, Zhao et
al., IEEE TMI 2021; ECLARE, Remedios et al.). Both in-plane axes are degraded in turn (two
orientations) and every phase of the thick-slice grid is used, so each fine row appears in some
pair at each position within a thick slice.

The run is :func:`mri_sr.train.engine.run_steps` with the PSNR step of a one-generator model
config (L1, Adam), a half-cosine learning rate over the budget, and a time budget as well as an
optional iteration cap; its checkpoint is :func:`mri_sr.checkpoint.generator_payload`'s.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mri_sr.checkpoint import generator_payload
from mri_sr.data.degradation import SliceProfile
from mri_sr.data.normalize import FOREGROUND_LEVEL
from mri_sr.device import Precision
from mri_sr.errors import MriSrError
from mri_sr.train.config import validate_model_config
from mri_sr.train.engine import Budget, run_steps
from mri_sr.train.runfolder import init_generators
from mri_sr.train.steps import psnr_step
from mri_sr.train.trainer import Trainer, seed_everything

log = logging.getLogger(__name__)

MIN_FOREGROUND = 0.2
"""Patches with less foreground than this fraction are used only when too few others are drawn."""


class PairSampler:
    """Random aligned LR/HR patches from in-plane slices.

    Args:
        slices: (n, A, B) float32 in [0, 1]: the in-plane slices, normalised.
        profile: the slice profile (its ``scale`` is the factor ``S``).
        lr_size: (rows, columns) of an LR patch; rows are thick slices, columns fine voxels
            (shrunk to fit small slices).
    """

    def __init__(self, slices: np.ndarray, profile: SliceProfile, lr_size: tuple[int, int] = (16, 48)) -> None:
        self.profile = profile
        scale = profile.scale
        self.hr = [np.ascontiguousarray(slices), np.ascontiguousarray(slices.transpose(0, 2, 1))]
        self.lr = [[profile.degrade_axis(hr, 1, phase) for phase in range(scale)] for hr in self.hr]
        shortest = min(lr.shape[1] for per_phase in self.lr for lr in per_phase)
        narrowest = min(hr.shape[2] for hr in self.hr)
        if shortest < 1:
            raise ValueError(f"in-plane slices {slices.shape[1:]} are shorter than one thick slice")
        self.lr_size = (min(lr_size[0], shortest), min(lr_size[1], narrowest))

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch.

        Args:
            batch_size: number of pairs.
            rng: the random generator (all draws come from it: deterministic for a seed).

        Returns:
            ``(lr, hr)``: (B, 1, P, Q) and (B, 1, S * P, Q) float32 in [0, 1]; HR row ``S k + r``
            is fine row ``r`` of thick slice ``k``. Random flips of both axes.
        """
        scale, (rows, cols) = self.profile.scale, self.lr_size
        candidates = []
        for _ in range(4 * batch_size):
            orient, phase = int(rng.integers(2)), int(rng.integers(scale))
            lr_stack, hr_stack = self.lr[orient][phase], self.hr[orient]
            index = int(rng.integers(hr_stack.shape[0]))
            top = int(rng.integers(lr_stack.shape[1] - rows + 1))
            left = int(rng.integers(hr_stack.shape[2] - cols + 1))
            flips = rng.integers(2, size=2)
            lr = lr_stack[index, top:top + rows, left:left + cols]
            hr = hr_stack[index, phase + scale * top:phase + scale * (top + rows), left:left + cols]
            if flips[0]:
                lr, hr = lr[::-1], hr[::-1]
            if flips[1]:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
            candidates.append((float(np.mean(hr > FOREGROUND_LEVEL)) >= MIN_FOREGROUND, lr, hr))
        chosen = [c for c in candidates if c[0]][:batch_size]
        chosen += [c for c in candidates if not c[0]][:batch_size - len(chosen)]
        lr = torch.from_numpy(np.stack([np.ascontiguousarray(c[1]) for c in chosen]))[:, None]
        hr = torch.from_numpy(np.stack([np.ascontiguousarray(c[2]) for c in chosen]))[:, None]
        return lr, hr


MODELS: dict[str, dict] = {
    # SRResNet body at the thick-slice resolution, sub-pixel shuffle along the slice axis only,
    # residual over bicubic interpolation along that axis (image_skip: starts as interpolation).
    # The default is narrow, for CPUs: the result improves with the number of iterations that fit
    # in the time budget, which a wider network cuts.
    "srresnet": {"type": "srresnet", "in_channels": 1, "num_feat": 16, "num_block": 2, "image_skip": True,
                 "upscale_axes": "h"},
    "srresnet_large": {"type": "srresnet", "in_channels": 1, "num_feat": 32, "num_block": 4, "image_skip": True,
                       "upscale_axes": "h"},
}
"""``--model`` names -> network specs (``scale`` added from the scan)."""

LEARNING_RATE = 1e-3
"""Peak Adam learning rate; it decays as a half cosine to 0 over the budget."""
BETAS = (0.9, 0.99)
ESTIMATE_AFTER = 10
"""Iterations timed (after warm-up and thread calibration) for the logged time estimate."""
CALIBRATION_STEPS = 4
"""CPU, time budget: steps timed with all threads, then as many with one; the faster count is kept."""
PERCENTILES = (0.5, 99.5)
"""Intensity percentiles mapped to [0, 1] before training and application."""


@dataclass(frozen=True)
class ThroughPlaneOptions:
    """Options of one through-plane run (``mri-sr throughplane``).

    Attributes:
        scale: factor ``S`` (None: the slice-to-in-plane spacing ratio; see
            :func:`mri_sr.throughplane.apply.detect`).
        thickness: slice thickness in mm (None: DICOM ``SliceThickness`` for DICOM input, else the
            slice spacing, no gap).
        model: a :data:`MODELS` name, or a network spec (tests: micro nets).
        init: mri-sr checkpoint whose matching generator weights (name and shape) start the training.
        minutes: training time budget, minutes (> 0).
        iterations: iteration cap (reproducible runs; None: as many as fit in ``minutes``).
        batch_size: training pairs per iteration.
        seed: seeds the initial weights and the pair draws.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        precision: autocast of training and application (``auto``: bf16 where the CPU or GPU has it).
        volume: time point of a 4D scan (0-based); series: the series of a DICOM folder holding several.
        save_model: also write the trained generator as an mri-sr checkpoint here (for ``init``;
            it upscales one axis, so ``upscale`` and ``evaluate`` refuse it).
        progress: progress bars on stderr.
    """

    scale: int | None = None
    thickness: float | None = None
    model: str | dict = "srresnet"
    init: str | Path | None = None
    minutes: float = 5.0
    iterations: int | None = None
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    volume: int | None = None
    series: str | None = None
    save_model: str | Path | None = None
    progress: bool = True

    def check(self, name: str) -> None:
        """Raises MriSrError: a budget that allows no iteration, a batch size below 1, an unknown model."""
        if self.minutes <= 0 or (self.iterations is not None and self.iterations < 1):
            raise MriSrError(f"{name}: --minutes must be positive and --iterations at least 1")
        if self.batch_size < 1:
            raise MriSrError(f"{name}: --batch-size must be at least 1")
        if isinstance(self.model, str) and self.model not in MODELS:
            raise MriSrError(f"--model {self.model}: unknown (known: {', '.join(MODELS)})")


def model_config(options: ThroughPlaneOptions) -> dict[str, Any]:
    """The validated model config of a through-plane run: one generator, L1 (``pixel``), Adam.

    ``train.iterations`` is the cap (1 for a time-bounded run until it ends: then the iterations done).
    """
    spec = MODELS[options.model] if isinstance(options.model, str) else options.model
    return validate_model_config({
        "model": "throughplane", "method": "psnr", "networks": {"net_g": dict(spec)},
        "train": {"iterations": options.iterations or 1, "batch_size": options.batch_size,
                  "learning_rate": LEARNING_RATE, "betas": list(BETAS), "seed": options.seed, "num_workers": 0,
                  "augmentation": None, "random_degradation": None},
        "losses": {"weights": {"pixel": 1.0}},
        "device": {"precision": options.precision, "channels_last": False},
    }, name="through-plane model")


class _ThreadChoice:
    """CPU thread calibration of a time-bounded run: ``CALIBRATION_STEPS`` steps with all threads,
    as many with one, then the faster count for the rest. Iteration-capped runs keep the count
    they were given (it may change the last bits of the results)."""

    def __init__(self) -> None:
        self.counts, self.times = [torch.get_num_threads(), 1], []

    def before(self, done: int) -> None:
        """Called before each step with the number of steps done."""
        if done not in (1, 1 + CALIBRATION_STEPS, 1 + 2 * CALIBRATION_STEPS):  # step 0 warms up
            return
        self.times.append(time.perf_counter())
        if len(self.times) < 3:
            torch.set_num_threads(self.counts[len(self.times) - 1])
            return
        many, one = self.times[1] - self.times[0], self.times[2] - self.times[1]
        torch.set_num_threads(self.counts[0] if many <= one else self.counts[1])
        log.info("self-training: %d CPU thread(s) (%.2f s per step with %d, %.2f with 1)",
                 torch.get_num_threads(), many / CALIBRATION_STEPS, self.counts[0], one / CALIBRATION_STEPS)


@dataclass
class SelfTrained:
    """A finished self-training run.

    Attributes:
        trainer: its trainer (``raw_nets["net_g"]``: the one-axis generator, on the run's device).
        config: the run's model config (``train.iterations``: the iterations done).
        iterations, seconds: iterations done and wall seconds; loss: mean L1 of the last 20 (None: none ran).
    """

    trainer: Trainer
    config: dict[str, Any]
    iterations: int
    seconds: float
    loss: float | None

    @property
    def net(self) -> torch.nn.Module:
        return self.trainer.raw_nets["net_g"]

    def payload(self, axis: int, profile: SliceProfile) -> dict[str, Any]:
        """The generator checkpoint: :func:`~mri_sr.checkpoint.generator_payload` of the run (no
        prepared folder: normalisation :data:`PERCENTILES`, degradation the slice profile's
        :meth:`~mri_sr.data.degradation.Degradation.to_dict`), with the scan's slice axis it
        learnt under ``slice_axis``."""
        t = self.trainer
        made = {"scale": profile.scale, "degradation": profile.to_dict(),
                "data": {"normalisation": {"low_percentile": PERCENTILES[0], "high_percentile": PERCENTILES[1]}}}
        return {**generator_payload(self.config, t.specs, t.raw_nets, made, self.iterations, t.precision.mode),
                "slice_axis": axis}


def self_train(sampler: PairSampler, options: ThroughPlaneOptions, precision: Precision | None = None) -> SelfTrained:
    """Build a one-axis generator and train it on ``sampler``'s pairs until time or iterations run out.

    Seeds torch with ``options.seed`` before building the generator (initial weights), starts it
    from ``options.init`` when given, and draws every pair from ``numpy.random.default_rng(seed)``
    in iteration order: the result depends only on the seed when ``options.iterations`` ends the
    run first. The learning rate decays as a half cosine from :data:`LEARNING_RATE` to 0 over the
    iterations when capped, else over the time budget. A time-bounded run on the CPU may change
    torch's thread count (:class:`_ThreadChoice`); the caller restores it.

    Args:
        sampler: pair source; ``sampler.profile.scale`` is the generator's scale.
        options: model, init, minutes, iterations, batch size, seed.
        precision: device and autocast mode (default: fp32 on the CPU).

    Returns:
        The run (:class:`SelfTrained`).

    Raises:
        MriSrError: an unknown model, an unreadable ``init`` or one whose weights do not fit.
    """
    options.check("through-plane")
    precision = precision or Precision(torch.device("cpu"))
    config = model_config(options)
    seed_everything(options.seed)  # the initial weights
    trainer = Trainer(config, sampler.profile.scale, precision)
    if options.init is not None:
        init_generators(trainer.raw_nets, trainer.specs, options.init, partial=True)
    rng = np.random.default_rng(options.seed)
    torch.manual_seed(options.seed)
    budget = Budget(options.iterations, options.minutes * 60.0)
    calibrate = options.iterations is None and precision.device.type == "cpu" and torch.get_num_threads() > 1
    threads, losses = _ThreadChoice(), []
    mark = (1 + 2 * CALIBRATION_STEPS) if calibrate else 1  # the time estimate starts here
    mark_time = time.perf_counter()

    def before(iteration: int, fraction: float) -> None:
        if calibrate:
            threads.before(iteration - 1)
        for group in trainer.opt_g.param_groups:
            group["lr"] = LEARNING_RATE * 0.5 * (1.0 + math.cos(math.pi * fraction))

    def step(lr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        parts = psnr_step(trainer, lr, hr)
        trainer.end_iteration()
        return parts

    def after(done: int, parts: dict[str, float], seconds: float) -> None:
        nonlocal mark_time
        losses.append(parts["pixel"])
        if done == mark:
            mark_time = time.perf_counter()
        elif done == mark + ESTIMATE_AFTER:
            rate = (time.perf_counter() - mark_time) / ESTIMATE_AFTER
            left = (options.iterations - done) * rate if options.iterations else budget.seconds - seconds
            log.info("self-training: %.2f s per iteration, about %d iterations, %.1f min left",
                     rate, done + int(left / rate), left / 60.0)

    device = precision.device
    batches = ((lr.to(device), hr.to(device)) for lr, hr in map(sampler.sample, repeat(options.batch_size), repeat(rng)))
    done, seconds = run_steps(step, batches, budget, before=before, after=after, desc="self-train",
                              progress=options.progress)
    config["train"]["iterations"] = max(done, 1)
    loss = float(np.mean(losses[-20:])) if losses else None
    log.info("self-training: %d iterations in %.1f s, L1 %.4f", done, seconds, loss or 0.0)
    return SelfTrained(trainer, config, done, seconds, loss)
