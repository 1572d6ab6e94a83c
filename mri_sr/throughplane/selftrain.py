"""Time-bounded self-training of a one-axis generator on pairs from the scan itself."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mri_sr.checkpoint import load_checkpoint
from mri_sr.errors import MriSrError
from mri_sr.logsetup import progress as progress_bar
from mri_sr.throughplane.pairs import PairSampler
from mri_sr.device import Precision

log = logging.getLogger(__name__)

MODELS: dict[str, dict] = {
    # SRResNet body at the thick-slice resolution, sub-pixel shuffle along the slice axis only,
    # residual over bicubic interpolation along that axis (image_skip: starts as interpolation).
    # The default is narrow: on 2 CPU cores the gain over interpolation comes with the number of
    # iterations (about 1000 in 5 min), which a wider network cuts by 2-3x.
    "srresnet": {"type": "srresnet", "in_channels": 1, "num_feat": 16, "num_block": 2, "image_skip": True,
                 "upscale_axes": "h"},
    "srresnet_large": {"type": "srresnet", "in_channels": 1, "num_feat": 32, "num_block": 4, "image_skip": True,
                       "upscale_axes": "h"},
}
"""``--model`` names -> network specs (``scale`` added from the scan)."""

BATCH_SIZE = 16
LEARNING_RATE = 1e-3
ESTIMATE_AFTER = 10  # iterations timed (after warm-up and calibration) for the logged time estimate
CALIBRATION_STEPS = 4  # CPU: steps timed with all threads, then with one (on a busy machine one is faster)


def _choose_threads(threads: list[int], timings: list[float], now: float) -> list[float]:
    """CPU thread calibration: ``CALIBRATION_STEPS`` steps with all threads, as many with one, keep the faster.

    Called three times, before each block of steps and after the last; returns the times seen so
    far. Time-budget runs only (the thread count may change the last bits of the results).
    """
    timings = timings + [now]
    if len(timings) == 1:
        torch.set_num_threads(threads[0])
    elif len(timings) == 2:
        torch.set_num_threads(threads[1])
    else:
        many, one = timings[1] - timings[0], timings[2] - timings[1]
        torch.set_num_threads(threads[0] if many <= one else threads[1])
        log.info("self-training: %d CPU thread(s) (%.2f s per step with %d, %.2f with 1)",
                 torch.get_num_threads(), many / CALIBRATION_STEPS, threads[0], one / CALIBRATION_STEPS)
    return timings


def model_spec(model: str | dict, scale: int) -> dict:
    """The network spec of a :data:`MODELS` name or of a spec (tests: micro nets), with ``scale``.

    Raises:
        MriSrError: unknown model name (the message lists the known ones).
    """
    if isinstance(model, str):
        if model not in MODELS:
            raise MriSrError(f"--model {model}: unknown (known: {', '.join(MODELS)})")
        model = MODELS[model]
    return {**model, "scale": scale}


def load_init(net: nn.Module, checkpoint: str | Path) -> None:
    """Start from a checkpoint's generator: every weight whose name and shape match is copied.

    Raises:
        MriSrError: unreadable checkpoint, or not one weight matches ``net``.
    """
    payload = load_checkpoint(checkpoint)
    try:
        source = payload["nets"]["net_g"]
    except (KeyError, TypeError):
        raise MriSrError(f"{checkpoint}: checkpoint holds no generator ('nets.net_g')") from None
    target = net.state_dict()
    matched = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not matched:
        raise MriSrError(f"{checkpoint}: no weight matches the {type(net).__name__} being trained")
    net.load_state_dict({**target, **matched})
    log.info("%s: started from %d of %d weights", checkpoint, len(matched), len(target))


def _step(net: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, precision: Precision,
          lr: torch.Tensor, hr: torch.Tensor) -> float:
    """One L1 step on a batch; returns the loss."""
    with precision.autocast():
        loss = nn.functional.l1_loss(net(lr).float(), hr)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()


def self_train(net: nn.Module, sampler: PairSampler, *, minutes: float, iterations: int | None = None,
               seed: int = 0, precision: Precision | None = None, progress: bool = True) -> dict:
    """Train ``net`` (in place) with L1 loss and Adam on ``sampler``'s pairs until time or iterations run out.

    The learning rate decays as a half cosine from ``LEARNING_RATE`` to 0 over the iterations when
    ``iterations`` is given (then the result depends only on ``seed``, unless time runs out
    first), else over the time budget.

    Args:
        net: one-axis generator, (B, 1, P, Q) -> (B, 1, S * P, Q).
        sampler: pair source.
        minutes: wall-clock budget for training, minutes (> 0).
        iterations: stop after this many iterations (None: as many as fit in ``minutes``).
        seed: seeds the pair draws and the network's dropout-free training (deterministic).
        precision: device and autocast mode (default: fp32 on the CPU).
        progress: tqdm progress bar on stderr, with the time left.

    Returns:
        ``{"iterations", "seconds", "loss"}``: iterations done, wall seconds, mean L1 of the last 20.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    precision = precision or Precision(torch.device("cpu"))
    device = precision.device
    net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.99))
    scaler = precision.grad_scaler()
    budget = minutes * 60.0
    timings: list[float] = []
    start, done, losses = time.monotonic(), 0, []
    total = iterations if iterations is not None else int(round(budget))
    calibrate = iterations is None and device.type == "cpu" and torch.get_num_threads() > 1
    threads = [torch.get_num_threads(), 1]
    mark, mark_time = (1 + 2 * CALIBRATION_STEPS) if calibrate else 1, start  # time estimate from here
    with progress_bar(total=total, unit="it" if iterations else "s", desc="self-train", disable=not progress) as bar:
        while True:
            elapsed = time.monotonic() - start
            fraction = done / iterations if iterations is not None else elapsed / budget
            if fraction >= 1.0 or elapsed >= budget:
                break
            if calibrate and done in (1, 1 + CALIBRATION_STEPS, 1 + 2 * CALIBRATION_STEPS):  # step 0 warms up
                timings = _choose_threads(threads, timings, time.monotonic())
            for group in optimizer.param_groups:
                group["lr"] = LEARNING_RATE * 0.5 * (1.0 + math.cos(math.pi * fraction))
            lr, hr = (t.to(device) for t in sampler.sample(BATCH_SIZE, rng))
            losses.append(_step(net, optimizer, scaler, precision, lr, hr))
            done += 1
            if done == mark:
                mark_time = time.monotonic()
            elif done == mark + ESTIMATE_AFTER:
                rate = (time.monotonic() - mark_time) / ESTIMATE_AFTER
                left = (iterations - done) * rate if iterations else budget - (time.monotonic() - start)
                log.info("self-training: %.2f s per iteration, about %d iterations, %.1f min left",
                         rate, done + int(left / rate), left / 60.0)
            bar.update(1 if iterations is not None else int(time.monotonic() - start) - bar.n)
            bar.set_postfix(it=done, loss=f"{losses[-1]:.4f}", refresh=False)
    seconds = time.monotonic() - start
    log.info("self-training: %d iterations in %.1f s, L1 %.4f", done, seconds, float(np.mean(losses[-20:] or [0])))
    return {"iterations": done, "seconds": seconds, "loss": float(np.mean(losses[-20:])) if losses else None}
