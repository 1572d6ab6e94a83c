"""Checkpoints and weights files: the one place that builds, writes and reads them.

Layout of an mri-sr checkpoint (every value loads with ``torch.load(weights_only=True)``)::

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
    precision     autocast mode it was trained in (fp32, bf16, fp16)
    ... training state (optimizers, schedulers, scaler, rng, best_val_psnr, wall_seconds) in
    ``last.pt``; ``interpolation`` in ESRGAN network interpolations.

Other weights files read here: plain state dicts, BasicSR releases (``params_ema`` / ``params``),
the original ESRGAN release (legacy RRDBNet key names), torchvision's VGG19 and the MRI feature
network (both read through :func:`load_weights`).

Layers: this module sits above :mod:`mri_sr.nets` (it builds the networks it loads) and below
:mod:`mri_sr.losses` (the perceptual losses read their weights through :func:`load_weights`).
ESRGAN network interpolation (``mri-sr interpolate``) is a weights-file operation and lives here.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mri_sr import __version__
from mri_sr.errors import MriSrError, one_line
from mri_sr.fsutil import atomic_path, check_output_file, refuse_overwriting_input
from mri_sr.nets import build_network
from mri_sr.nets.rrdbnet import convert_legacy_esrgan_keys

FORMAT = "mri-sr-checkpoint/1"
# Where a weights file keeps its generator: mri-sr checkpoints, then BasicSR releases.
_GENERATOR_KEYS = (("nets", "net_g"), ("net_g",), ("params_ema",), ("params",))


def _starts_as_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def load_weights(path: str | Path, what: str = "PyTorch weights file", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one-line errors naming the file.

    Args:
        path: a ``.pt`` / ``.pth`` file.
        what: what the file should be, for messages (``"checkpoint"``, ``"VGG19 weights"``).
        map_location: as :func:`torch.load`.

    Raises:
        MriSrError: missing, unreadable, not a PyTorch file, or not safe to load (it would need
            arbitrary code to unpickle; such files are refused, never executed).
    """
    path = Path(path)
    if not path.is_file():
        raise MriSrError(f"{path}: {what} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError:
        raise MriSrError(f"{path}: cannot read {what} (permission denied)") from None
    except Exception as exc:  # torch.load raises many types (KeyError, ValueError, ...) on foreign files
        if isinstance(exc, pickle.UnpicklingError) and ("GLOBAL" in str(exc) or "global" in str(exc)):
            # a pickled object that would import and run code: refused, never executed
            raise MriSrError(f"{path}: not a safe {what} (it needs code execution to load; refused)") from None
        if isinstance(exc, RuntimeError) and _starts_as_zip(path):  # torch's zip reader: C++ assertion texts
            raise MriSrError(f"{path}: not a readable {what} (a zip archive PyTorch cannot read: cut short, "
                             "damaged, or another program's)") from None
        known = isinstance(exc, (RuntimeError, OSError, EOFError, zipfile.BadZipFile))
        raise MriSrError(f"{path}: not a readable {what} "
                         f"({one_line(exc, 200) if known else 'not a PyTorch file, or damaged'})") from None


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> None:
    """Write ``payload`` (``format`` added) to ``path`` via a temp file and a rename."""
    save_weights({"format": FORMAT, **payload}, path)


def save_weights(obj: dict[str, Any], path: str | Path) -> None:
    """Write a dict of tensors and plain values as it is, atomically."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        MriSrError: missing, unreadable, unsafe or not an mri-sr checkpoint.
    """
    payload = load_weights(path, "mri-sr checkpoint", map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MriSrError(f"{path}: not an mri-sr checkpoint (no '{FORMAT}' format field)")
    return payload


# The generators a checkpoint carries, with the key of each one's network spec.
GENERATOR_SPEC_KEYS = {"net_g": "net_g_spec", "net_g_lr": "net_g_lr_spec"}


def generator_payload(config: dict[str, Any], specs: dict[str, dict[str, Any]], nets: dict[str, nn.Module],
                      prepared: dict[str, Any], iteration: int, precision: str) -> dict[str, Any]:
    """What inference (and a following training stage) needs: the generators and how their
    inputs were made.

    Args:
        config: resolved model config; specs, nets: the run's network specs and networks by role.
            ``net_g`` always goes in; ``net_g_lr`` (SRResCycGAN's degradation generator) too
            when the run has one, so that a warm-up hands both generators to the cycle stage.
        prepared: the data folder's ``prepare.json`` (scale, normalisation, degradation).
        iteration: last completed iteration; precision: the autocast mode trained in.
    """
    names = [name for name in GENERATOR_SPEC_KEYS if name in nets]
    return {
        "version": __version__, "model": config["model"], "iteration": iteration,
        "scale": prepared["scale"], "in_channels": 1,
        **{GENERATOR_SPEC_KEYS[name]: specs[name] for name in names},
        "nets": {name: nets[name].state_dict() for name in names},
        "normalisation": dict(prepared["data"]["normalisation"]), "degradation": prepared["degradation"],
        "config": config, "precision": precision,
    }


def training_payload(generator: dict[str, Any], trainer_state: dict[str, Any], best_val_psnr: float,
                     wall_seconds: float) -> dict[str, Any]:
    """``last.pt``: a :func:`generator_payload` plus the whole training state (``nets`` of every
    network, ``optimizers``, ``schedulers``, ``scaler``, ``rng``: a trainer's ``state_dict``)."""
    return {**generator, **trainer_state, "best_val_psnr": best_val_psnr, "wall_seconds": wall_seconds}


@dataclass(frozen=True)
class Generator:
    """A checkpoint's SR generator, checked, in eval mode.

    Attributes:
        net: the network; scale, in_channels: what it does.
        percentiles: (low, high) normalisation percentiles, or None when the checkpoint has none.
        info: plain facts for metrics and logs (model, iteration, version, normalisation, ...).
        path: the file.
    """

    net: nn.Module
    scale: int
    in_channels: int
    percentiles: tuple[float, float] | None
    info: dict[str, Any]
    path: Path

    @property
    def name(self) -> str:
        return str(self.info.get("model") or self.path.stem)


def load_generator(path: str | Path, device: str | torch.device = "cpu", *, both_axes: bool = False) -> Generator:
    """Rebuild the SR generator of an mri-sr checkpoint, in eval mode on ``device``.

    Args:
        path: the checkpoint.
        device: where the network goes.
        both_axes: refuse a generator that upscales one image axis only (the through-plane
            generators of ``mri-sr throughplane --save-model``); ``upscale`` and ``evaluate``
            run slices through generators that upscale both.

    Raises:
        MriSrError: as :func:`load_checkpoint`; an unknown network or weights that do not fit
            the checkpoint's spec (named with the file); with ``both_axes``, a one-axis generator.
    """
    path = Path(path)
    checkpoint = load_checkpoint(path)
    spec = checkpoint.get("net_g_spec")
    if both_axes and isinstance(spec, dict) and spec.get("upscale_axes", "hw") != "hw":
        raise MriSrError(f"{path}: a through-plane generator (it upscales image rows only, made by mri-sr "
                         "throughplane); upscale and evaluate need one that upscales both axes "
                         "(mri-sr throughplane --init takes this one)")
    try:
        net = build_network(checkpoint["net_g_spec"])
        net.load_state_dict(checkpoint["nets"]["net_g"])
    except MriSrError as exc:
        raise MriSrError(f"{path}: net_g_spec: {exc}") from None
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise MriSrError(f"{path}: generator weights do not match its network spec ({one_line(exc, 200)})") from None
    percentiles = None
    norm = checkpoint.get("normalisation")
    if isinstance(norm, dict) and {"low_percentile", "high_percentile"} <= set(norm):
        percentiles = (float(norm["low_percentile"]), float(norm["high_percentile"]))
    info = {key: checkpoint[key] for key in ("model", "iteration", "version", "normalisation", "degradation",
                                             "precision", "interpolation") if key in checkpoint}
    return Generator(net.to(device).eval(), int(checkpoint.get("scale", net.scale)),
                     int(checkpoint.get("in_channels", net.in_channels)), percentiles, info, path)


def read_generator_weights(path: str | Path) -> tuple[dict[str, Any], tuple[str, ...] | None, dict[str, Any]]:
    """A generator's state dict from any weights file this package reads.

    Returns:
        ``(file_dict, key_path, state_dict)``: ``key_path`` locates the generator in the file
        (``("nets", "net_g")`` for mri-sr, ``("params_ema",)`` for BasicSR, ...) or is None for a
        plain state dict. Legacy ESRGAN key names are renamed to BasicSR's.

    Raises:
        MriSrError: unreadable, or holding no generator state dict.
    """
    obj = load_weights(path)
    if not isinstance(obj, dict):
        raise MriSrError(f"{path}: expected a state dict or a checkpoint dict, found {type(obj).__name__}")
    for keys in _GENERATOR_KEYS:
        state = obj
        for key in keys:
            state = state.get(key) if isinstance(state, dict) else None
        if isinstance(state, dict):
            return obj, keys, state
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None, convert_legacy_esrgan_keys(obj)
    raise MriSrError(f"{path}: neither a state dict of tensors nor a checkpoint with a 'net_g' entry")


# ESRGAN network interpolation (``mri-sr interpolate``, Wang et al. 2018):
# theta = (1 - alpha) * theta_psnr + alpha * theta_gan, key by key.


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
    checkpoint (``nets.net_g``), ``"net_g"``, or BasicSR's ``"params_ema"`` / ``"params"``. When
    the GAN file is a checkpoint, the output is that checkpoint with its generator replaced and
    ``"interpolation": {"alpha", "psnr", "gan"}`` added; otherwise a plain state dict. Nothing is
    written when a check fails, and the output appears atomically.

    Args:
        psnr_path: weights of the PSNR-oriented generator.
        gan_path: weights of the GAN-trained generator of the same architecture.
        out_path: output ``.pt`` file (its folder is created).
        alpha: weight of the GAN network, in [0, 1].

    Raises:
        MriSrError: alpha outside [0, 1]; an output that cannot be written or is an input; a
            file unreadable or of the wrong kind; keys or shapes differ (the message names both
            files and the first mismatching key).
    """
    psnr_path, gan_path, out_path = Path(psnr_path), Path(gan_path), Path(out_path)
    check_output_file(out_path)
    refuse_overwriting_input(out_path, (psnr_path, gan_path))
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
