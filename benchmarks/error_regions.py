"""Where in the head a generator beats bicubic: its squared error against bicubic's, region by region.

For every ``--every``-th slice of a prepared test split, the generator's raw output (one pass, no
self-ensemble, no data consistency, clipped to [0, 1]) and bicubic's, both against HR. Regions per
slice: ``outside`` the head (the HR blurred by 2 pixels below 0.08, holes filled), the head's
``rim`` (head pixels at most ``--rim`` pixels from its edge: scalp, skull and the outer cortex)
and its ``inside`` (the rest: the brain). Per region, summed over slices: ``ratio``, the
generator's squared error over bicubic's (below 1: the generator is better there), and
``bicubic_share``, the region's share of bicubic's whole squared error. Also the mean PSNR gain
over slices. Prints one JSON object per dataset.

    python benchmarks/error_regions.py CHECKPOINT PREPARED_FOLDER [PREPARED_FOLDER ...] [--every 4]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import binary_fill_holes, distance_transform_edt, gaussian_filter

from mri_sr.checkpoint import load_checkpoint
from mri_sr.data.manifest import load_split
from mri_sr.device import Precision, cpu_supports_bf16
from mri_sr.evaluate.methods import load_method
from mri_sr.metrics import psnr

HEAD_LEVEL = 0.08


def regions(hr: np.ndarray, rim: int) -> dict[str, np.ndarray]:
    """Boolean masks ``outside``, ``rim`` and ``inside`` of one (H, W) HR slice in [0, 1]."""
    head = binary_fill_holes(gaussian_filter(hr, 2.0) > HEAD_LEVEL)
    depth = distance_transform_edt(head)
    return {"outside": ~head, "rim": head & (depth <= rim), "inside": depth > rim}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("datasets", nargs="+", type=Path, help="prepared folders (test split)")
    parser.add_argument("--every", type=int, default=4, help="score every N-th test slice")
    parser.add_argument("--rim", type=int, default=15, help="depth of the head's rim, HR pixels")
    args = parser.parse_args()
    scale = int(load_checkpoint(args.checkpoint)["scale"])
    precision = Precision.choose(torch.device("cpu"))
    net = load_method(str(args.checkpoint), scale, precision)
    bicubic = load_method("bicubic", scale, precision)
    for folder in args.datasets:
        items = load_split(folder, "test")[::args.every]
        errors = {name: np.zeros(2) for name in ("outside", "rim", "inside")}  # generator, bicubic
        gains = []
        for item in items:
            lr, hr = item["lr"][None], item["hr"][0]
            sr = np.clip(net.upscale_float(lr, None)[0, 0], 0, 1)
            bi = np.clip(bicubic.upscale_float(lr, None)[0, 0], 0, 1)
            gains.append(psnr(sr, hr, data_range=1.0) - psnr(bi, hr, data_range=1.0))
            for name, mask in regions(hr, args.rim).items():
                errors[name] += [float(((sr - hr) ** 2)[mask].sum()), float(((bi - hr) ** 2)[mask].sum())]
        total = sum(e[1] for e in errors.values())
        print(json.dumps({"checkpoint": str(args.checkpoint), "dataset": str(folder), "scale": scale,
                          "slices": len(items), "precision": precision.mode, "cpu_bf16": cpu_supports_bf16(),
                          "psnr_gain": round(float(np.mean(gains)), 3),
                          "regions": {name: {"ratio": round(e[0] / e[1], 3), "bicubic_share": round(e[1] / total, 3)}
                                      for name, e in errors.items()}}))


if __name__ == "__main__":
    main()
