"""Aggregates of per-image metrics for the metrics JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
