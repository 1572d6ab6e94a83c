"""``build_report``: one self-contained HTML page (and a CSV beside it) over metrics files and runs.

The page holds a cross-scan table (every MRI test set side by side, gain over bicubic), then, per dataset and scale, a methods x PSNR/SSIM table (mean ± std, best in bold),
per-image (and, for MRI, per-volume) tables and visual comparison panels; then the training
curves and summaries of the runs, an "SRResCycGAN ablation" table when ablation runs are among the
metrics, and provenance (version, git commit, config). Every image is a
PNG data URI, so the file stands alone. No subject ids or file paths of scans appear on it: MRI
images are named ``vol{k}_s{slice}`` and the config's scan sources are redacted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mri_sr import __version__
from mri_sr.fsutil import atomic_path, check_output_file, refuse_overwriting_input
from mri_sr.report.ablation import ablation_section
from mri_sr.report.collect import (Group, config_text, git_commit, group_results, load_metrics, load_runs,
                                   load_samples)
from mri_sr.report.crossscan import cross_scan_section
from mri_sr.report.figures import PanelColumn, comparison_panel, training_curves
from mri_sr.report.html import group_section, metadata_section, page, runs_section
from mri_sr.report.tables import write_csv

log = logging.getLogger(__name__)


def _title(method: str, sample: dict[str, Any]) -> str:
    psnr, ssim = sample.get("psnr"), sample.get("ssim")
    metrics = f"{psnr:.2f} dB / {ssim:.4f}" if psnr is not None and ssim is not None else ""
    return f"{method}\n{metrics}"


def comparison_panels(group: Group) -> list[tuple[str, str]]:
    """``(alt text, data URI)`` of each example image that some method of the group saved."""
    samples = {r["method"]: load_samples(r) for r in group.results}
    names: list[str] = []
    for per_method in samples.values():
        names += [n for n in per_method if n not in names]
    panels = []
    for name in names:
        have = [(method, per_method[name]) for method, per_method in samples.items() if name in per_method]
        reference = have[0][1]
        columns = [PanelColumn("LR input", reference["lr"])]
        columns += [PanelColumn(_title(method, s), s["sr"], s["lr_error"]) for method, s in have]
        columns.append(PanelColumn("HR (ground truth)", reference["hr"]))
        panels.append((f"{group.title}: {name}", comparison_panel(columns, group.scale)))
    return panels


def build_report(metrics: list[str], runs: list[str], out: str, config: str | None = None) -> None:
    """Write the HTML report to ``out`` and the table to ``out`` with suffix ``.csv``, atomically.

    Args:
        metrics: metrics JSON files written by :func:`mri_sr.evaluate.evaluate`.
        runs: training run folders (``log.jsonl``, ``summary.json``); missing ones are noted.
        out: HTML path.
        config: workflow config (YAML) shown on the page, scan sources redacted, or None.

    Raises:
        MriSrError: an unreadable metrics file or config, a method given twice for one
            dataset and scale, or an ``out`` (or its CSV) that cannot be written or would replace
            an input.
    """
    out_path = Path(out)
    for path in (out_path, out_path.with_suffix(".csv")):
        check_output_file(path)
        refuse_overwriting_input(path, [*metrics, config])
    groups = group_results([load_metrics(p) for p in metrics])
    shown_config = config_text(config) if config is not None else None
    run_list = load_runs(list(runs))
    curves = {run.name: training_curves(run.records, run.name, run.summary.get("bicubic_val_psnr"))
              for run in run_list}
    devices = sorted({str(r.get("device")) for g in groups for r in g.results if r.get("device")})
    meta = {
        "mri-sr version": __version__,
        "git commit": git_commit(),
        "generated (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "evaluation devices": ", ".join(devices) or "unknown",
        "evaluation wall time (s)": f"{sum(float(r.get('seconds') or 0) for g in groups for r in g.results):.1f}",
        "training wall time (s)": f"{sum(float(r.summary.get('wall_seconds') or 0) for r in run_list):.1f}",
    }
    sections = [cross_scan_section(groups)] + [group_section(g, comparison_panels(g)) for g in groups] + [ablation_section(groups)]
    sections += [runs_section(run_list, curves), metadata_section(meta, shown_config)]
    with atomic_path(out_path, suffix=".html") as tmp:
        tmp.write_text(page(groups, sections), encoding="utf-8")
    write_csv(groups, out_path.with_suffix(".csv"))
    log.info("report: %s (%d datasets, %d runs) and %s", out_path, len(groups), len(run_list),
             out_path.with_suffix(".csv"))


__all__ = ["build_report"]
