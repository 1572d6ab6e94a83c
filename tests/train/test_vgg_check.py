"""The workflow's early check of the VGG19 file (mri_sr.train.config.check_vgg19_weights)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from mri_sr.config import load_config
from mri_sr.errors import MriSrError
from mri_sr.losses.vgg import VGG19Features
from mri_sr.train.config import ablation_models, check_vgg19_weights, needs_mri_features, resolve_models

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def torch_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty TORCH_HOME and no MRI_SR_VGG19_WEIGHTS: where the file is looked for."""
    monkeypatch.delenv("MRI_SR_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"


def _models(name: str) -> dict:
    config = load_config(REPO / "configs" / name)
    config["model_configs"] = str(REPO / "configs" / "models")
    return resolve_models(config)


def test_gpu_config_needs_vgg19_and_a_missing_file_is_named(torch_home: Path) -> None:
    with pytest.raises(MriSrError) as info:
        check_vgg19_weights(_models("gpu.yaml"))
    message = str(info.value)
    assert str(torch_home) in message and "download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert "MRI_SR_VGG19_WEIGHTS" in message and "\n" not in message


def test_a_corrupt_file_is_named(torch_home: Path) -> None:
    torch_home.parent.mkdir(parents=True)
    torch.save(VGG19Features(layers=("relu1_2",)).state_dict(), torch_home)
    torch_home.write_bytes(torch_home.read_bytes()[:1000])
    with pytest.raises(MriSrError, match=f"{torch_home}: not a readable VGG19 weights file"):
        check_vgg19_weights(_models("gpu.yaml"))


def test_a_readable_file_passes_and_the_default_config_needs_none(torch_home: Path) -> None:
    default = _models("default.yaml")
    assert check_vgg19_weights(default) == []
    assert {name for name, model in default.items() if needs_mri_features(model)} == {"srgan", "esrgan",
                                                                                      "srrescycgan"}
    small = copy.deepcopy(_models("gpu.yaml"))
    for model in small.values():
        if "perceptual" in model["losses"]["options"]:
            model["losses"]["options"]["perceptual"]["vgg19"]["layer_weights"] = {"relu1_2": 1.0}
    torch_home.parent.mkdir(parents=True)
    torch.save(VGG19Features(layers=("relu1_2",)).state_dict(), torch_home)
    assert sorted(check_vgg19_weights(small)) == ["esrgan", "srgan", "srrescycgan"]


@pytest.mark.parametrize("name", ["default.yaml", "gpu.yaml"])
def test_srgan_without_perceptual_term_keeps_a_content_loss_and_needs_no_features(name: str) -> None:
    models = _models(name)
    variant = ablation_models(models)["srgan_no_perceptual"]
    weights = variant["losses"]["weights"]
    assert weights["perceptual"] == 0 and weights["pixel"] > 0
    assert weights["gan"] == models["srgan"]["losses"]["weights"]["gan"]
    assert variant["train"] == models["srgan"]["train"] and variant["init_from"] == models["srgan"]["init_from"]
    assert not needs_mri_features(variant)
    assert needs_mri_features(models["srgan"]) == (name == "default.yaml")
