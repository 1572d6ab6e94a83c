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
            kept = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line)["iteration"] <= resume_iteration]
            self.path.write_text("".join(line + "\n" for line in kept))
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
    """The records of a ``log.jsonl`` (empty when missing)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss_curves(run_dir: Path) -> Path | None:
    """Write ``loss_curves.png``: each loss term and validation PSNR against iterations."""
    records = read_log(run_dir / "log.jsonl")
    train = [r for r in records if "losses" in r]
    val = [r for r in records if "val_psnr" in r]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in sorted({k for r in train for k in r["losses"]}):
        points = [(r["iteration"], r["losses"][name]) for r in train if name in r["losses"]]
        ax_loss.plot(*zip(*points), label=name)
    ax_loss.set(xlabel="iteration", ylabel="weighted loss", yscale="log", title="training losses")
    ax_loss.legend(fontsize=7)
    if val:
        ax_val.plot([r["iteration"] for r in val], [r["val_psnr"] for r in val], marker="o")
    ax_val.set(xlabel="iteration", ylabel="PSNR (dB)", title="validation PSNR")
    fig.tight_layout()
    out = run_dir / "loss_curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
