"""Device choice, mixed precision and torchrun/DDP process-group setup."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist



@dataclass
class Precision:
    """Autocast settings: bf16 where supported, fp16 with a grad scaler otherwise; fp32 on CPU."""

    device: torch.device
    enabled: bool

    @property
    def dtype(self) -> torch.dtype:
        if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16

    @property
    def active(self) -> bool:
        return self.enabled and self.device.type == "cuda"

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.active:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.active and self.dtype == torch.float16)


@dataclass(frozen=True)
class Distributed:
    """This process's place under torchrun (world_size 1 without it)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU), if any."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return Distributed(dist.get_rank(), dist.get_world_size())


def barrier(ddp: Distributed) -> None:
    if ddp.world_size > 1:
        dist.barrier()


def sync_buffers(ddp: Distributed, nets: dict) -> None:
    """Give every rank rank 0's buffers (BatchNorm running statistics drift apart per rank)."""
    if ddp.world_size > 1:
        for net in nets.values():
            for buffer in net.buffers():
                dist.broadcast(buffer, src=0)
