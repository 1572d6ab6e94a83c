"""The numbers of the report: summary columns, best-value marking, and the CSV rows."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mri_sr.fsutil import atomic_path
from mri_sr.report.collect import Group


def _masked(key: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda r: (r.get("masked") or {}).get(key)


@dataclass(frozen=True)
class Column:
    """A metric column.

    Attributes:
        key: CSV field name.
        label: HTML heading.
        digits: decimals shown.
        mean: value of a result (None when absent).
        std: its standard deviation over images, or None.
        kinds: dataset kinds the column is shown for.
        higher: higher is better (False for error measures such as HFEN).
    """

    key: str
    label: str
    digits: int
    mean: Callable[[dict[str, Any]], float | None]
    std: Callable[[dict[str, Any]], float | None] | None = None
    kinds: tuple[str, ...] = ("mri", "natural")
    higher: bool = True


COLUMNS = (
    Column("psnr", "PSNR (dB)", 2, lambda r: r.get("psnr"), lambda r: r.get("psnr_std")),
    Column("ssim", "SSIM", 4, lambda r: r.get("ssim"), lambda r: r.get("ssim_std")),
    Column("hfen", "HFEN (lower is better)", 4, lambda r: r.get("hfen"), lambda r: r.get("hfen_std"), higher=False),
    Column("lr_consistency_psnr", "LR consistency (dB)", 2, lambda r: r.get("lr_consistency_psnr"),
           lambda r: r.get("lr_consistency_psnr_std")),
    Column("volume_psnr", "volume PSNR (dB)", 2, lambda r: r.get("volume_psnr"), kinds=("mri",)),
    Column("volume_ssim", "volume SSIM", 4, lambda r: r.get("volume_ssim"), kinds=("mri",)),
    Column("masked_psnr", "masked PSNR (dB)", 2, _masked("psnr"), _masked("psnr_std"), kinds=("mri",)),
    Column("masked_ssim", "masked SSIM", 4, _masked("ssim"), _masked("ssim_std"), kinds=("mri",)),
)


def columns_for(group: Group) -> list[Column]:
    """The columns with a value for at least one result of the group."""
    return [c for c in COLUMNS if group.kind in c.kinds and any(c.mean(r) is not None for r in group.results)]


def best_flags(values: list[float | None], digits: int, higher: bool = True) -> list[bool]:
    """True where a value equals the best (highest, or lowest if not ``higher``) one as shown at ``digits``."""
    shown = [None if v is None else round(v, digits) for v in values]
    present = [v for v in shown if v is not None]
    best = (max if higher else min)(present) if present else None
    return [v is not None and v == best for v in shown] if len(present) > 1 else [False] * len(values)


def format_value(mean: float | None, std: float | None, digits: int) -> str:
    """``"28.42 ± 1.23"`` (or the mean alone, or an en dash when absent)."""
    if mean is None:
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


CSV_FIELDS = ["dataset", "scale", "kind", "method"] + [
    name for c in COLUMNS for name in ([c.key, f"{c.key}_std"] if c.std else [c.key])] + ["images", "device", "seconds"]


def csv_rows(groups: list[Group]) -> list[dict[str, Any]]:
    """One row per method x dataset x scale, full-precision values as in the metrics JSON."""
    rows = []
    for group in groups:
        for result in group.results:
            row: dict[str, Any] = {"dataset": group.dataset, "scale": group.scale, "kind": group.kind,
                                   "method": result["method"], "images": len(result["images"]),
                                   "device": result.get("device", ""), "seconds": result.get("seconds", "")}
            for column in COLUMNS:
                row[column.key] = column.mean(result)
                if column.std:
                    row[f"{column.key}_std"] = column.std(result)
            rows.append({k: ("" if v is None else v) for k, v in row.items()})
    return rows


def write_csv(groups: list[Group], path: Path) -> None:
    """Write :func:`csv_rows` to ``path`` atomically."""
    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(csv_rows(groups))
