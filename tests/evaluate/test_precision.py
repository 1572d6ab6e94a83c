"""Evaluation under bf16 autocast agrees with fp32: metrics are computed in fp32 either way."""

from __future__ import annotations

import json

import pytest
import torch

from mri_sr.checkpoint import save_checkpoint
from mri_sr.nets import build_network


@pytest.fixture(scope="module")
def near_bicubic_checkpoint(tmp_path_factory):
    """A micro SRResNet x2 over bicubic (image_skip) with a small, non-zero learnt residual."""
    spec = {"type": "srresnet", "num_feat": 8, "num_block": 1, "scale": 2, "in_channels": 1, "image_skip": True}
    torch.manual_seed(0)
    net = build_network(spec)
    torch.nn.init.normal_(net.conv_last.weight, std=0.002)
    path = tmp_path_factory.mktemp("precision") / "srresnet.pt"
    save_checkpoint({"model": "srresnet", "scale": 2, "in_channels": 1, "net_g_spec": spec, "iteration": 1,
                     "nets": {"net_g": net.state_dict()}, "config": {},
                     "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5}}, path)
    return path


@pytest.mark.parametrize("dataset", ["mri", "natural"])
def test_bf16_and_fp32_evaluation_agree(cli, prepared_x2, tiny_benchmark, near_bicubic_checkpoint, tmp_path, dataset):
    folder = prepared_x2 if dataset == "mri" else tiny_benchmark
    results = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.json"
        code, _, err = cli("evaluate", "--method", near_bicubic_checkpoint, "--dataset", folder, "--scale", 2,
                           "--out", out, "--device", "cpu", "--precision", precision)
        assert code == 0, err
        results[precision] = json.loads(out.read_text())
    assert results["fp32"]["precision"] == "fp32" and results["bf16"]["precision"] == "bf16"
    assert results["fp32"]["psnr"] > 20  # a model near bicubic quality, not noise (about 3 dB)
    assert abs(results["bf16"]["psnr"] - results["fp32"]["psnr"]) <= 0.02
