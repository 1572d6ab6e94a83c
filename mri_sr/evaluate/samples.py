"""Example images for the report's comparison panels: LR / SR / HR PNGs and an index.

Layout of ``images_dir`` (one folder per method, dataset and scale; the same image names for
every method, so the report can line methods up)::

    {name}_lr.png        LR input (8-bit; grey for MRI, RGB for natural images)
    {name}_sr.png        this method's SR output (8-bit)
    {name}_hr.png        ground truth (8-bit)
    {name}_lr_error.npy  (h, w) float32 |degrade(SR) - LR| in [0, 1] units (MRI intensities, Y / 255)
    index.json           {"method", "dataset", "scale", "kind", "images": [{"name", "lr", "sr",
                          "hr", "lr_error", "psnr", "ssim", "lr_consistency_psnr"}]}

MRI slices (float in [0, 1]) are stored as round(255 x value).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mri_sr.fsutil import atomic_path

NUM_SAMPLES = 3
INDEX = "index.json"


def safe_name(name: str) -> str:
    """A file-name-safe version of an image name (letters, digits, ``-``, ``_``, ``.``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "image"


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 images unchanged; float images in [0, 1] as round(255 x value), saturated."""
    if img.dtype == np.uint8:
        return img
    return np.clip(np.round(np.asarray(img, np.float64) * 255.0), 0, 255).astype(np.uint8)


def _write_png(img: np.ndarray, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(to_uint8(img)).save(tmp, format="PNG")


def write_sample(images_dir: Path, name: str, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray,
                 lr_error: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
    """Write one image's PNGs and error map; return its index entry.

    Args:
        images_dir: destination folder (created if missing).
        name: image name (made file-name-safe).
        lr, sr, hr: (h, w) / (H, W) float32 in [0, 1], or (h, w, 3) / (H, W, 3) uint8 RGB.
        lr_error: (h, w) float32 LR-consistency error in [0, 1] units.
        metrics: this image's ``psnr``, ``ssim`` and ``lr_consistency_psnr``.
    """
    stem = safe_name(name)
    entry = {"name": name, "lr": f"{stem}_lr.png", "sr": f"{stem}_sr.png", "hr": f"{stem}_hr.png",
             "lr_error": f"{stem}_lr_error.npy", **metrics}
    for key, img in (("lr", lr), ("sr", sr), ("hr", hr)):
        _write_png(img, images_dir / entry[key])
    with atomic_path(images_dir / entry["lr_error"], suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(lr_error, np.float32))
    return entry


def write_index(images_dir: Path, header: dict[str, Any], entries: list[dict[str, Any]]) -> Path:
    """Write ``index.json`` (header keys plus ``images``) atomically; return its path."""
    path = images_dir / INDEX
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps({**header, "images": entries}, indent=2) + "\n")
    return path
