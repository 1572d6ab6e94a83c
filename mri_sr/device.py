"""Which torch device to run on: shared by training, evaluation and upscaling."""

from __future__ import annotations

import os

import torch

from mri_sr.errors import MriSrError


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> the local CUDA device when present (per LOCAL_RANK under torchrun), else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MriSrError(f"--device {name}: CUDA is not available on this machine")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return torch.device(name)
