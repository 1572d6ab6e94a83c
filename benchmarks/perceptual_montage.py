"""Crop montage of MRI test slices: bicubic and SR generators side by side with HR.

    python benchmarks/perceptual_montage.py --data results/data/x4 --out montage.png \
        --run "no perceptual=runs/srgan_noperc/final.pt" --run "MRI features=runs/srgan_mri/final.pt"

Prints JSON: per column, PSNR / SSIM of each crop (data_range 1, as mri-sr evaluate).
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from mri_sr.checkpoint import load_generator
from mri_sr.data.manifest import load_split
from mri_sr.resample import imresize_torch
from mri_sr.device import Precision
from mri_sr.inference import Inference
from mri_sr.metrics import psnr, ssim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--run", action="append", default=[], help="LABEL=checkpoint")
    parser.add_argument("--slices", type=int, nargs="+", default=[5, 15], help="test slice indices")
    parser.add_argument("--crop", type=int, default=80, help="HR crop side (pixels), around the slice centre")
    args = parser.parse_args()
    items = load_split(args.data, "test")
    runs = [tuple(r.split("=", 1)) for r in args.run]
    precision = Precision(torch.device("cpu"), "fp32")
    nets = {label: Inference(load_generator(path).net, precision) for label, path in runs}
    columns = ["bicubic", *nets, "HR"]
    fig, axes = plt.subplots(len(args.slices), len(columns), figsize=(2.4 * len(columns), 2.5 * len(args.slices)),
                             squeeze=False, layout="constrained")
    scores: dict[str, list] = {c: [] for c in columns[:-1]}
    for row, index in enumerate(args.slices):
        lr = torch.from_numpy(items[index]["lr"])[None]
        hr = items[index]["hr"][0]
        outputs = {"bicubic": imresize_torch(lr.double(), scale=hr.shape[-1] // lr.shape[-1]).float()}
        outputs |= {label: net(lr) for label, net in nets.items()}
        cy, cx, half = hr.shape[0] // 2, hr.shape[1] // 2, args.crop // 2
        window = (slice(cy - half, cy + half), slice(cx - half, cx + half))
        for col, label in enumerate(columns):
            image = hr if label == "HR" else outputs[label][0, 0].clamp(0, 1).numpy()
            crop = image[window]
            title = label
            if label != "HR":
                p, s = psnr(crop, hr[window], 1.0), ssim(crop, hr[window], 1.0)
                scores[label].append({"slice": index, "psnr": round(p, 3), "ssim": round(s, 4)})
                title = f"{label}\n{p:.2f} dB / {s:.3f}"
            axes[row, col].imshow(np.asarray(crop), cmap="gray", vmin=0, vmax=1)
            axes[row, col].set_title(title, fontsize=8)
            axes[row, col].axis("off")
    fig.savefig(args.out, dpi=110)
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
