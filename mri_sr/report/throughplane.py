"""Report section of through-plane super-resolution: orthogonal views of input, B-spline and result."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np

from mri_sr.fsutil import atomic_path
from mri_sr.io import Volume, load_volume
from mri_sr.report.figures import plt, png_data_uri
from mri_sr.report.html import image_tag, page
from mri_sr.resample import bspline_axis

_NOTE = ("Each scan: its central slices along the three array axes (voxel aspect in mm). Rows: the thick-slice "
         "input (each slice repeated to the output grid), cubic B-spline interpolation along the slice axis, and "
         "the self-trained through-plane result. Grey scale: 0.5 to 99.5 percentiles of the input.")


def _views(data: np.ndarray, spacing: tuple[float, float, float]) -> list[tuple[np.ndarray, float]]:
    """Central slice across each axis, rows = second remaining axis flipped to show 'up', and its aspect."""
    views = []
    for axis in range(3):
        plane = np.take(data, data.shape[axis] // 2, axis=axis)
        rest = [a for a in range(3) if a != axis]
        views.append((plane.T[::-1], spacing[rest[1]] / spacing[rest[0]]))
    return views


def orthogonal_figure(rows: list[tuple[str, Volume]], low: float, high: float) -> str:
    """PNG data URI: one row per (label, volume) with its three orthogonal central slices."""
    fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3 * len(rows)), squeeze=False)
    for row, (label, volume) in enumerate(rows):
        for col, (plane, aspect) in enumerate(_views(volume.data, volume.spacing)):
            axes[row][col].imshow(plane, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest")
            axes[row][col].set_axis_off()
        axes[row][0].set_title(label, loc="left", fontsize=9)
    fig.tight_layout()
    return png_data_uri(fig)


def scan_figure(scan: str | Path, result: str | Path) -> str:
    """Orthogonal views of a thick-slice scan, its B-spline interpolation and the through-plane result."""
    thick, out = load_volume(scan), load_volume(result)
    if thick.data.ndim != 3:
        thick = thick.select(0, name=str(scan))
    axis = int(np.argmax(thick.spacing))
    scale = out.data.shape[axis] // thick.data.shape[axis]
    repeated = Volume(np.repeat(thick.data, scale, axis=axis), out.affine, "input")
    spline = Volume(bspline_axis(thick.data, axis, scale), out.affine, "B-spline")
    low, high = (float(v) for v in np.percentile(thick.data, [0.5, 99.5]))
    return orthogonal_figure([("input (thick slices)", repeated), ("cubic B-spline", spline),
                              ("through-plane SR", out)], low, high)


def throughplane_section(scans: list[str], results: list[str]) -> str:
    """HTML section: for each scan (named by its file name only), the orthogonal-view figure."""
    parts = ['<section id="throughplane"><h2>through-plane super-resolution</h2>', f'<p class="note">{_NOTE}</p>']
    for scan, result in zip(scans, results, strict=True):
        parts += [f"<h3>{escape(Path(result).name)}</h3>", image_tag(scan_figure(scan, result), Path(result).name)]
    parts.append("</section>")
    return "\n".join(parts)


def build_throughplane_report(scans: list[str], results: list[str], out: str | Path) -> None:
    """Write a self-contained HTML page holding :func:`throughplane_section`, atomically."""
    html = page([], [throughplane_section(scans, results)], title="mri-sr through-plane report", note=None)
    with atomic_path(out, suffix=".html") as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
