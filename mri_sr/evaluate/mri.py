"""MRI evaluation on the test split of a prepared folder (``mri-sr prepare --out``).

Conventions:

- Per slice: PSNR and SSIM (:mod:`mri_sr.metrics`, 11x11 Gaussian SSIM) with ``data_range`` 1 on
  the normalised intensities, no border crop; the SR slice is clipped to [0, 1] first (the range
  of the prepared HR slices).
- Per volume: the test slices of one subject (and time point and axis) sorted by slice index and
  stacked; PSNR over all their voxels (3D MSE), SSIM the mean of the slices' 2D SSIM, LR
  consistency over all their LR voxels.
- Foreground mask (``mask=True``): HR > 0.05 (``prepare``'s foreground level) dilated by 3 pixels
  (3x3 square structuring element, 3 iterations). Masked PSNR uses the MSE over mask pixels;
  masked SSIM is the SSIM of the bounding box of the volume's mask (union over its test slices,
  at least 11x11 pixels), the same box for every slice of the volume.
- Example images (``images_dir``) are rotated by 90 degrees (``np.rot90``), so that the RAS
  slices of ``prepare`` show anterior (axial, sagittal) or superior (coronal, sagittal) up.
- Image names are ``vol{k}_s{slice}``, ``k`` the volume's rank among the sorted subjects: file names
  (which may name a patient) stay out of image names; only ``volumes[].subject`` holds them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import binary_dilation

from mri_sr.data.degradation import Degradation, from_row
from mri_sr.data.manifest import load_split
from mri_sr.data.normalize import FOREGROUND_LEVEL
from mri_sr.errors import MriSrError
from mri_sr.evaluate import json_float, summarise
from mri_sr.evaluate.consistency import mri_degradation, mri_lr_consistency
from mri_sr.evaluate.methods import SRMethod
from mri_sr.evaluate.samples import NUM_SAMPLES, write_index, write_sample
from mri_sr.metrics import hfen_batch, per_slice, psnr, psnr_batch, ssim_batch

log = logging.getLogger(__name__)

MASK_DILATION = 3  # pixels
_SSIM_MIN = 11  # SSIM window side
_SAMPLE_GAP = 5  # slices between two example slices of one volume


def is_prepared(dataset: str) -> bool:
    """True for a folder holding a ``manifest.csv`` (a prepared folder)."""
    return (Path(dataset) / "manifest.csv").is_file()


def foreground_mask(hr: np.ndarray) -> np.ndarray:
    """(H, W) bool: HR > 0.05, dilated by :data:`MASK_DILATION` pixels (square element)."""
    return binary_dilation(hr > FOREGROUND_LEVEL, structure=np.ones((3, 3), bool), iterations=MASK_DILATION)


def _span(hits: np.ndarray, size: int) -> slice:
    """Index range covering ``hits``, widened symmetrically to at least the SSIM window."""
    low, high = int(hits[0]), int(hits[-1]) + 1
    missing = max(0, _SSIM_MIN - (high - low))
    low = max(0, low - missing // 2 - missing % 2)
    return slice(low, min(size, max(high + missing // 2, low + _SSIM_MIN)))


def _flat(stack: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N * H, W): a 3D PSNR is the 2D PSNR of the stacked rows (same MSE)."""
    return stack.reshape(-1, stack.shape[-1])


