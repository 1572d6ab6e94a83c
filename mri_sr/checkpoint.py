"""Checkpoints: a dict of state dicts and plain values, written atomically, read safely.

Layout (every value loads with ``torch.load(weights_only=True)``)::

    format        "mri-sr-checkpoint/1"
    version       mri-sr version that wrote it
    model         model name (e.g. "srresnet", "esrgan", "srrescycgan")
    iteration     last completed iteration
    scale, in_channels
    net_g_spec    {"type": ..., **kwargs}: rebuilds the SR generator with build_network
    nets          {"net_g": state_dict, "net_d": ..., "net_g_lr": ..., "net_d_lr": ...}
    normalisation {"low_percentile", "high_percentile"}: how a volume's intensities were
                  mapped to [0, 1] for this model
    degradation   the training degradation (kind, blur_sigma, noise_sigma)
    config        resolved model config
    ... training state (optimizers, schedulers, scaler, rng, best_psnr) in training checkpoints
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mri_sr.errors import MriSrError, one_line
from mri_sr.fsutil import atomic_path

FORMAT = "mri-sr-checkpoint/1"


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write ``payload`` (``format`` added) to ``path`` via a temp file and a rename."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises:
        MriSrError: missing, unreadable or not an mri-sr checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise MriSrError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch.load raises many types (KeyError, ValueError, ...) on foreign files
        if "Weights only load failed" in str(exc):
            raise MriSrError(f"{path}: not a safe mri-sr checkpoint (it needs code execution to load; refused)") from None
        known = isinstance(exc, (RuntimeError, OSError, EOFError, pickle.UnpicklingError))
        raise MriSrError(f"{path}: not a readable checkpoint "
                         f"({one_line(exc, 200) if known else 'damaged, or not a torch file'})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MriSrError(f"{path}: not an mri-sr checkpoint (no '{FORMAT}' format field)")
    return payload


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the SR generator of a checkpoint, in eval mode on ``device``.

    Returns:
        ``(net_g, checkpoint)``; the checkpoint dict carries ``scale``, ``in_channels``,
        ``normalisation`` and ``model``.
    """
    from mri_sr.nets import build_network

    checkpoint = load_checkpoint(path)
    try:
        net_g = build_network(checkpoint["net_g_spec"])
        net_g.load_state_dict(checkpoint["nets"]["net_g"])
    except MriSrError as exc:
        raise MriSrError(f"{path}: net_g_spec: {exc}") from None
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise MriSrError(f"{path}: generator weights do not match its network spec ({one_line(exc, 200)})") from None
    return net_g.to(device).eval(), checkpoint
