"""The cross-scan table: every MRI test set side by side, PSNR gain over bicubic per method."""

from __future__ import annotations

from html import escape
from typing import Any

from mri_sr.report.collect import Group

BASELINE = "bicubic"
_NOTE = ("How each method does on scans it never saw: every MRI test set of one scale side by side — the training "
         "data's test split ({splits}) and the cross-scan sets of evaluation.scans (every slice of another scan, "
         "degraded like the training data). Cells: mean PSNR (dB) / SSIM over slices, and in brackets the PSNR gain "
         "over bicubic on the same set.")


def cross_scan_rows(groups: list[Group]) -> dict[int, tuple[list[str], list[dict[str, Any]]]]:
    """Per scale with at least two MRI test sets: the set names and one row per method.

    Returns:
        ``{scale: (datasets, rows)}``; each row holds ``method`` and, per dataset name, a dict
        with ``psnr``, ``ssim`` and ``gain`` (PSNR minus bicubic's on that set; None without
        bicubic), or None where the method was not evaluated on that set.
    """
    tables = {}
    for scale in sorted({g.scale for g in groups if g.kind == "mri"}):
        mri = [g for g in groups if g.kind == "mri" and g.scale == scale]
        if len(mri) < 2:
            continue
        methods: list[str] = []
        for group in mri:
            methods += [r["method"] for r in group.results if r["method"] not in methods]
        rows = []
        for method in methods:
            row: dict[str, Any] = {"method": method}
            for group in mri:
                by_method = {r["method"]: r for r in group.results}
                result, base = by_method.get(method), by_method.get(BASELINE)
                row[group.dataset] = None if result is None else {
                    "psnr": result["psnr"], "ssim": result["ssim"],
                    "gain": None if base is None else result["psnr"] - base["psnr"]}
            rows.append(row)
        tables[scale] = ([g.dataset for g in mri], rows)
    return tables


def _cell(value: dict[str, Any] | None) -> str:
    if value is None:
        return "<td>–</td>"
    gain = "" if value["gain"] is None else f" ({value['gain']:+.2f})"
    return f'<td data-gain="{"" if value["gain"] is None else repr(value["gain"])}">' \
           f"{value['psnr']:.2f}{gain} / {value['ssim']:.4f}</td>"


def cross_scan_section(groups: list[Group]) -> str:
    """HTML section with one table per scale (empty when no scale has two MRI test sets)."""
    tables = cross_scan_rows(groups)
    if not tables:
        return ""
    parts = ['<section id="cross-scan"><h2>cross-scan generalisation</h2>',
             f'<p class="note">{escape(_NOTE.format(splits=", ".join(f"mri:x{s}" for s in tables)))}</p>']
    for scale, (datasets, rows) in tables.items():
        head = "".join(f"<th>{escape(d)}</th>" for d in datasets)
        parts.append(f'<h3>x{scale}</h3><table class="cross-scan" data-scale="{scale}">'
                     f"<thead><tr><th>method</th>{head}</tr></thead><tbody>")
        parts += [f'<tr data-method="{escape(row["method"])}"><td>{escape(row["method"])}</td>'
                  + "".join(_cell(row[d]) for d in datasets) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "\n".join(parts)
