"""ESRGAN network interpolation: theta = (1 - alpha) * theta_psnr + alpha * theta_gan."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mri_sr.checkpoint import read_generator_weights, save_weights
from mri_sr.errors import MriSrError


def _first_mismatch(psnr: dict, gan: dict) -> str | None:
    """Describe the first key that is missing from one dict or differs in shape; None if all match."""
    for key in psnr:
        if key not in gan:
            return f"key {key!r} is missing from the GAN weights"
        if tuple(psnr[key].shape) != tuple(gan[key].shape):
            return f"key {key!r} has shape {tuple(psnr[key].shape)} vs {tuple(gan[key].shape)}"
    for key in gan:
        if key not in psnr:
            return f"key {key!r} is missing from the PSNR weights"
    return None


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def interpolate_state_dicts(psnr: dict, gan: dict, alpha: float) -> dict:
    """Blend two state dicts of the same network key by key.

    Floating-point tensors become ``(1 - alpha) * psnr + alpha * gan`` (so alpha 0 and 1 return the
    endpoints exactly); other tensors (e.g. batch-norm ``num_batches_tracked``) are taken from the
    nearer endpoint (GAN from alpha 0.5 up).

    Args:
        psnr: key -> tensor of the PSNR-oriented generator.
        gan: key -> tensor of the GAN-trained generator, same keys and shapes.
        alpha: weight of the GAN network, in [0, 1].

    Returns:
        A new dict, keys in ``psnr``'s order.

    Raises:
        ValueError: alpha outside [0, 1], or the keys/shapes differ (the message names the first key).
    """
    _check_alpha(alpha)
    mismatch = _first_mismatch(psnr, gan)
    if mismatch:
        raise ValueError(mismatch)
    out = {}
    for key, p in psnr.items():
        g = gan[key]
        if torch.is_floating_point(p) and torch.is_floating_point(g):
            out[key] = (1.0 - alpha) * p + alpha * g.to(p.dtype)
        else:
            out[key] = (g if alpha >= 0.5 else p).clone()
    return out


def _replaced(obj: dict, keys: tuple[str, ...], value: dict) -> dict:
    """A copy of ``obj`` with the entry at ``keys`` replaced (nested dicts copied, not mutated)."""
    out = dict(obj)
    out[keys[0]] = value if len(keys) == 1 else _replaced(obj[keys[0]], keys[1:], value)
    return out


def interpolate_checkpoints(
    psnr_path: str | os.PathLike, gan_path: str | os.PathLike, out_path: str | os.PathLike, alpha: float
) -> None:
    """Write the interpolation of two generator weight files.

    Each input is a plain state dict or a checkpoint dict holding the generator: an mri-sr
    checkpoint (``nets.net_g``), ``"net_g"``, or BasicSR's ``"params_ema"`` / ``"params"``. When the GAN file is a checkpoint, the
    output is that checkpoint with its generator replaced and ``"interpolation": {"alpha", "psnr",
    "gan"}`` added; otherwise a plain state dict. Nothing is written when a check fails, and the
    output appears atomically.

    Args:
        psnr_path: weights of the PSNR-oriented generator.
        gan_path: weights of the GAN-trained generator of the same architecture.
        out_path: output ``.pt`` file (its folder is created).
        alpha: weight of the GAN network, in [0, 1].

    Raises:
        MriSrError: alpha outside [0, 1]; a file unreadable or of the wrong kind; keys or shapes
            differ (the message names both files and the first mismatching key).
    """
    psnr_path, gan_path, out_path = Path(psnr_path), Path(gan_path), Path(out_path)
    try:
        _check_alpha(alpha)
    except ValueError as exc:
        raise MriSrError(f"{out_path}: {exc}") from None
    _, _, psnr_state = read_generator_weights(psnr_path)
    gan_obj, gan_key, gan_state = read_generator_weights(gan_path)
    mismatch = _first_mismatch(psnr_state, gan_state)
    if mismatch:
        raise MriSrError(f"{psnr_path} vs {gan_path}: different networks, {mismatch}")
    state = interpolate_state_dicts(psnr_state, gan_state, alpha)
    if gan_key:
        result = _replaced(gan_obj, gan_key, state)
        result["interpolation"] = {"alpha": float(alpha), "psnr": str(psnr_path), "gan": str(gan_path)}
    else:
        result = state
    save_weights(result, out_path)
