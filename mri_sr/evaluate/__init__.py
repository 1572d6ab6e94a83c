"""``evaluate``: PSNR/SSIM and LR consistency of one method on one dataset at one scale -> JSON.

The dataset decides the convention: a prepared folder (``manifest.csv``) is measured as MRI
(:mod:`mri_sr.evaluate.mri`), a benchmark folder (``HR/``) or ``builtin:skimage`` as published SR
tables are (:mod:`mri_sr.evaluate.natural`). Both give per-image rows that :func:`summarise`
aggregates for the metrics JSON (:func:`json_float` keeps it valid JSON); the two evaluators import
these from here, so :func:`evaluate` imports them when it runs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mri_sr import __version__
from mri_sr.device import Precision, pick_device
from mri_sr.errors import MriSrError
from mri_sr.evaluate.methods import SRMethod, load_method
from mri_sr.resample import CLASSICAL
from mri_sr.fsutil import atomic_path, check_output_file, check_output_folder, refuse_overwriting_input

log = logging.getLogger(__name__)


def json_float(value: float | None) -> float | None:
    """A float for JSON: ``None`` for NaN and infinity (identical images), else the value."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def summarise(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float | None]:
    """Mean and standard deviation (over rows, ddof 0) of each key.

    Args:
        rows: per-image (or per-volume) dicts holding the keys; a ``None`` value (infinite PSNR or
            an empty mask) is left out of that key's statistics.
        keys: metric names, e.g. ``("psnr", "ssim")``.

    Returns:
        ``{key: mean, key_std: std}``; ``None`` for keys with no values.
    """
    out: dict[str, float | None] = {}
    for key in keys:
        values = np.array([r[key] for r in rows if r.get(key) is not None], dtype=np.float64)
        out[key] = float(values.mean()) if values.size else None
        out[f"{key}_std"] = float(values.std()) if values.size else None
    return out


def evaluate(method: str, dataset: str, scale: int, out: str, *, name: str | None = None, device: str = "auto",
             precision: str = "auto", mask: bool = False, images_dir: str | None = None,
             data_consistency: bool = True, self_ensemble: bool = False) -> dict[str, Any]:
    """Evaluate one SR method on one dataset and write the metrics JSON atomically.

    Args:
        method: ``bicubic``, ``nearest``, ``lanczos`` or a generator checkpoint path.
        dataset: a prepared folder (its ``test`` split; MRI convention), a benchmark folder with
            ``HR/*.png`` (published SR-table convention), or ``builtin:skimage``.
        scale: SR factor (2, 3 or 4); a checkpoint or prepared folder of another scale is an error.
        out: metrics JSON path.
        name: method name in the JSON (default: the classical method, or the checkpoint's model).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` for a generator.
        precision: autocast of a generator (``auto``, ``fp32``, ``bf16``, ``fp16``; see
            :mod:`mri_sr.device`); metrics are computed in fp32 either way.
        mask: MRI only: also report metrics inside the foreground mask (``masked``).
        images_dir: folder for a few LR / SR / HR example images and ``index.json``.
        data_consistency: MRI only: project a generator's output onto its LR with the prepared
            degradation's data-consistency projection
            (:meth:`mri_sr.data.degradation.Degradation.consistency`: k-space degradations
            without blur, at their noise level).
        self_ensemble: a generator averages its outputs over the four quarter turns of
            each input (recorded as ``self_ensemble``; always False for classical methods).

    Returns:
        The metrics written: ``method``, ``dataset``, ``scale``, ``kind`` (``mri`` | ``natural``),
        ``psnr``, ``ssim``, ``lr_consistency_psnr`` (means over images, dB / unitless), their
        ``_std``, ``precision`` (of a generator; ``fp32`` for classical methods), ``images`` (per image: ``name``, ``psnr``, ``ssim``, ``lr_consistency_psnr``),
        MRI extras (``volumes``, ``volume_psnr``, ``volume_ssim``, ``masked``), ``device``,
        ``seconds`` (wall time), ``images_dir`` (relative to the JSON's folder) and provenance.

    Raises:
        MriSrError: an unknown method or dataset, a mismatched checkpoint (named), or an ``out``
            or ``images_dir`` that cannot be written or would replace, or lie inside, an input.
    """
    from mri_sr.evaluate.mri import evaluate_mri, is_prepared
    from mri_sr.evaluate.natural import BUILTIN, evaluate_natural, is_benchmark

    start = time.perf_counter()
    inputs = (dataset, None if method in CLASSICAL else method)
    check_output_file(out)
    refuse_overwriting_input(out, inputs)
    if images_dir:
        check_output_folder(images_dir, "--images")
        refuse_overwriting_input(images_dir, inputs)
    if not (dataset == BUILTIN or is_prepared(dataset) or is_benchmark(dataset)):
        raise MriSrError(f"{dataset}: not a prepared folder (manifest.csv), a benchmark folder (HR/), nor {BUILTIN}")
    chosen = Precision.choose(pick_device(device), precision) if method not in CLASSICAL else None
    sr_method: SRMethod = load_method(method, scale, chosen, name=name, self_ensemble=self_ensemble)
    images_path = Path(images_dir) if images_dir else None
    if is_prepared(dataset):
        metrics = evaluate_mri(sr_method, dataset, scale, mask=mask, images_dir=images_path,
                               data_consistency=data_consistency)
    else:
        if mask:
            log.warning("--mask applies to MRI datasets only; ignored for %s", dataset)
        metrics = evaluate_natural(sr_method, dataset, scale, images_path)
    out_path = Path(out)
    result = {
        "method": sr_method.name, "dataset": metrics.pop("dataset"), "scale": scale, "kind": metrics.pop("kind"),
        "psnr": metrics.pop("psnr"), "ssim": metrics.pop("ssim"),
        "lr_consistency_psnr": metrics.pop("lr_consistency_psnr"),
        **{k: v for k, v in metrics.items() if k != "images"},
        "method_source": method, "dataset_path": dataset, "checkpoint": sr_method.info,
        "device": str(chosen.device) if chosen is not None else "cpu",
        "precision": chosen.mode if chosen is not None else "fp32",
        "self_ensemble": self_ensemble and sr_method.kind == "checkpoint",
        "seconds": round(time.perf_counter() - start, 3), "version": __version__,
        "images_dir": os.path.relpath(images_path.resolve(), out_path.resolve().parent) if images_path else None,
        "images": metrics["images"],
    }
    with atomic_path(out_path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s on %s x%d: PSNR %.2f dB, SSIM %.4f (%d images, %.1f s)", result["method"], result["dataset"],
             scale, result["psnr"] or float("nan"), result["ssim"] or float("nan"), len(result["images"]),
             result["seconds"])
    return result


__all__ = ["evaluate", "json_float", "summarise"]
