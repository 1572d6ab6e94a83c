"""Device and precision choice: ``auto`` follows the hardware; weights and losses stay fp32."""

from __future__ import annotations

import pytest
import torch

from mri_sr import device as device_module
from mri_sr.device import Precision, pick_device, resolve_precision
from mri_sr.errors import MriSrError

CPU = torch.device("cpu")


def test_auto_is_fp32_on_a_cpu_without_bf16(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", CPU) == "fp32"
    assert Precision.choose(CPU, "auto").autocast().__class__.__name__ == "nullcontext"


def test_auto_is_bf16_on_a_cpu_with_bf16(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_supports_bf16", lambda: True)
    precision = Precision.choose(CPU, "auto")
    assert precision.mode == "bf16" and precision.dtype == torch.bfloat16
    with precision.autocast():
        out = torch.nn.Conv2d(1, 2, 3)(torch.rand(1, 1, 8, 8))
    assert out.dtype == torch.bfloat16
    assert not precision.grad_scaler().is_enabled()


def test_explicit_modes_and_errors():
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(MriSrError, match="fp16: needs a CUDA device"):
        resolve_precision("fp16", CPU)
    with pytest.raises(MriSrError, match="--precision half: unknown"):
        resolve_precision("half", CPU)
    with pytest.raises(MriSrError, match="--device gpu7"):
        pick_device("gpu7")


def test_cpu_flags_are_read_from_proc_cpuinfo():
    # Whatever this machine has, the answer agrees with the flags the kernel reports.
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo flags here")
    device_module.cpu_supports_bf16.cache_clear()
    assert device_module.cpu_supports_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)
