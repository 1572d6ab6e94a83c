"""The trainer: a model config made concrete on one device, owning everything a run's state holds.

Networks (raw and as the steps call them: compiled and/or DDP-wrapped), Adam optimisers
(generators share one, discriminators another: Adam is per-parameter, so this equals one each),
schedulers, loss modules and weights, precision and its gradient scaler, and the random number
generators. :meth:`Trainer.state_dict` / :meth:`Trainer.load_state_dict` save and restore all of
it in the layout of :mod:`mri_sr.checkpoint` (``nets``, ``optimizers``, ``schedulers``,
``scaler``, ``rng``), so a resumed run continues bit for bit.
"""

from __future__ import annotations

import inspect
import random
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from mri_sr.device import Precision
from mri_sr.errors import MriSrError
from mri_sr.data.degradation import Degradation
from mri_sr.losses import build_loss_terms
from mri_sr.nets import NETWORKS, build_network
from mri_sr.train.distributed import Distributed

GENERATORS, DISCRIMINATORS = ("net_g", "net_g_lr"), ("net_d", "net_d_lr")


def network_specs(config: dict[str, Any], scale: int, in_channels: int = 1) -> dict[str, dict[str, Any]]:
    """The config's network specs with scale, in_channels and discriminator input size filled in
    from the data (its scale and channels) and ``train.lr_patch_size``.

    Raises:
        MriSrError: a network of the config sets one of them to another value.
    """
    hr_patch = config["train"]["lr_patch_size"] * scale
    specs = {}
    for name, spec in config["networks"].items():
        accepted = inspect.signature(NETWORKS[spec["type"]].__init__).parameters if spec["type"] in NETWORKS else {}
        extra = {k: v for k, v in {"in_channels": in_channels, "scale": scale, "input_size": hr_patch}.items()
                 if k in accepted}
        for key, value in extra.items():
            if key in spec and spec[key] != value:
                source = "train.lr_patch_size x scale" if key == "input_size" else "the prepared data"
                raise MriSrError(f"networks.{name}.{key} is {spec[key]}, but {source} gives {value}; leave the key out "
                                 "(it is filled in)")
        specs[name] = {**extra, **spec}
    return specs


def _scheduler(optimizer: torch.optim.Optimizer, train_cfg: dict[str, Any]) -> torch.optim.lr_scheduler.LRScheduler:
    if train_cfg["lr_step"]:
        return torch.optim.lr_scheduler.StepLR(optimizer, train_cfg["lr_step"], train_cfg["lr_gamma"])
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, train_cfg["lr_milestones"], train_cfg["lr_gamma"])


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict[str, Any]:
    """torch, Python and NumPy generator states as checkpoint-safe values."""
    py = random.getstate()
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": [py[0], list(py[1]), py[2]],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]]}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    np.random.set_state((state["numpy"][0], state["numpy"][1].numpy().astype(np.uint32), *state["numpy"][2:]))


class Trainer:
    """Everything a training step touches and a checkpoint restores.

    Attributes:
        raw_nets: networks by role (``net_g``, ``net_d``, ``net_g_lr``, ``net_d_lr``), unwrapped.
        nets: the same as the step functions call them (compiled / DDP-wrapped when configured).
        specs: network specs with scale, in_channels and input size filled in.
        losses: loss modules by term name; weights: term name -> weight.
        opt_g, opt_d: Adam over the generators / the discriminators (None without one).
        schedulers: ``{"g": ..., "d": ...}``.
        precision: autocast mode; scaler: its gradient scaler (enabled for fp16 only).
    """

    def __init__(self, config: dict[str, Any], scale: int, precision: Precision,
                 ddp: Distributed | None = None, in_channels: int = 1,
                 degradation: Degradation | None = None) -> None:
        """Build networks (fixed order, so initial weights do not depend on YAML key order),
        optimisers, schedulers, losses; call after seeding the generators. ``degradation``: the
        prepared data's (the identity and LR-consistency terms resample as it does)."""
        device, tc = precision.device, config["train"]
        self.precision, self.scaler = precision, precision.grad_scaler()
        self.specs = network_specs(config, scale, in_channels)
        self.raw_nets = {name: build_network(self.specs[name]) for name in GENERATORS + DISCRIMINATORS
                         if name in self.specs}
        method, has_g_lr = config["method"], "net_g_lr" in self.raw_nets
        if method == "gan" and has_g_lr or method == "cycle" and not has_g_lr:
            raise MriSrError(f"{config['model']}: method {config['method']} and networks "
                             f"{sorted(self.raw_nets)} do not fit")
        self.channels_last = device.type == "cuda" and config["device"]["channels_last"]
        for net in self.raw_nets.values():
            net.to(device)
            if self.channels_last:
                net.to(memory_format=torch.channels_last)
        params_g = [p for n in GENERATORS if n in self.raw_nets for p in self.raw_nets[n].parameters()]
        params_d = [p for n in DISCRIMINATORS if n in self.raw_nets for p in self.raw_nets[n].parameters()]
        betas = tuple(tc["betas"])
        self.opt_g = torch.optim.Adam(params_g, lr=tc["learning_rate"], betas=betas)
        self.opt_d = torch.optim.Adam(params_d, lr=tc["learning_rate_d"] or tc["learning_rate"],
                                      betas=betas) if params_d else None
        self.schedulers = {"g": _scheduler(self.opt_g, tc),
                           **({"d": _scheduler(self.opt_d, tc)} if self.opt_d else {})}
        self.losses = build_loss_terms(config["losses"]["weights"], degradation, **config["losses"].get("options", {})).to(device)
        self.weights = dict(config["losses"]["weights"])
        self.nets = self._wrap(config["device"]["compile"], ddp or Distributed())

    def _wrap(self, compile_nets: bool, ddp: Distributed) -> dict[str, nn.Module]:
        wrapped = {}
        for name, net in self.raw_nets.items():
            module = torch.compile(net) if compile_nets else net
            if ddp.world_size > 1:
                device = self.precision.device
                module = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
            wrapped[name] = module
        return wrapped

    def update(self, optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
        """Backward ``loss`` and step ``optimizer`` (scaled for fp16); the scale is updated once
        per iteration, in :meth:`end_iteration`, after every optimiser has stepped."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)

    def end_iteration(self) -> None:
        """Update the gradient scale and step the learning-rate schedules."""
        self.scaler.update()
        for scheduler in self.schedulers.values():
            scheduler.step()

    @property
    def learning_rate(self) -> float:
        return self.opt_g.param_groups[0]["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {name: net.state_dict() for name, net in self.raw_nets.items()},
            "optimizers": {"g": self.opt_g.state_dict(), **({"d": self.opt_d.state_dict()} if self.opt_d else {})},
            "schedulers": {key: s.state_dict() for key, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(), "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, net in self.raw_nets.items():
            net.load_state_dict(state["nets"][name])
        self.opt_g.load_state_dict(state["optimizers"]["g"])
        if self.opt_d:
            self.opt_d.load_state_dict(state["optimizers"]["d"])
        for key, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][key])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
