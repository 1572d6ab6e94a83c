"""Training of the MRI feature network (:mod:`mri_sr.losses.mri_features`) on prepared HR slices.

Self-supervised, masked-denoising autoencoding: each HR training patch is corrupted by Rician-like
Gaussian noise of a random level and by random blocks replaced with the patch mean, and the network
learns to restore the clean patch (L1). Restoring hidden blocks needs anatomical context (edges,
tissue boundaries, folds) and removing noise needs to tell structure from noise, which is what a
perceptual loss for SR should compare; a contrastive encoder would instead learn features invariant
to its augmentations (blur, noise, intensity), the very differences SR must see. The result is a
pure function of (data, seed, settings): batches and corruptions come from seeded generators.
The updates run in the training engine's loop (:func:`mri_sr.train.engine.run_steps`).
"""

from __future__ import annotations

import logging
import math
from itertools import count
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mri_sr import __version__
from mri_sr.checkpoint import save_weights
from mri_sr.data.manifest import load_split
from mri_sr.resample import imresize_torch
from mri_sr.device import Precision, pick_device
from mri_sr.errors import MriSrError
from mri_sr.fsutil import check_output_file, refuse_overwriting_input
from mri_sr.losses.mri_features import (
    FORMAT,
    MRI_LAYER_NAMES,
    MRIFeatureNet,
    encoder_features,
)
from mri_sr.train.engine import Budget, run_steps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeatureSettings:
    """Settings of one feature-network training run.

    Attributes:
        iterations: Adam updates; batch_size: patches per update; patch_size: HR patch side in
            pixels (a multiple of 4); num_feat: channels of the first encoder block;
        learning_rate: Adam step size; seed: seeds initial weights, batches and corruptions;
        noise_sigma: maximum std of the added noise (normalised intensities); mask_ratio: fraction
            of mask_block x mask_block blocks hidden; calibration_slices: training slices used
            to calibrate the feature scales.
    """

    iterations: int = 300
    batch_size: int = 16
    patch_size: int = 48
    num_feat: int = 16
    learning_rate: float = 1.0e-3
    seed: int = 0
    noise_sigma: float = 0.1
    mask_ratio: float = 0.25
    mask_block: int = 8
    calibration_slices: int = 32


