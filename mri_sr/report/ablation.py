"""Ablation tables: SRResCycGAN against itself without TV / identity, SRGAN without its perceptual term."""

from __future__ import annotations

from html import escape

from mri_sr.report.collect import Group
from mri_sr.report.tables import COLUMNS, best_flags, format_value

# Table title -> (method name in the metrics JSON -> what the run left out), the workflow's
# `ablation` target (mri_sr.train.config.ABLATIONS). A table appears where a variant was evaluated.
TABLES = {
    "SRResCycGAN ablation": {
        "srrescycgan": "as configured",
        "srrescycgan_no_tv": "without TV",
        "srrescycgan_no_identity": "without identity",
        "srrescycgan_no_tv_identity": "without TV and identity",
    },
    "SRGAN with and without the perceptual term": {
        "srgan": "as configured (perceptual term; its features are in the runs table)",
        "srgan_no_perceptual": "without the perceptual term (pixel loss instead where it had none)",
    },
}
_KEYS = ("psnr", "ssim", "hfen", "lr_consistency_psnr")
_NOTE = ("Each variant has the budget, seed and pre-training of the model as configured; only the named loss "
         "weights are 0 (snakemake ablation). Best of each column in bold; the crops are in the visual "
         "comparison of each dataset.")


def _table(group: Group, variants: dict[str, str]) -> str:
    columns = [c for c in COLUMNS if c.key in _KEYS]
    results = [r for name in variants for r in group.results if r["method"] == name]
    first = next(iter(variants))
    if not any(r["method"] != first for r in results):
        return ""
    flags = {c.key: best_flags([c.mean(r) for r in results], c.digits, c.higher) for c in columns}
    head = "".join(f'<th data-key="{c.key}">{escape(c.label)}</th>' for c in columns)
    rows = []
    for i, result in enumerate(results):
        cells = "".join(
            f'<td data-key="{c.key}">' + (f"<b>{escape(text)}</b>" if flags[c.key][i] else escape(text)) + "</td>"
            for c in columns
            for text in [format_value(c.mean(result), c.std(result) if c.std else None, c.digits)])
        rows.append(f'<tr data-method="{escape(result["method"])}"><td>{escape(variants[result["method"]])}'
                    f"</td><td>{escape(result['method'])}</td>{cells}</tr>")
    return (f"<h3>{escape(group.title)} ({group.kind})</h3>"
            f'<table class="ablation" data-model="{escape(first)}" data-dataset="{escape(group.dataset)}" '
            f'data-scale="{group.scale}"><thead><tr><th>variant</th><th>run</th>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def ablation_section(groups: list[Group]) -> str:
    """Per :data:`TABLES` entry, one table per dataset x scale that holds a variant run.

    Returns:
        The HTML sections, or ``""`` when no group has a variant run.
    """
    sections = []
    for title, variants in TABLES.items():
        tables = [t for t in (_table(group, variants) for group in groups) if t]
        if tables:
            sections.append(f'<section id="ablation-{next(iter(variants))}"><h2>{escape(title)}</h2>'
                            f'<p class="note">{escape(_NOTE)}</p>' + "\n".join(tables) + "</section>")
    return "\n".join(sections)
