"""Fixtures for evaluation (and report) tests: a small prepared MRI folder and micro checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mri_sr.checkpoint import save_checkpoint
from mri_sr.config import validate_config
from mri_sr.data.prepare import prepare
from mri_sr.io import Volume, save_nifti
from mri_sr.nets import build_network

SUBJECT = "patient-jane-doe"  # stands for an identifying file name: must never reach the report


@pytest.fixture(scope="session")
def prepared_x2(tmp_path_factory, mni_crop) -> Path:
    """A prepared folder (x2, bicubic, one subject split into slabs) from a 40x48x30 MNI crop."""
    stored, affine = mni_crop
    folder = tmp_path_factory.mktemp("mri")
    save_nifti(Volume(stored.astype(np.float32), affine, "mni crop"), folder / "scan.nii.gz")
    config = validate_config({"data": {
        "sources": [{"path": str(folder / "scan.nii.gz"), "subject": SUBJECT}],
        "hr_patch_size": 16, "split": {"test": 0.3, "slab_gap": 1}}})
    prepare(config, 2, folder / "x2")
    return folder / "x2"


@pytest.fixture(scope="session")
def make_checkpoint(tmp_path_factory):
    """``make(scale, in_channels) -> path`` of a micro SRResNet (num_feat 4, num_block 1) checkpoint."""
    folder = tmp_path_factory.mktemp("checkpoints")

    def make(scale: int, in_channels: int = 1) -> Path:
        path = folder / f"srresnet_x{scale}_c{in_channels}.pt"
        if not path.exists():
            spec = {"type": "srresnet", "num_feat": 4, "num_block": 1, "scale": scale, "in_channels": in_channels}
            net_g = build_network(spec)
            save_checkpoint({
                "model": "srresnet", "scale": scale, "in_channels": in_channels, "net_g_spec": spec,
                "nets": {"net_g": net_g.state_dict()},
                "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5},
                "degradation": {"kind": "bicubic", "scale": scale, "blur_sigma": 0.0, "noise_sigma": 0.0},
                "iteration": 10, "config": {}}, path)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    """A benchmark folder (``HR/*.png`` only): two 96x120 crops of scikit-image photographs."""
    import skimage.data
    from PIL import Image

    folder = tmp_path_factory.mktemp("bench") / "Tiny"
    (folder / "HR").mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()[100:197, 150:271]).save(folder / "HR" / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[50:146, 200:320]).save(folder / "HR" / "coffee.png")
    return folder
