"""Networks, optimisers, schedulers and loss modules of a model config: shared by the engine
and the throughput benchmark."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mri_sr.errors import MriSrError
from mri_sr.losses import build_loss_terms
from mri_sr.nets import NETWORKS, build_network
from mri_sr.train.device import Distributed

GENERATORS, DISCRIMINATORS = ("net_g", "net_g_lr"), ("net_d", "net_d_lr")


def network_specs(config: dict[str, Any], scale: int, in_channels: int) -> dict[str, dict[str, Any]]:
    """The config's network specs with scale, in_channels and discriminator input size filled in."""
    hr_patch = config["train"]["lr_patch_size"] * scale
    specs = {}
    for name, spec in config["networks"].items():
        accepted = inspect.signature(NETWORKS[spec["type"]].__init__).parameters if spec["type"] in NETWORKS else {}
        extra = {"in_channels": in_channels, "scale": scale, "input_size": hr_patch}
        specs[name] = {**{k: v for k, v in extra.items() if k in accepted}, **spec}
    return specs


def make_scheduler(optimizer: torch.optim.Optimizer, train_cfg: dict[str, Any]) -> torch.optim.lr_scheduler.LRScheduler:
    if train_cfg["lr_step"]:
        return torch.optim.lr_scheduler.StepLR(optimizer, train_cfg["lr_step"], train_cfg["lr_gamma"])
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, train_cfg["lr_milestones"], train_cfg["lr_gamma"])


@dataclass
class Setup:
    """A model config made concrete on one device (networks unwrapped)."""

    nets: dict[str, nn.Module]
    specs: dict[str, dict[str, Any]]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler]
    losses: nn.ModuleDict


def build_setup(config: dict[str, Any], scale: int, device: torch.device, in_channels: int = 1) -> Setup:
    """Build networks (fixed order, so initial weights do not depend on YAML key order),
    Adam optimisers (generators share one, discriminators another), schedulers and losses."""
    tc = config["train"]
    specs = network_specs(config, scale, in_channels)
    nets = {name: build_network(specs[name]) for name in GENERATORS + DISCRIMINATORS if name in specs}
    if config["method"] == "gan" and "net_g_lr" in nets or config["method"] == "cycle" and "net_g_lr" not in nets:
        raise MriSrError(f"{config['model']}: method {config['method']} and networks {sorted(nets)} do not fit")
    for net in nets.values():
        net.to(device)
        if device.type == "cuda" and config["device"]["channels_last"]:
            net.to(memory_format=torch.channels_last)
    params_g = [p for n in GENERATORS if n in nets for p in nets[n].parameters()]
    params_d = [p for n in DISCRIMINATORS if n in nets for p in nets[n].parameters()]
    opt_g = torch.optim.Adam(params_g, lr=tc["learning_rate"], betas=tuple(tc["betas"]))
    opt_d = torch.optim.Adam(params_d, lr=tc["learning_rate_d"] or tc["learning_rate"],
                             betas=tuple(tc["betas"])) if params_d else None
    schedulers = {"g": make_scheduler(opt_g, tc), **({"d": make_scheduler(opt_d, tc)} if opt_d else {})}
    losses = build_loss_terms(config["losses"]["weights"], **config["losses"].get("options", {})).to(device)
    return Setup(nets, specs, opt_g, opt_d, schedulers, losses)


def wrap_networks(nets: dict[str, nn.Module], config: dict[str, Any], ddp: Distributed,
                  device: torch.device) -> dict[str, nn.Module]:
    """What the step functions call: optionally compiled, DDP-wrapped under torchrun."""
    wrapped = {}
    for name, net in nets.items():
        module = torch.compile(net) if config["device"]["compile"] else net
        if ddp.world_size > 1:
            module = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
        wrapped[name] = module
    return wrapped