def _batch(hr: list[np.ndarray], settings: FeatureSettings, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrupted, clean) patches of one iteration, each (B, 1, P, P) float32; clean in [0, 1]."""
    s, p = settings, settings.patch_size
    rng = np.random.default_rng([s.seed, iteration])
    patches = []
    for j in rng.integers(len(hr), size=s.batch_size):
        image = hr[j][0]
        top, left = rng.integers(image.shape[0] - p + 1), rng.integers(image.shape[1] - p + 1)
        patch = image[top:top + p, left:left + p]
        patch = patch[::-1] if rng.random() < 0.5 else patch
        patches.append(np.rot90(patch, k=int(rng.integers(4))).copy())
    clean = torch.from_numpy(np.stack(patches)[:, None].astype(np.float32))
    sigma = torch.from_numpy(rng.uniform(0, s.noise_sigma, size=(s.batch_size, 1, 1, 1)).astype(np.float32))
    noisy = clean + sigma * torch.from_numpy(rng.standard_normal(clean.shape).astype(np.float32))
    blocks = p // s.mask_block
    hidden = torch.from_numpy(rng.random((s.batch_size, 1, blocks, blocks)) < s.mask_ratio)
    hidden = hidden.repeat_interleave(s.mask_block, 2).repeat_interleave(s.mask_block, 3)
    fill = clean.mean(dim=(2, 3), keepdim=True).expand_as(clean)
    return torch.where(hidden, fill, noisy), clean


@torch.no_grad()
def calibrate(net: MRIFeatureNet, items: list[dict[str, Any]], scale: int) -> tuple[dict[str, float], float]:
    """Per-layer factors that make feature MSE equal pixel MSE for bicubic-upscaled LR vs HR.

    Args:
        net: the trained network; items: :func:`load_split` slices (``lr``, ``hr``); scale: SR factor.

    Returns:
        ``({layer: sqrt(pixel MSE / feature MSE)}, pixel MSE)``.
    """
    sums = dict.fromkeys(MRI_LAYER_NAMES, 0.0)
    pixel = 0.0
    for item in items:
        hr = torch.from_numpy(item["hr"])[None]
        bicubic = imresize_torch(torch.from_numpy(item["lr"])[None], scale=scale).clamp(0, 1)
        pixel += F.mse_loss(bicubic, hr).item() / len(items)
        feats_sr, feats_hr = encoder_features(net.encoder, bicubic), encoder_features(net.encoder, hr)
        for name in MRI_LAYER_NAMES:
            sums[name] += F.mse_loss(feats_sr[name], feats_hr[name]).item() / len(items)
    if not pixel > 0:
        raise MriSrError("feature calibration: bicubic upscaling reproduces HR exactly; nothing to calibrate on")
    return {name: math.sqrt(pixel / value) if value > 0 else 1.0 for name, value in sums.items()}, pixel


def train_features(data_dir: str | Path, out: str | Path, settings: FeatureSettings = FeatureSettings(),
                   device: str = "auto", precision: str = "auto") -> dict[str, Any]:
    """Train the MRI feature network on a prepared folder's training HR slices; write ``out``.

    Args:
        data_dir: folder written by ``mri-sr prepare`` (its ``train`` split).
        out: checkpoint (``format``, ``num_feat``, ``state_dict``, ``feature_scales``,
            ``calibration``, ``settings``, ``final_loss``, ``seconds``), written atomically.
        settings: see :class:`FeatureSettings`.
        device, precision: as ``mri-sr train`` (:mod:`mri_sr.device`).

    Returns:
        The checkpoint's plain values (everything but ``state_dict``).

    Raises:
        MriSrError: not a prepared folder, slices smaller than the patch, or an ``out`` that
            cannot be written or would replace, or lie inside, ``data_dir``.
    """
    data_dir = Path(data_dir)
    check_output_file(out)
    refuse_overwriting_input(out, (data_dir,))
    if settings.patch_size % 4 or settings.patch_size % settings.mask_block:
        raise MriSrError(f"feature patch_size {settings.patch_size}: must be a multiple of 4 and of mask_block")
    items = load_split(data_dir, "train")
    hr = [item["hr"] for item in items]
    if min(min(h.shape[-2:]) for h in hr) < settings.patch_size:
        raise MriSrError(f"{data_dir}: slices smaller than the {settings.patch_size}-pixel feature patch")
    prec = Precision.choose(pick_device(device), precision)
    torch.manual_seed(settings.seed)
    net = MRIFeatureNet(settings.num_feat).to(prec.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)

    def step(corrupted: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
        with prec.autocast():
            loss = F.l1_loss(net(corrupted).float(), clean)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"l1": loss.item()}

    def after(iteration: int, parts: dict[str, float], seconds: float) -> None:
        if iteration % 50 == 0 or iteration == settings.iterations:
            log.info("features iteration %d: L1 %.5f", iteration, parts["l1"])
        final["loss"], final["seconds"] = parts["l1"], seconds

    batches = (tuple(t.to(prec.device) for t in _batch(hr, settings, iteration)) for iteration in count(1))
    final = {"loss": 0.0, "seconds": 0.0}
    run_steps(step, batches, Budget(settings.iterations), after=after, desc="features", progress=False)
    net = net.float().cpu().eval()
    scale = hr[0].shape[-1] // items[0]["lr"].shape[-1]
    scales, pixel_mse = calibrate(net, items[: settings.calibration_slices], scale)
    info = {"format": FORMAT, "version": __version__, "num_feat": settings.num_feat, "feature_scales": scales,
            "calibration": {"pixel_mse": pixel_mse, "slices": min(len(items), settings.calibration_slices),
                            "scale": scale},
            "settings": asdict(settings), "final_loss": final["loss"], "precision": prec.mode,
            "seconds": round(final["seconds"], 2)}
    save_weights({**info, "state_dict": net.state_dict()}, out)
    log.info("MRI feature network: %s (%d iterations, %.1f s, final L1 %.5f)", out, settings.iterations,
             info["seconds"], info["final_loss"])
    return info
