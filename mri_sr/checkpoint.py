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
the original ESRGAN release (legacy RRDBNet key names) and torchvision's VGG19.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mri_sr import __version__
from mri_sr.errors import MriSrError
from mri_sr.fsutil import atomic_path

FORMAT = "mri-sr-checkpoint/1"
# Where a weights file keeps its generator: mri-sr checkpoints, then BasicSR releases.
_GENERATOR_KEYS = (("nets", "net_g"), ("net_g",), ("params_ema",), ("params",))


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
    except pickle.UnpicklingError as exc:
        if "GLOBAL" in str(exc) or "global" in str(exc):  # a pickled object that would import code
            raise MriSrError(f"{path}: not a safe {what}: it holds Python objects that would run code "
                             "when loaded, so it was refused") from None
        raise MriSrError(f"{path}: not a readable {what} (not a PyTorch file, or damaged)") from None
    except PermissionError:
        raise MriSrError(f"{path}: cannot read {what} (permission denied)") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise MriSrError(f"{path}: not a readable {what} ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


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
    payload = load_weights(path, "checkpoint", map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MriSrError(f"{path}: not an mri-sr checkpoint (no '{FORMAT}' format field)")
    return payload


def generator_payload(config: dict[str, Any], net_g_spec: dict[str, Any], net_g: nn.Module,
                      prepared: dict[str, Any], iteration: int, precision: str) -> dict[str, Any]:
    """What inference needs: the SR generator and how its inputs were made.

    Args:
        config: resolved model config; net_g_spec: the generator's spec; net_g: the generator.
        prepared: the data folder's ``prepare.json`` (scale, normalisation, degradation).
        iteration: last completed iteration; precision: the autocast mode trained in.
    """
    return {
        "version": __version__, "model": config["model"], "iteration": iteration,
        "scale": prepared["scale"], "in_channels": 1, "net_g_spec": net_g_spec,
        "nets": {"net_g": net_g.state_dict()},
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


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Rebuild the SR generator of an mri-sr checkpoint, in eval mode on ``device``.

    Raises:
        MriSrError: as :func:`load_checkpoint`; an unknown network or weights that do not fit
            the checkpoint's spec (named with the file).
    """
    from mri_sr.nets import build_network

    path = Path(path)
    checkpoint = load_checkpoint(path)
    try:
        net = build_network(checkpoint["net_g_spec"])
        net.load_state_dict(checkpoint["nets"]["net_g"])
    except MriSrError as exc:
        raise MriSrError(f"{path}: {exc}") from None
    except (KeyError, TypeError, RuntimeError) as exc:
        raise MriSrError(f"{path}: generator weights do not match its network spec ({_first_line(exc)})") from None
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
        from mri_sr.nets.rrdbnet import convert_legacy_esrgan_keys

        return obj, None, convert_legacy_esrgan_keys(obj)
    raise MriSrError(f"{path}: neither a state dict of tensors nor a checkpoint with a 'net_g' entry")
