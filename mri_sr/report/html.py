"""HTML of the report: one self-contained page (inline CSS, images as data URIs, no scripts)."""

from __future__ import annotations

from html import escape
from typing import Any

from mri_sr.report.collect import Group, Run
from mri_sr.report.tables import best_flags, columns_for, format_value

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
"""

_NATURAL_NOTE = ("Published SR-table convention: HR cropped to a multiple of the scale, SR rounded to 8 bits, "
                 "BT.601 Y channel (MATLAB rgb2ycbcr, 16-235), a border of scale pixels cropped, PSNR on [0, 255], "
                 "SSIM with an 11x11 Gaussian window (sigma 1.5). Bicubic is MATLAB imresize (uint8 mode); "
                 "nearest and lanczos are Pillow's. One-channel models run on Y with bicubic Cb/Cr.")
_MRI_NOTE = ("Prepared test slices, normalised intensities in [0, 1], data_range 1, no border crop, SR clipped to "
             "[0, 1]. Volume PSNR: 3D over each volume's test slices; volume SSIM: mean of slice SSIMs; "
             "masked: foreground (HR > 0.05, dilated 3 px), SSIM over the mask's bounding box.")
_CONSISTENCY_NOTE = ("LR consistency: the SR output degraded again as the LR input was made (MRI: the prepared "
                     "degradation without noise; natural images: MATLAB bicubic) against the LR input, PSNR in dB. "
                     "Low values mean the output holds structure the input does not support. Values are mean ± std "
                     "over images; the best of each column is in bold. HFEN: the L2 norm of the Laplacian-of-Gaussian "
                     "(sigma 1.5 px) filtered error relative to that of the LoG-filtered HR; lower is better. "
                     "Inference: self-ensemble averages a generator's outputs over the four quarter turns of "
                     "its input; data consistency (MRI) projects the output onto the images whose "
                     "central k-space agrees with the LR up to its noise level.")


def _cell(text: str, bold: bool, **data: Any) -> str:
    attrs = "".join(f' data-{k}="{escape(str(v))}"' for k, v in data.items())
    body = f"<b>{escape(text)}</b>" if bold else escape(text)
    return f"<td{attrs}>{body}</td>"


def _inference(result: dict[str, Any]) -> str:
    """How a generator's output was made beyond one forward pass (see :mod:`mri_sr.inference`)."""
    steps = (["self-ensemble"] if result.get("self_ensemble") else []) + (
        ["data consistency"] if result.get("data_consistency") else [])
    return " + ".join(steps) or "–"


