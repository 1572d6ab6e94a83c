"""Where and in what precision networks run: the one module that picks the device, decides the
autocast precision and enters ``torch.autocast`` (training, evaluation and upscaling call it).

Precision modes:

- ``fp32``: no autocast.
- ``bf16``: ``torch.autocast`` with bfloat16 on the device (CPU or CUDA); no grad scaling needed.
- ``fp16``: CUDA autocast with float16 and a :class:`torch.amp.GradScaler` for training.
- ``auto``: bf16 on CUDA devices that support it and on CPUs with native bf16 instructions
  (``avx512_bf16`` or AMX), fp16 on older CUDA devices, fp32 otherwise.

Master weights, optimiser state and losses stay fp32 (autocast only lowers the precision of the
operations that benefit, such as convolutions); metrics are computed on ``.float()`` outputs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from dataclasses import dataclass

import torch

from mri_sr.errors import MriSrError

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> the local CUDA device when present (per LOCAL_RANK under torchrun), else CPU."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MriSrError(f"--device {name}: CUDA is not available on this machine")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    try:
        return torch.device(name)
    except RuntimeError:
        raise MriSrError(f"--device {name}: not a device (auto, cpu, cuda or cuda:N)") from None


def device_name(device: torch.device) -> str:
    """Readable device name for reports, e.g. ``cpu (2 threads)`` or ``NVIDIA H100``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (``avx512_bf16`` or AMX), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(flag in flags for flag in _CPU_BF16_FLAGS)
    except OSError:
        pass
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """The concrete mode (``fp32``, ``bf16`` or ``fp16``) for ``requested`` on ``device``.

    Raises:
        MriSrError: an unknown mode, fp16 on the CPU, or bf16 on a CUDA device without it.
    """
    if requested not in PRECISIONS:
        raise MriSrError(f"--precision {requested}: unknown (choose {', '.join(PRECISIONS)})")
    cuda = device.type == "cuda"
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if device.type == "cpu" and cpu_supports_bf16() else "fp32"
    if requested == "fp16" and not cuda:
        raise MriSrError("--precision fp16: needs a CUDA device (use bf16 or fp32 on the CPU)")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise MriSrError(f"--precision bf16: {device_name(device)} does not support bfloat16")
    return requested


@dataclass(frozen=True)
class Precision:
    """A resolved precision on one device.

    Attributes:
        device: where the networks run.
        mode: ``fp32``, ``bf16`` or ``fp16`` (see :func:`resolve_precision`).
    """

    device: torch.device
    mode: str = "fp32"

    @classmethod
    def choose(cls, device: torch.device, requested: str = "auto") -> Precision:
        """Resolve ``requested`` on ``device`` and log the choice."""
        mode = resolve_precision(requested, device)
        log.info("precision: %s (asked for %s) on %s", mode, requested, device_name(device))
        return cls(device, mode)

    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES.get(self.mode, torch.float32)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context of this precision (a no-op for fp32)."""
        if self.mode == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only."""
        return torch.amp.GradScaler(self.device.type, enabled=self.mode == "fp16")
