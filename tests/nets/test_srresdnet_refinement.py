"""The refinement of configs/gpu.yaml's SRResDNet is not clamped to zero on noise-free MRI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from nilearn.datasets import load_mni152_template

from mri_sr.config import load_config
from mri_sr.data.degradation import from_dict
from mri_sr.nets import build_network
from mri_sr.nets.srrescycgan import estimate_noise_std
from mri_sr.train.config import resolve_models

REPO = Path(__file__).resolve().parents[2]


def _gpu_generator(model: str, scale: int) -> torch.nn.Module:
    config = load_config(REPO / "configs" / "gpu.yaml")
    config["model_configs"] = str(REPO / "configs" / "models")
    spec = resolve_models(config)[model]["networks"]["net_g"]
    torch.manual_seed(0)
    return build_network({**spec, "scale": scale, "in_channels": 1}).eval()


def _noise_free_pair(scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.asarray(load_mni152_template(resolution=1).get_fdata(), dtype=np.float32)
    hr = data[:192, :232, 90] / data.max()
    config = load_config(REPO / "configs" / "gpu.yaml")["data"]["degradation"]
    lr = from_dict({**config, "scale": scale})(hr, np.random.default_rng(0))
    return torch.from_numpy(lr)[None, None], torch.from_numpy(hr)[None, None]


def test_gpu_refinement_changes_a_noise_free_mri_slice():
    for model in ("srresdnet", "srrescycgan"):
        net = _gpu_generator(model, 4)
        assert net.projection  # gpu.yaml keeps the paper's projection on
        lr, _ = _noise_free_pair(4)
        with torch.no_grad():
            up = net.upsample(lr).clamp(0, 1)
            out = net(lr)
        assert float(estimate_noise_std(up)) < 1e-3  # what clamped the refinement before the floor
        change = (out - up).abs().mean()
        assert change > 5e-3, f"{model}: the refinement moves the output by only {float(change):.2e}"
        net.noise_floor = 0.0  # the paper's unfloored estimate: the residual is clamped to ~0
        with torch.no_grad():
            assert (net(lr) - up).abs().mean() < 0.1 * change