def summary_table(group: Group) -> str:
    """Methods x metrics (mean ± std), the best value of each column in bold."""
    columns = columns_for(group)
    flags = {c.key: best_flags([c.mean(r) for r in group.results], c.digits, c.higher) for c in columns}
    head = "".join(f'<th data-key="{c.key}">{escape(c.label)}</th>' for c in columns)
    lines = [f'<table class="summary" data-dataset="{escape(group.dataset)}" data-scale="{group.scale}">',
             (f"<thead><tr><th>method</th>{head}<th>images</th><th>seconds</th><th>device</th><th>inference</th>"
              "</tr></thead><tbody>")]
    for i, result in enumerate(group.results):
        cells = ""
        for column in columns:
            mean, std = column.mean(result), column.std(result) if column.std else None
            cells += _cell(format_value(mean, std, column.digits), flags[column.key][i], key=column.key,
                           value="" if mean is None else repr(mean))
        lines.append(f'<tr data-method="{escape(result["method"])}"><td>{escape(result["method"])}</td>{cells}'
                     f'<td>{len(result["images"])}</td><td>{escape(str(result.get("seconds", "")))}</td>'
                     f'<td>{escape(str(result.get("device", "")))}</td><td>{escape(_inference(result))}</td></tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def per_item_table(group: Group, key: str, label: str) -> str:
    """Rows = images (``key="images"``) or volumes (``key="volumes"``), PSNR, SSIM and HFEN per method.

    Items are named as in the metrics JSON (MRI: ``vol{k}_s{slice}``; subject ids are never shown).
    """
    names: list[str] = []
    values: dict[tuple[str, str], dict[str, Any]] = {}
    for result in group.results:
        for item in result.get(key) or []:
            if item["name"] not in names:
                names.append(item["name"])
            values[(result["method"], item["name"])] = item
    if not names:
        return ""
    methods = [r["method"] for r in group.results]
    metrics = [spec for spec in _ITEM_METRICS if any(item.get(spec[0]) is not None for item in values.values())]
    head = "".join(f"<th>{escape(m)} {label}</th>" for m in methods for _, label, _, _ in metrics)
    lines = [f"<details><summary>{escape(label)} ({len(names)})</summary>",
             f'<table class="per-{key}" data-dataset="{escape(group.dataset)}" data-scale="{group.scale}">',
             f"<thead><tr><th>{key[:-1]}</th>{head}</tr></thead><tbody>"]
    for name in names:
        row = {metric: [values.get((m, name), {}).get(metric) for m in methods] for metric, *_ in metrics}
        flags = {metric: best_flags(row[metric], digits, higher) for metric, _, digits, higher in metrics}
        cells = "".join(_cell(format_value(row[metric][i], None, digits), flags[metric][i], method=m, key=metric)
                        for i, m in enumerate(methods) for metric, _, digits, _ in metrics)
        lines.append(f"<tr><td>{escape(name)}</td>{cells}</tr>")
    lines.append("</tbody></table></details>")
    return "\n".join(lines)


# (key, heading, decimals, higher is better) of the per-image and per-volume tables.
_ITEM_METRICS = (("psnr", "PSNR", 2, True), ("ssim", "SSIM", 4, True), ("hfen", "HFEN", 4, False))


def image_tag(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}">'


def group_section(group: Group, panels: list[tuple[str, str]]) -> str:
    """One dataset x scale: notes, summary table, per-image (and per-volume) tables, panels."""
    anchor = escape(f"{group.dataset}-x{group.scale}")
    parts = [f'<section id="{anchor}"><h2>{escape(group.title)} ({group.kind})</h2>',
             f'<p class="note">{escape(_MRI_NOTE if group.kind == "mri" else _NATURAL_NOTE)}</p>',
             summary_table(group), per_item_table(group, "images", "per image")]
    if group.kind == "mri":
        parts.append(per_item_table(group, "volumes", "per volume"))
    if panels:
        parts.append("<h3>visual comparison</h3><p class='note'>Rows: full image (zoom window in yellow), "
                     "zoomed crop, LR-consistency error |degrade(SR) - LR| (shared colour scale).</p>")
        parts += [image_tag(uri, alt) for alt, uri in panels]
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def runs_section(runs: list[Run], curves: dict[str, str | None]) -> str:
    """Training runs: a table of their summaries and the loss / validation curves."""
    if not runs:
        return ""
    keys = ("model", "scale", "iterations", "wall_seconds", "device", "best_val_psnr", "bicubic_val_psnr",
            "perceptual_network", "version")
    head = "".join(f"<th>{k}</th>" for k in keys)
    lines = ['<section id="training"><h2>training runs</h2>', f'<table class="runs"><thead><tr><th>run</th>{head}'
             "</tr></thead><tbody>"]
    for run in runs:
        cells = "".join(f"<td>{escape(_fmt(run.summary.get(k)))}</td>" for k in keys)
        lines.append(f"<tr><td>{escape(run.name)}</td>{cells}</tr>")
    lines.append("</tbody></table>")
    for run in runs:
        uri = curves.get(run.name)
        lines.append(image_tag(uri, f"training curves of {run.name}") if uri else
                     f'<p class="note">{escape(run.name)}: no training log.</p>')
    lines.append("</section>")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, dict) and "network" in value:  # summary.json's perceptual_network
        return feature_label(value)
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def feature_label(network: dict[str, Any]) -> str:
    """``mri conv3_2 (sha256 1a2b3c4d5e6f)`` or ``vgg19 relu5_4 (vgg19-dcbb9e9d.pth)``."""
    layers = " ".join(network.get("layers") or [])
    if network["network"] == "mri":
        return f"mri {layers} (sha256 {str(network.get('checkpoint_sha256'))[:12]})"
    return f"{network['network']} {layers} ({str(network.get('file') or '').rsplit('/', 1)[-1]})"


def metadata_section(meta: dict[str, str], config_text: str | None) -> str:
    """Provenance: version, git commit, time, and the workflow config as YAML."""
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in meta.items())
    config = f"<h3>config</h3><pre>{escape(config_text)}</pre>" if config_text is not None else ""
    return f'<section id="metadata"><h2>run metadata</h2><table class="metadata">{rows}</table>{config}</section>'


def page(groups: list[Group], sections: list[str], title: str = "mri-sr report",
         note: str | None = _CONSISTENCY_NOTE) -> str:
    """The full HTML document around the section bodies (``note``: the page's lead note, None for none)."""
    nav = " · ".join(f'<a href="#{escape(f"{g.dataset}-x{g.scale}")}">{escape(g.title)}</a>' for g in groups)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n"
            f"<h1>{escape(title)}</h1><p>{nav}</p>" + (f"<p class='note'>{escape(note)}</p>" if note else "") + "\n"
            + "\n".join(s for s in sections if s) + "\n</body></html>\n")
