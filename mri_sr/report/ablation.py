"""The "SRResCycGAN ablation" table: the model as configured against itself without TV / identity."""

from __future__ import annotations

from html import escape

from mri_sr.report.collect import Group
from mri_sr.report.tables import COLUMNS, best_flags, format_value

# Method name in the metrics JSON -> what the run left out (the workflow's `ablation` target).
VARIANTS = {
    "srrescycgan": "as configured",
    "srrescycgan_no_tv": "without TV",
    "srrescycgan_no_identity": "without identity",
    "srrescycgan_no_tv_identity": "without TV and identity",
}
_KEYS = ("psnr", "ssim", "hfen", "lr_consistency_psnr")


def ablation_section(groups: list[Group]) -> str:
    """One table per dataset x scale that holds an ablation run: variants x PSNR, SSIM, HFEN, LR consistency.

    Returns:
        The HTML section, or ``""`` when no group has an ablation run.
    """
    columns = [c for c in COLUMNS if c.key in _KEYS]
    tables = []
    for group in groups:
        results = [r for name in VARIANTS for r in group.results if r["method"] == name]
        if not any(r["method"] != "srrescycgan" for r in results):
            continue
        flags = {c.key: best_flags([c.mean(r) for r in results], c.digits, c.higher) for c in columns}
        head = "".join(f'<th data-key="{c.key}">{escape(c.label)}</th>' for c in columns)
        rows = []
        for i, result in enumerate(results):
            cells = "".join(
                f'<td data-key="{c.key}">' + (f"<b>{escape(text)}</b>" if flags[c.key][i] else escape(text)) + "</td>"
                for c in columns
                for text in [format_value(c.mean(result), c.std(result) if c.std else None, c.digits)])
            rows.append(f'<tr data-method="{escape(result["method"])}"><td>{escape(VARIANTS[result["method"]])}'
                        f"</td><td>{escape(result['method'])}</td>{cells}</tr>")
        tables.append(f"<h3>{escape(group.title)} ({group.kind})</h3>"
                      f'<table class="ablation" data-dataset="{escape(group.dataset)}" data-scale="{group.scale}">'
                      f"<thead><tr><th>variant</th><th>run</th>{head}</tr></thead><tbody>"
                      + "".join(rows) + "</tbody></table>")
    if not tables:
        return ""
    note = ("SRResCycGAN trained as configured and with the TV and/or identity loss weights set to 0, same "
            "budget, seed and warm-up (snakemake ablation). Best of each column in bold.")
    return ('<section id="ablation"><h2>SRResCycGAN ablation</h2>'
            f'<p class="note">{escape(note)}</p>' + "\n".join(tables) + "</section>")
