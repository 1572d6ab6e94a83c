"""A small prepared folder and micro model configs for training tests."""

from __future__ import annotations

import pytest

from mri_sr.config import validate_config
from mri_sr.data.prepare import prepare
from mri_sr.io import Volume, load_volume, save_nifti

MICRO = {
    "srresnet": {"type": "srresnet", "num_feat": 8, "num_block": 1},
    "rrdbnet": {"type": "rrdbnet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
    "srresdnet": {"type": "srresdnet", "num_feat": 8, "num_block": 1},
    "degradation": {"type": "degradation", "num_feat": 8, "num_block": 1},
    "srgan_d": {"type": "srgan_d", "num_feat": 8, "fully_conv": True},
    "vgg_d": {"type": "vgg_d", "num_feat": 4},
    "patchgan_d": {"type": "patchgan_d", "num_feat": 8, "num_layers": 2},
}


def _prepare_crop(root, degradation: dict) -> None:
    """``root/x2``: x2 slices of a 64x80x40 crop of the MNI template (slabs: train / val / test)."""
    template = load_volume("builtin:mni152")
    save_nifti(Volume(template.data[66:130, 70:150, 60:100], template.affine, "crop"), root / "crop.nii.gz")
    config = validate_config({"data": {"sources": [{"path": str(root / "crop.nii.gz")}], "hr_patch_size": 32,
                                       "min_foreground": 0.05, "split": {"slab_gap": 1},
                                       "degradation": degradation}})
    prepare(config, 2, root / "x2")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """x2 slices of a 64x80x40 crop of the MNI template (slabs: train / val / test), bicubic LR."""
    root = tmp_path_factory.mktemp("prepared")
    _prepare_crop(root, {})
    return root / "x2"


@pytest.fixture(scope="session")
def prepared_kspace(tmp_path_factory):
    """The same crop and slices as ``prepared`` with another degradation: k-space truncation and noise."""
    root = tmp_path_factory.mktemp("prepared_kspace")
    _prepare_crop(root, {"kind": "kspace", "noise_sigma": 0.01})
    return root / "x2"


def _micro_config(method: str, iterations: int = 4, **extra) -> dict:
    """A model config with micro networks for ``method`` (psnr | gan | ragan | cycle)."""
    networks = {"net_g": MICRO["srresnet"]}
    weights = {"pixel": 1.0}
    options = {}
    if method in ("gan", "ragan"):
        networks = {"net_g": MICRO["rrdbnet"], "net_d": MICRO["vgg_d" if method == "ragan" else "srgan_d"]}
        weights = {"pixel": 1.0, "gan": 0.01}
        options = {"gan": {"gan_type": "ragan" if method == "ragan" else "vanilla"}}
    if method == "cycle":
        networks = {"net_g": MICRO["srresdnet"], "net_g_lr": MICRO["degradation"],
                    "net_d": MICRO["vgg_d"], "net_d_lr": MICRO["patchgan_d"]}
        weights = {"pixel": 1.0, "gan": 0.01, "tv": 0.5, "cycle": 1.0, "identity": 0.5, "lr_pixel": 1.0,
                   "lr_consistency": 1.0}
        # identity and LR consistency resample as the prepared fixture's degradation (bicubic)
        options = {"gan": {"gan_type": "ragan"}}
    config = {
        "model": f"micro_{method}", "method": "gan" if method == "ragan" else method,
        "networks": networks,
        "train": {"iterations": iterations, "batch_size": 2, "lr_patch_size": 16, "learning_rate": 1e-3,
                  "num_workers": 0},
        "losses": {"weights": weights, "options": options},
        "validation": {"every": 2, "max_slices": 4}, "log_every": 1, "checkpoint_every": 2,
    }
    for key, value in extra.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


@pytest.fixture
def micro_config():
    """``micro_config(method, iterations=4, **overrides)`` -> a validated-ready model config."""
    return _micro_config
