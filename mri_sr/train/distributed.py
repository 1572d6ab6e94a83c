"""torchrun/DDP: process-group setup, barriers, buffer sync."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
