"""SRResCycGAN's warm-up trains G_LR on the prepared HR -> LR pairs and hands it to the cycle stage."""

from __future__ import annotations

import numpy as np
import torch

from mri_sr.checkpoint import load_checkpoint
from mri_sr.data.manifest import load_split
from mri_sr.nets import build_network
from mri_sr.train import train
from mri_sr.train.config import validate_model_config


def _lr_error(net: torch.nn.Module, items: list[dict]) -> float:
    """Mean |G_LR(hr) - lr| over full validation slices."""
    with torch.no_grad():
        return float(np.mean([(net(torch.from_numpy(it["hr"])[None]) - torch.from_numpy(it["lr"])[None])
                              .abs().mean().item() for it in items]))


def test_warmup_lowers_the_lr_error_of_g_lr_and_the_cycle_stage_starts_from_it(prepared, micro_config, tmp_path):
    warmup = micro_config("psnr", iterations=30)
    cycle_networks = micro_config("cycle")["networks"]  # the same G_HR and G_LR specs as the cycle stage
    warmup["networks"] = {"net_g": cycle_networks["net_g"], "net_g_lr": cycle_networks["net_g_lr"]}
    warmup["losses"] = {"weights": {"pixel": 1.0, "lr_pixel": 1.0}}
    warmup["validation"] = {"every": 30, "max_slices": 2}
    warmup = validate_model_config(warmup, name="warmup")
    train(warmup, prepared, tmp_path / "warmup", device="cpu")

    final = load_checkpoint(tmp_path / "warmup" / "final.pt")
    assert set(final["nets"]) == {"net_g", "net_g_lr"} and final["net_g_lr_spec"]["type"] == "degradation"
    val = load_split(prepared, "val")
    untrained = build_network({**final["net_g_lr_spec"]}).eval()
    trained = build_network({**final["net_g_lr_spec"]}).eval()
    trained.load_state_dict(final["nets"]["net_g_lr"])
    assert _lr_error(trained, val) < 0.75 * _lr_error(untrained, val)

    cycle = validate_model_config(micro_config("cycle", iterations=1, train={"learning_rate": 1e-12}), name="cycle")
    result = train(cycle, prepared, tmp_path / "cycle", init=tmp_path / "warmup" / "final.pt", device="cpu")
    for name in ("net_g", "net_g_lr"):
        start = final["nets"][name]
        assert all(torch.allclose(start[k], p, atol=1e-6) for k, p in result.nets[name].named_parameters())