def _volume_metrics(sr: np.ndarray, hr: np.ndarray, lr: np.ndarray, degradation: Degradation,
                    mask: bool) -> dict[str, Any]:
    """Per-slice and per-volume metrics of one volume's test slices.

    Args:
        sr, hr: (N, H, W) float32 in [0, 1], slices in order along the axis.
        lr: (N, H / s, W / s) float32 in [0, 1].
        degradation: the prepared degradation without noise.
        mask: also the foreground-mask metrics.

    Returns:
        ``{"slices": {metric: (N,) values}, "volume": {metric: value}, "lr_error": (N, h, w)}``.
    """
    consistency, error = mri_lr_consistency(sr, lr, degradation)
    slices = {"psnr": per_slice(psnr_batch, sr, hr), "ssim": per_slice(ssim_batch, sr, hr),
              "hfen": per_slice(hfen_batch, sr, hr), "lr_consistency_psnr": consistency}
    volume = {"psnr": psnr(_flat(sr), _flat(hr), 1.0), "ssim": float(slices["ssim"].mean()),
              "lr_consistency_psnr": psnr(_flat(error), np.zeros_like(_flat(error)), 1.0)}
    if mask:
        fg = np.stack([foreground_mask(h) for h in hr])
        slices["masked_psnr"] = np.array([psnr(s[m][None], h[m][None], 1.0) if m.any() else np.nan
                                          for s, h, m in zip(sr, hr, fg)])
        if fg.any():
            union = fg.any(axis=0)
            box = (_span(np.flatnonzero(union.any(axis=1)), union.shape[0]),
                   _span(np.flatnonzero(union.any(axis=0)), union.shape[1]))
            slices["masked_ssim"] = per_slice(ssim_batch, sr[:, box[0], box[1]], hr[:, box[0], box[1]])
            volume["masked_psnr"] = psnr(sr[fg][None], hr[fg][None], 1.0)
        else:
            slices["masked_ssim"] = np.full(len(sr), np.nan)
            volume["masked_psnr"] = None
    return {"slices": slices, "volume": volume, "lr_error": error.astype(np.float32)}


