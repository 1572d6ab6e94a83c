"""Run logging: JSONL of every logged step, optional TensorBoard, loss-curve PNG, summary."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class RunLog:
    """Appends JSON lines to ``run_dir/log.jsonl`` (and TensorBoard scalars when installed).

    On resume the lines past the resumed iteration are dropped, so a killed-and-resumed run
    has the same log as an uninterrupted one.
    """

    def __init__(self, run_dir: Path, resume_iteration: int, enabled: bool = True) -> None:
        self.path = run_dir / "log.jsonl"
        self.enabled = enabled
        self.tensorboard = None
        if not enabled:
            return
        if self.path.exists():
            kept = [r for r in read_log(self.path) if r["iteration"] <= resume_iteration]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            pass

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in {**record.get("losses", {}), **{k: v for k, v in record.items()
                                                              if k.startswith("val_")}}.items():
                self.tensorboard.add_scalar(key, value, record["iteration"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of a ``log.jsonl`` (empty when missing); lines that are not JSON records with
    an ``iteration`` (a line cut short by a kill, say) are skipped with a warning."""
    records, skipped = [], 0
    if not path.is_file():
        return records
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("iteration"), (int, float)):
            records.append(record)
        else:
            skipped += 1
    if skipped:
        log.warning("%s: skipped %d unreadable line(s)", path, skipped)
    return records


def loss_curves_figure(records: list[dict[str, Any]], title: str | None = None,
                       bicubic_val_psnr: float | None = None):
    """Loss terms and validation PSNR against iterations, from a run's log records.

    Args:
        records: :func:`read_log` records (training lines with ``losses``, validation lines
            with ``val_psnr``).
        title: figure title (the run's name), or None.
        bicubic_val_psnr: dashed reference line on the validation plot, or None.

    Returns:
        A matplotlib figure (Agg backend), or None when there is nothing to plot.
    """
    train = [r for r in records if isinstance(r.get("losses"), dict)]
    val = [r for r in records if isinstance(r.get("val_psnr"), (int, float))]
    if not train and not val:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    names = sorted({k for r in train for k in r["losses"]})
    positive = True
    for name in names:
        points = [(r["iteration"], r["losses"][name]) for r in train if isinstance(r["losses"].get(name), (int, float))]
        if points:
            positive &= all(v > 0 for _, v in points)
            ax_loss.plot(*zip(*points), label=name, linewidth=1)
    ax_loss.set(xlabel="iteration", ylabel="weighted loss", yscale="log" if positive and names else "linear",
                title="training losses")
    if names:
        ax_loss.legend(fontsize=7)
    if val:
        ax_val.plot([r["iteration"] for r in val], [r["val_psnr"] for r in val], marker="o", markersize=3,
                    label="model")
    if bicubic_val_psnr is not None:
        ax_val.axhline(bicubic_val_psnr, linestyle="--", color="grey", label="bicubic")
    ax_val.set(xlabel="iteration", ylabel="PSNR (dB)", title="validation PSNR")
    if val or bicubic_val_psnr is not None:
        ax_val.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_loss_curves(run_dir: Path, bicubic_val_psnr: float | None = None) -> Path | None:
    """Write ``run_dir/loss_curves.png`` from its ``log.jsonl``; None when there is nothing to plot."""
    fig = loss_curves_figure(read_log(run_dir / "log.jsonl"), run_dir.name, bicubic_val_psnr)
    if fig is None:
        return None
    import matplotlib.pyplot as plt

    out = run_dir / "loss_curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
