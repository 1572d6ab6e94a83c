"""Where a generator's gain over interpolation comes from, band by band of spatial frequency.

For every ``--every``-th slice of a prepared test split: ``r = SR - sinc(LR)``, the generator's
residual over windowed-sinc interpolation (the skip of the laptop models), and ``t = HR - sinc(LR)``,
the residual that would be exact. Per band of spatial frequency, ``max(|kx|, |ky|)`` as a fraction
of the HR Nyquist frequency (``lr_band``: below the LR's own Nyquist, 1/scale; ``sr_band``: from
there to twice it, the detail super-resolution adds; ``top``: the rest), summed over slices:

- ``alpha``: ``<r, t> / <r, r>``, the best scale of the generator's residual (1: the right size;
  0.4: two and a half times too strong);
- ``explained``: ``<r, t>^2 / (<r, r> <t, t>)``, the share of the missing energy that the best-scaled
  residual recovers;
- ``size``: ``|r| / |t|``.

Also the mean PSNR over slices (clipped to [0, 1], as ``mri-sr evaluate``) of bicubic, of sinc,
and of the generator with its residual scaled by 0.5 and 1.

``as_evaluated``: the output ``mri-sr evaluate`` scores (self-ensemble of four quarter turns, k-space
data consistency at the manifest's noise level, clipped), its mean squared error split at the LR's
band edge (``lr_band_mse``, ``sr_band_mse``: ``lr_band`` and the rest), ``missing_energy`` (the
HR's energy beyond the LR's band: the error of the exact LR band with nothing beyond it) and
``recovered`` (``1 - sr_band_mse / missing_energy``: the share of that energy the output gets right;
below 0 the detail it adds does more harm than none). With the mean PSNR over slices of the
output and of the two zero-filled LR bands (``zero_fill``: the noisy LR; ``exact_lr_band``: the
noise-free truncation of HR). Prints one JSON object per dataset.

    python benchmarks/residual_bands.py CHECKPOINT PREPARED_FOLDER [PREPARED_FOLDER ...] [--every 3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mri_sr.checkpoint import load_generator
from mri_sr.data.manifest import load_split
from mri_sr.data.degradation import from_row
from mri_sr.resample import imresize, kspace_truncate, kspace_zero_fill
from mri_sr.device import Precision, pick_device
from mri_sr.evaluate.methods import SRMethod, load_method
from mri_sr.metrics import psnr
from mri_sr.nets.upsample import upsample

BANDS = {"lr_band": (0.0, 1.0), "sr_band": (1.0, 2.0), "top": (2.0, np.inf)}  # in units of 1/scale


def _psnr(image: np.ndarray, hr: np.ndarray) -> float:
    """PSNR of the image clipped to [0, 1], as ``mri-sr evaluate`` scores it."""
    return psnr(np.clip(image, 0, 1), hr, data_range=1.0)


def _band_index(shape: tuple[int, ...], scale: int) -> np.ndarray:
    """``max(|kx|, |ky|)`` of each FFT bin in units of 1/scale of the HR Nyquist frequency."""
    ky, kx = (np.abs(np.fft.fftfreq(n)) * 2 * scale for n in shape)
    return np.maximum(ky[:, None], kx[None, :])


def analyse(net: torch.nn.Module, scale: int, items: list[dict]) -> dict:
    sums = {name: np.zeros(3) for name in BANDS}  # <r,t>, <r,r>, <t,t>
    psnr: dict[str, list[float]] = {"bicubic": [], "sinc": [], "residual_x0.5": [], "residual_x1": []}
    for item in items:
        lr, hr = torch.from_numpy(item["lr"][None]), item["hr"][0].astype(np.float64)
        with torch.no_grad():
            sinc = upsample(lr, scale, "sinc")[0, 0].double().numpy()
            sr = net(lr)[0, 0].double().numpy()
        r, t = np.fft.fft2(sr - sinc), np.fft.fft2(hr - sinc)
        k = _band_index(hr.shape, scale)
        for name, (low, high) in BANDS.items():
            band = (k >= low) & (k < high)
            rb, tb = r[band], t[band]
            sums[name] += [float(np.real(np.vdot(rb, tb))), float(np.vdot(rb, rb).real), float(np.vdot(tb, tb).real)]
        psnr["bicubic"].append(_psnr(imresize(item["lr"][0], float(scale)), hr))
        psnr["sinc"].append(_psnr(sinc, hr))
        psnr["residual_x0.5"].append(_psnr(sinc + 0.5 * (sr - sinc), hr))
        psnr["residual_x1"].append(_psnr(sr, hr))
    bands = {name: {"alpha": rt / rr, "explained": rt * rt / (rr * tt), "size": float(np.sqrt(rr / tt))}
             for name, (rt, rr, tt) in sums.items()}
    return {"slices": len(psnr["sinc"]), "bands": bands,
            "psnr": {name: float(np.mean(values)) for name, values in psnr.items()}}


def as_evaluated(method: SRMethod, scale: int, items: list[dict]) -> dict:
    """Error of the output ``mri-sr evaluate --self-ensemble`` scores (``method`` loaded with
    ``self_ensemble=True``), split at the LR's band edge (module docstring)."""
    sums = np.zeros(3)  # LR-band error, beyond-band error, HR energy beyond the band (sums of squares)
    pixels = 0
    psnr: dict[str, list[float]] = {"output": [], "zero_fill": [], "exact_lr_band": []}
    for item in items:
        meta, hr = item["meta"], item["hr"][0].astype(np.float64)
        sr = method.upscale_float(item["lr"][None], from_row(meta).consistency())[0, 0].astype(np.float64)
        beyond = _band_index(hr.shape, scale) >= 1.0
        e, t = np.fft.fft2(sr - hr), np.fft.fft2(hr)
        norm = hr.size  # Parseval: sum |x|^2 = sum |X|^2 / N
        sums += [np.sum(np.abs(e[~beyond]) ** 2) / norm, np.sum(np.abs(e[beyond]) ** 2) / norm,
                 np.sum(np.abs(t[beyond]) ** 2) / norm]
        pixels += hr.size
        noisy_lr = torch.from_numpy(item["lr"][None]).double()
        exact_lr = kspace_truncate(torch.from_numpy(hr)[None, None], scale)
        psnr["output"].append(_psnr(sr, hr))
        psnr["zero_fill"].append(_psnr(kspace_zero_fill(noisy_lr, scale)[0, 0].numpy(), hr))
        psnr["exact_lr_band"].append(_psnr(kspace_zero_fill(exact_lr, scale)[0, 0].numpy(), hr))
    lr_band, sr_band, missing = sums / pixels
    return {"lr_band_mse": lr_band, "sr_band_mse": sr_band, "missing_energy": missing,
            "recovered": 1.0 - sr_band / missing, "psnr": {name: float(np.mean(v)) for name, v in psnr.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("datasets", nargs="+", type=Path)
    parser.add_argument("--every", type=int, default=3, help="use every N-th test slice")
    args = parser.parse_args()
    torch.set_num_threads(2)
    generator = load_generator(args.checkpoint)
    evaluated = load_method(args.checkpoint, generator.scale, Precision.choose(pick_device("cpu"), "auto"),
                            self_ensemble=True)
    for folder in args.datasets:
        items = load_split(folder, "test")[::args.every]
        result = analyse(generator.net.float(), generator.scale, items)
        result["as_evaluated"] = as_evaluated(evaluated, generator.scale, items)
        print(json.dumps({"checkpoint": args.checkpoint, "dataset": str(folder), **result}))


if __name__ == "__main__":
    main()