def _volumes(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Group slices by (subject, time point, axis), each sorted by slice index, in subject order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        meta = item["meta"]
        groups[(meta["subject"], meta["volume_index"], meta["axis"])].append(item)
    return [(key[0], sorted(groups[key], key=lambda it: int(it["meta"]["slice_index"]))) for key in sorted(groups)]


def _pick_samples(volumes: list[tuple[str, list[dict[str, Any]]]]) -> set[tuple[int, int]]:
    """(volume rank, slice index) of the example slices: most HR foreground first, spread apart."""
    ranked = sorted(((-float((it["hr"] > FOREGROUND_LEVEL).mean()), k, int(it["meta"]["slice_index"]))
                     for k, (_, slices) in enumerate(volumes) for it in slices))
    picked: list[tuple[int, int]] = []
    for gap in (_SAMPLE_GAP, 1):  # spread apart where the split is long enough, else any
        for _, k, index in ranked:
            if len(picked) < NUM_SAMPLES and all(k != pk or abs(index - pi) >= gap for pk, pi in picked):
                picked.append((k, index))
    return set(picked)


def _check(method: SRMethod, folder: Path, items: list[dict[str, Any]], scale: int) -> None:
    scales = {int(it["meta"]["scale"]) for it in items}
    if scales != {scale}:
        found = ", ".join(f"x{s}" for s in sorted(scales))
        raise MriSrError(f"{folder / 'manifest.csv'}: prepared for {found}, but the evaluation scale is x{scale}")
    if method.in_channels not in (None, 1):
        raise MriSrError(f"{method.source}: generator takes {method.in_channels} channels; "
                         f"MRI slices in {folder} have 1")
    norm = (method.info or {}).get("normalisation")
    meta = items[0]["meta"]
    if norm and (float(norm["low_percentile"]), float(norm["high_percentile"])) != (
            float(meta["norm_low_percentile"]), float(meta["norm_high_percentile"])):
        log.warning("%s was trained on intensities normalised at percentiles %s-%s; %s uses %s-%s",
                    method.source, norm["low_percentile"], norm["high_percentile"], folder,
                    meta["norm_low_percentile"], meta["norm_high_percentile"])


def evaluate_mri(method: SRMethod, dataset: str, scale: int, *, mask: bool,
                 images_dir: Path | None, data_consistency: bool = True) -> dict[str, Any]:
    """PSNR/SSIM (per slice and per volume) and LR consistency on a prepared test split.

    Args:
        method: the SR callable (classical, or a one-channel generator of this scale).
        dataset: prepared folder; its ``test`` split is used.
        scale: SR factor; must be the folder's.
        mask: also report metrics inside the foreground mask (under ``masked``).
        images_dir: where to save :data:`NUM_SAMPLES` example slices for the report, or None.
        data_consistency: project a generator's output onto its LR with the manifest
            degradation's data-consistency projection, where it has one
            (:meth:`~mri_sr.data.degradation.Degradation.consistency`); classical methods are
            measured as they are.

    Returns:
        The metrics without the method fields: ``dataset`` (``mri:{folder name}``), ``kind``,
        ``psnr``, ``ssim``, ``lr_consistency_psnr`` (means over slices) and their ``_std``,
        ``images``, ``volumes``, ``volume_psnr``, ``volume_ssim``, ``masked`` (if asked),
        ``degradation``, ``data_consistency`` (``{"noise_sigma": ...}`` or None) and ``convention``.

    Raises:
        MriSrError: no test split, another scale, or a generator that is not single-channel.
    """
    folder = Path(dataset)
    items = load_split(folder, "test")
    _check(method, folder, items, scale)
    name = f"mri:{folder.resolve().name}"
    volumes = _volumes(items)
    chosen = _pick_samples(volumes) if images_dir is not None else set()
    use_consistency = data_consistency and method.kind == "checkpoint"
    rows: list[dict[str, Any]] = []
    volume_rows: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for k, (subject, slices) in enumerate(volumes):
        lr = np.stack([it["lr"][0] for it in slices])
        hr = np.stack([it["hr"][0] for it in slices])
        meta = slices[0]["meta"]
        projection = from_row(meta).consistency() if use_consistency else None
        sr = method.upscale_float(lr[:, None], projection)[:, 0]
        if sr.shape != hr.shape:
            raise MriSrError(f"{folder}: SR slices are {sr.shape[1:]}, HR slices {hr.shape[1:]}")
        metrics = _volume_metrics(sr, hr, lr, mri_degradation(slices[0]["meta"]), mask)
        vol_rows = []
        for i, item in enumerate(slices):
            index = int(item["meta"]["slice_index"])
            row = {"name": f"vol{k:02d}_s{index:03d}", "volume": f"vol{k:02d}", "slice_index": index,
                   **{key: json_float(values[i]) for key, values in metrics["slices"].items()}}
            vol_rows.append(row)
            if (k, index) in chosen:
                shown = [np.rot90(a[i]) for a in (lr, sr, hr, metrics["lr_error"])]  # RAS: anterior/superior up
                picked = {key: row[key] for key in ("psnr", "ssim", "lr_consistency_psnr")}
                samples.append(write_sample(images_dir, row["name"], *shown, picked))
        volume_rows.append({"name": f"vol{k:02d}", "subject": subject, "slices": len(slices),
                            **{key: json_float(value) for key, value in metrics["volume"].items()}})
        rows.extend(vol_rows)
    if images_dir is not None:
        write_index(images_dir, {"method": method.name, "dataset": name, "scale": scale, "kind": "mri"}, samples)
    result: dict[str, Any] = {
        "dataset": name, "kind": "mri", "images": rows, **summarise(rows, ("psnr", "ssim", "hfen", "lr_consistency_psnr")),
        "volumes": volume_rows,
        "volume_psnr": summarise(volume_rows, ("psnr",))["psnr"],
        "volume_ssim": summarise(volume_rows, ("ssim",))["ssim"],
        "degradation": mri_degradation(items[0]["meta"]).to_dict(),
        # one degradation per prepared folder: the last volume's projection is every volume's
        "data_consistency": projection.to_dict() if projection is not None else None,
        "convention": {"data_range": 1.0, "crop_border": 0, "sr_clipped_to": [0.0, 1.0],
                       "volume_psnr": "3D, over all test voxels of the volume",
                       "volume_ssim": "mean of the 2D slice SSIMs", "ssim": "11x11 Gaussian, sigma 1.5",
                       "hfen": "||LoG(sr - hr)|| / ||LoG(hr)||, 15x15 LoG sigma 1.5 px, per slice",
                       "lr_consistency": "manifest degradation without noise, PSNR against LR"},
    }
    if mask:
        stats = summarise(rows, ("masked_psnr", "masked_ssim"))
        result["masked"] = {
            "psnr": stats["masked_psnr"], "psnr_std": stats["masked_psnr_std"],
            "ssim": stats["masked_ssim"], "ssim_std": stats["masked_ssim_std"],
            "volume_psnr": summarise(volume_rows, ("masked_psnr",))["masked_psnr"],
            "definition": f"HR > {FOREGROUND_LEVEL} dilated by {MASK_DILATION} px (3x3 square); PSNR over mask "
                          "pixels, SSIM over the bounding box of the volume's mask",
        }
    return result
