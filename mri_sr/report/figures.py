"""Report figures (matplotlib, Agg backend) as PNG data URIs: comparison panels and training curves."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from scipy.ndimage import sobel, uniform_filter  # noqa: E402

from mri_sr.train.runlog import loss_curves_figure  # noqa: E402

_CELL_INCHES = 2.4
_DPI = 100


@dataclass
class PanelColumn:
    """One column of a comparison panel.

    Attributes:
        title: column heading (method name and this image's metrics).
        image: (H, W) or (H, W, 3) uint8; the LR column holds the LR image (shown enlarged).
        lr_error: (h, w) float32 LR-consistency error in [0, 1] units, or None (LR, HR columns).
    """

    title: str
    image: np.ndarray
    lr_error: np.ndarray | None = None


def png_data_uri(fig: plt.Figure) -> str:
    """Render ``fig`` to PNG, close it, and return a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def zoom_window(hr: np.ndarray, scale: int) -> tuple[int, int, int]:
    """The square of HR with the most edge energy: ``(top, left, side)`` in HR pixels.

    Args:
        hr: (H, W) or (H, W, 3) uint8 HR image.
        scale: SR factor; the window is aligned to multiples of it, so it maps onto LR pixels.
    """
    grey = hr.astype(np.float64).mean(axis=-1) if hr.ndim == 3 else hr.astype(np.float64)
    side = max(4 * scale, min(grey.shape) // 4 // scale * scale)
    energy = uniform_filter(np.hypot(sobel(grey, 0), sobel(grey, 1)), side, mode="constant")
    half = side // 2
    valid = energy[half:grey.shape[0] - side + half + 1, half:grey.shape[1] - side + half + 1]
    top, left = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(top) // scale * scale, int(left) // scale * scale, side


def comparison_panel(columns: list[PanelColumn], scale: int) -> str:
    """LR / methods / HR side by side: full image, zoomed crop, and LR-consistency error map.

    Args:
        columns: the LR column first, then each method, then HR.
        scale: SR factor (the LR column is shown enlarged by it, nearest neighbour).

    Returns:
        PNG data URI.
    """
    hr = columns[-1].image
    height, width = hr.shape[:2]
    top, left, side = zoom_window(hr, scale)
    errors = [c.lr_error for c in columns if c.lr_error is not None]
    vmax = max([float(np.percentile(e, 99.5)) for e in errors] + [1e-6])
    rows = 3 if errors else 2
    aspect = height / width
    fig, axes = plt.subplots(rows, len(columns), squeeze=False,
                             figsize=(_CELL_INCHES * len(columns), _CELL_INCHES * (aspect + 1 + (rows == 3) * aspect)),
                             gridspec_kw={"height_ratios": [aspect, 1, aspect][:rows], "left": 0.01, "right": 0.99,
                                          "bottom": 0.01, "top": 0.92, "wspace": 0.04, "hspace": 0.25})
    grey = {"cmap": "gray", "vmin": 0, "vmax": 255} if hr.ndim == 2 else {}
    for j, column in enumerate(columns):
        is_lr = column.image.shape[:2] != hr.shape[:2]
        factor = scale if is_lr else 1
        axes[0, j].imshow(column.image, extent=(0, width, height, 0), interpolation="nearest", **grey)
        axes[0, j].add_patch(Rectangle((left, top), side, side, fill=False, edgecolor="yellow", linewidth=1))
        axes[0, j].set_title(column.title, fontsize=8)
        crop = column.image[top // factor:(top + side) // factor, left // factor:(left + side) // factor]
        axes[1, j].imshow(crop, interpolation="nearest", **grey)
        if rows == 3:
            if column.lr_error is not None:
                shown = axes[2, j].imshow(column.lr_error, extent=(0, width, height, 0), cmap="inferno",
                                          vmin=0, vmax=vmax, interpolation="nearest")
                axes[2, j].set_title("|degrade(SR) - LR|", fontsize=7)
            else:
                axes[2, j].set_visible(False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if rows == 3:  # the colour scale, in the HR column's free slot
        bar = axes[2, -1]
        bar.set_visible(True)
        bar.set_axis_off()
        fig.colorbar(shown, ax=bar, location="left", fraction=0.12, pad=0.0, shrink=0.9)
    return png_data_uri(fig)


def training_curves(records: list[dict[str, Any]], title: str, bicubic_val_psnr: float | None) -> str | None:
    """:func:`mri_sr.train.runlog.loss_curves_figure` as a PNG data URI (None: nothing to plot)."""
    fig = loss_curves_figure(records, title, bicubic_val_psnr)
    return None if fig is None else png_data_uri(fig)
