"""Model cards: what a shipped generator is, what it was trained on and for how long, how much it
gains over bicubic on real scans it never saw, and what it is not for.

:func:`write_model_card` reads a training run folder (``final.pt``, ``summary.json``) and the
metrics JSON files that ``mri-sr evaluate`` wrote for the generator and for bicubic on each test
set (``<metrics>/scan-<name>/<method>.json``, the workflow's layout); the card holds no scan paths
or subject ids, only the test sets' names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mri_sr import __version__
from mri_sr.checkpoint import load_checkpoint
from mri_sr.data.pairs import DEFAULTS as PAIR_DEFAULTS
from mri_sr.errors import MriSrError
from mri_sr.fsutil import atomic_path, check_output_file, file_sha256
from mri_sr.report.collect import load_metrics

NOT_FOR = (
    "- Contrasts, anatomy and field strengths it has not been checked on: it was trained on synthetic "
    "contrasts of one adult brain template and checked on adult brain T1-weighted scans only "
    "(not on T2, FLAIR, diffusion, neonatal or pathological brains, other organs, or 7 T data).\n"
    "- Degradations other than the one it learnt: LR made by central k-space truncation (or bicubic "
    "downsampling) with Rician noise; not motion, aliasing, or slice profiles through the slice "
    "(use `mri-sr throughplane` for thick slices).\n"
    "- Diagnosis: its output is an estimate. Detail it adds beyond the LR's k-space band is "
    "learnt from training images, not measured.\n")


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MriSrError(f"{path}: not found (the run has not finished)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MriSrError(f"{path}: unreadable run summary ({type(exc).__name__})") from None


def gains_table(metrics: Path, scans: list[str], method: str) -> str:
    """A Markdown table of each test set's slices, bicubic and model PSNR, gain and SSIMs, with the
    mean gain.

    Args:
        metrics: folder holding ``scan-<name>/<method>.json`` and ``scan-<name>/bicubic.json``.
        scans: test-set names.
        method: the generator's method name in that layout.

    Raises:
        MriSrError: a missing or unreadable metrics file, or one without PSNR.
    """
    rows = []
    for scan in scans:
        model = load_metrics(metrics / f"scan-{scan}" / f"{method}.json")
        bicubic = load_metrics(metrics / f"scan-{scan}" / "bicubic.json")
        if model.get("psnr") is None or bicubic.get("psnr") is None:
            raise MriSrError(f"{metrics / f'scan-{scan}'}: metrics without a PSNR")
        rows.append({"scan": scan, "slices": len(model.get("images", [])), "bicubic": bicubic["psnr"],
                     "psnr": model["psnr"], "gain": model["psnr"] - bicubic["psnr"],
                     "ssim_bicubic": bicubic.get("ssim"), "ssim": model.get("ssim")})
    lines = ["| test set (slices) | bicubic PSNR | model PSNR | gain | SSIM bicubic / model |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['scan']} ({row['slices']}) | {row['bicubic']:.2f} | {row['psnr']:.2f} | "
                     f"{row['gain']:+.2f} | {row['ssim_bicubic']:.3f} / {row['ssim']:.3f} |")
    if rows:
        mean = sum(r["gain"] for r in rows) / len(rows)
        lines.append(f"| **mean** | | | **{mean:+.2f}** | |")
    return "\n".join(lines)


def write_model_card(run: str | Path, metrics: str | Path, scans: list[str], name: str, out: str | Path, *,
                     method: str | None = None) -> Path:
    """Write the Markdown model card of a training run's ``final.pt``.

    Args:
        run: the run folder (``final.pt``, ``summary.json``).
        metrics: the metrics folder of the run's scale (see :func:`gains_table`).
        scans: test sets for the gains table (real scans it never saw).
        name: the shipped model's name.
        out: the card (``.md``).
        method: the run's method name in the metrics layout (default: the run folder's name).

    Raises:
        MriSrError: missing run files or metrics, or an unwritable ``out``.
    """
    run, metrics, out = Path(run), Path(metrics), Path(out)
    check_output_file(out)
    checkpoint = load_checkpoint(run / "final.pt")
    summary = _read_summary(run / "summary.json")
    config = checkpoint.get("config") or {}
    tc = config.get("train", {})
    spec = checkpoint.get("net_g_spec") or {}
    parameters = sum(t.numel() for t in checkpoint["nets"]["net_g"].values()) if "nets" in checkpoint else None
    table = gains_table(metrics, scans, method or run.name)
    anatomy = tc.get("synthetic_anatomy")
    zoom = (tc.get("random_degradation") or {}).get("zoom", PAIR_DEFAULTS["zoom"])
    data = ("endless synthetic anatomy (`train.synthetic_anatomy`: a fresh slice per sample from the "
            "MNI152 2009 template's tissue maps, shipped in nilearn; random slice direction, rotation, "
            "stretch, deformation, folds and sulci, tissue intensities including inverted contrasts, "
            "bias field, noise, layers of the head outside the brain where its options set them; "
            f"options {json.dumps(anatomy)})" if anatomy is not None
            else "the prepared slices of its data folder")
    text = f"""# {name}: x{checkpoint['scale']} in-plane MRI super-resolution

- File: `{name}.pt`, sha256 `{file_sha256(run / 'final.pt')}`
- Network: `{json.dumps(spec)}`{f', {parameters:,} parameters' if parameters else ''}
- Made by mri-sr {summary.get('version', __version__)} (`snakemake --cores 2 --configfile configs/general.yaml ship_models`)

## Training
- Data: {data}. Voxel size (HR voxels {zoom[0]:g} to {zoom[1]:g} times the template's 1 mm), LR degradation
  (k-space truncation or bicubic, blur, Rician noise) and MONAI augmentation are drawn per sample around
  the prepared degradation ({json.dumps(checkpoint.get('degradation', {}))}).
- No real scan of a person was used for training.
- Budget: {summary['iterations']} iterations of {tc.get('batch_size')} patches of {tc.get('lr_patch_size')}x{tc.get('lr_patch_size')} LR pixels,
  {summary['wall_seconds'] / 60:.0f} min on {summary['device']}, {summary['precision']}; final = {summary['final']} (iteration {summary['final_iteration']}).
- Loss: {json.dumps(config.get('losses', {}).get('weights', {}))}; learning rate {tc.get('learning_rate')}, milestones {tc.get('lr_milestones')}.

## Gains on real scans it never saw
Each scan prepared like the training data (axial slices, percentile normalisation, the default degradation:
k-space x{checkpoint['scale']} + Rician noise 0.01), every slice scored; the generator with self-ensemble and data
consistency, as `mri-sr evaluate --self-ensemble` and the workflow's report run it. PSNR in dB.

{table}

## What it is not for
{NOT_FOR}"""
    with atomic_path(out, suffix=".md") as tmp:
        tmp.write_text(text)
    return out
