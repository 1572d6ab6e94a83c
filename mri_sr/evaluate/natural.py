"""Natural-image benchmarks (Set5, Set14, BSD100, Urban100, DIV2K-valid) in the published convention.

Folder layout (as distributed with the SwinIR / BasicSR test sets)::

    DATASET/HR/{name}.png
    DATASET/LR_bicubic/X{S}/{name}x{S}.png     optional

Each HR image is cropped to a multiple of S (``modcrop``); its LR image is read when present
(it must be exactly HR / S in size) or else made with MATLAB bicubic in uint8 mode, which is
bit-identical to MATLAB ``imresize``. Grey images are stacked to RGB and an alpha channel is
dropped (as OpenCV's colour reading, which BasicSR uses, does). The SR output is an 8-bit RGB
image (:meth:`~mri_sr.evaluate.methods.SRMethod.upscale_rgb`), measured by
:func:`mri_sr.metrics.benchmark_psnr_ssim`: BT.601 Y (MATLAB ``rgb2ycbcr``), a border of S pixels
cropped, PSNR on [0, 255], SSIM with an 11x11 Gaussian window, sigma 1.5.

``builtin:skimage`` is an offline set of the colour photographs bundled in scikit-image's wheel
(:data:`BUILTIN_SKIMAGE`), used in the same way with LR made on the fly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from mri_sr.errors import MriSrError, one_line
from mri_sr.evaluate import json_float, summarise
from mri_sr.evaluate.consistency import natural_lr_consistency
from mri_sr.evaluate.methods import SRMethod
from mri_sr.evaluate.samples import NUM_SAMPLES, write_index, write_sample
from mri_sr.metrics import benchmark_hfen, benchmark_psnr_ssim
from mri_sr.resample import imresize

log = logging.getLogger(__name__)

BUILTIN = "builtin:skimage"
BUILTIN_SKIMAGE = ("astronaut", "chelsea", "coffee", "rocket")
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass
class BenchmarkImage:
    """One HR/LR pair.

    Attributes:
        name: image name (file stem).
        hr: (H, W, 3) uint8 RGB, H and W multiples of the scale.
        lr: (H / scale, W / scale, 3) uint8 RGB.
        lr_source: ``"file"`` (read from LR_bicubic) or ``"matlab_bicubic"`` (made here).
    """

    name: str
    hr: np.ndarray
    lr: np.ndarray
    lr_source: str


def is_benchmark(dataset: str) -> bool:
    """True for ``builtin:skimage`` or a folder with an ``HR`` subfolder."""
    return dataset == BUILTIN or (Path(dataset) / "HR").is_dir()


def read_rgb(path: Path) -> np.ndarray:
    """Read an 8-bit image as (H, W, 3) uint8 RGB (grey stacked, alpha dropped).

    Raises:
        MriSrError: unreadable, or not 8 bits per channel.
    """
    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "LA", "P", "RGB", "RGBA"):
                raise MriSrError(f"{path}: {img.mode} image; benchmarks need 8-bit grey or RGB images")
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise MriSrError(f"{path}: not a readable image ({one_line(exc)})") from None


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right so that height and width are multiples of ``scale``."""
    return img[: img.shape[0] // scale * scale, : img.shape[1] // scale * scale]


def _pair(name: str, hr: np.ndarray, scale: int, lr_path: Path | None) -> BenchmarkImage:
    hr = modcrop(hr, scale)
    if min(hr.shape[:2]) < 2 * scale + 11:
        raise MriSrError(f"{name}: {hr.shape[0]}x{hr.shape[1]} image is too small to measure at x{scale}")
    expected = (hr.shape[0] // scale, hr.shape[1] // scale)
    if lr_path is not None and lr_path.is_file():
        lr = read_rgb(lr_path)
        if lr.shape[:2] != expected:
            raise MriSrError(f"{lr_path}: LR image is {lr.shape[0]}x{lr.shape[1]}, expected "
                             f"{expected[0]}x{expected[1]} (HR cropped to a multiple of {scale}, / {scale})")
        return BenchmarkImage(name, hr, lr, "file")
    return BenchmarkImage(name, hr, imresize(hr, output_shape=expected), "matlab_bicubic")


def load_benchmark(dataset: str, scale: int) -> tuple[str, list[BenchmarkImage]]:
    """Read a benchmark folder (or ``builtin:skimage``) at one scale.

    Returns:
        ``(dataset_name, images)``: the folder's name (``skimage`` for the builtin set) and the
        pairs sorted by name.

    Raises:
        MriSrError: no HR images, or an unreadable or mis-sized image (named).
    """
    if dataset == BUILTIN:
        import skimage.data

        return "skimage", [_pair(n, getattr(skimage.data, n)(), scale, None) for n in BUILTIN_SKIMAGE]
    folder = Path(dataset)
    paths = sorted(p for p in (folder / "HR").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise MriSrError(f"{folder / 'HR'}: no images ({', '.join(IMAGE_SUFFIXES)})")
    lr_dir = folder / "LR_bicubic" / f"X{scale}"
    if not lr_dir.is_dir():
        log.info("%s missing: making LR images with MATLAB-compatible bicubic", lr_dir)
    images = []
    for path in paths:
        lr_path = next((p for p in (lr_dir / f"{path.stem}x{scale}{path.suffix}", lr_dir / f"{path.stem}x{scale}.png")
                        if p.is_file()), None)
        images.append(_pair(path.stem, read_rgb(path), scale, lr_path))
    return folder.resolve().name, images


def evaluate_natural(method: SRMethod, dataset: str, scale: int, images_dir: Path | None) -> dict[str, Any]:
    """PSNR/SSIM and LR consistency of ``method`` on a benchmark, in the published convention.

    Args:
        method: the SR callable.
        dataset: benchmark folder or ``builtin:skimage``.
        scale: SR factor.
        images_dir: where to save the first :data:`NUM_SAMPLES` images (by name) for the
            report, or None.

    Returns:
        The metrics (``dataset``, ``kind``, ``psnr``, ``ssim``, ``hfen``, ``lr_consistency_psnr``, their
        ``_std``, ``images``, ``convention``) without the method fields.
    """
    name, images = load_benchmark(dataset, scale)
    rows, samples = [], []
    for i, image in enumerate(images):
        sr = method.upscale_rgb(image.lr)
        psnr_db, ssim_value = benchmark_psnr_ssim(sr, image.hr, scale)
        consistency, error = natural_lr_consistency(sr, image.lr, scale)
        row = {"name": image.name, "psnr": json_float(psnr_db), "ssim": json_float(ssim_value),
               "hfen": json_float(benchmark_hfen(sr, image.hr, scale)),
               "lr_consistency_psnr": json_float(consistency), "lr_source": image.lr_source}
        rows.append(row)
        if images_dir is not None and i < NUM_SAMPLES:
            metrics = {k: row[k] for k in ("psnr", "ssim", "lr_consistency_psnr")}
            samples.append(write_sample(images_dir, image.name, image.lr, sr, image.hr, error, metrics))
    if images_dir is not None:
        write_index(images_dir, {"method": method.name, "dataset": name, "scale": scale, "kind": "natural"}, samples)
    channels = "rgb" if method.in_channels in (None, 3) else "y (bicubic cb/cr)"
    return {
        "dataset": name, "kind": "natural", "images": rows,
        **summarise(rows, ("psnr", "ssim", "hfen", "lr_consistency_psnr")),
        "convention": {"channels_fed": channels, "sr_rounded_to": "uint8", "metric_channel": "Y (BT.601, 16-235)",
                       "crop_border": scale, "data_range": 255, "ssim": "11x11 Gaussian, sigma 1.5",
                       "hfen": "||LoG(sr - hr)|| / ||LoG(hr)||, 15x15 LoG sigma 1.5 px, Y channel"},
    }
