"""Progress bars in log files (a Slurm or Snakemake log: stderr is not a terminal)."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import nibabel as nib
import numpy as np

from mri_sr.logsetup import progress


def test_log_file_gets_whole_lines_at_most_one_per_interval():
    log = io.StringIO()
    started = time.monotonic()
    with progress(total=400, desc="steps", file=log, interval=0.2) as bar:
        for _ in range(400):
            time.sleep(0.002)
            bar.update(1)
    elapsed = time.monotonic() - started
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and "\x1b" not in text
    # one line at the start, at most one per interval, and the final state
    assert 3 <= len(lines) <= elapsed / 0.2 + 2, lines
    assert all(line.startswith("steps:") for line in lines)
    assert lines[0].startswith("steps:   0%") and "400/400" in lines[-1]


def test_a_whole_scan_upscale_writes_a_few_progress_lines(tmp_path):
    """A real ``mri-sr upscale`` with stderr redirected to a file, as Slurm does."""
    rng = np.random.default_rng(0)
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(rng.random((24, 20, 300), dtype=np.float32), np.diag([1.0, 1.0, 3.0, 1.0])), scan)
    with open(tmp_path / "job.log", "w") as stderr:
        subprocess.run([sys.executable, "-m", "mri_sr.cli", "upscale", str(scan), str(tmp_path / "sr.nii.gz"),
                        "--method", "bicubic", "--batch-size", "1"], stderr=stderr, check=True)
    text = (tmp_path / "job.log").read_text()
    bar_lines = [line for line in text.splitlines() if line.startswith("upscale:")]
    assert "\r" not in text, text[:500]
    # 300 one-slice updates in a few seconds: the start and the end, not a line (or a \r) per update
    assert 2 <= len(bar_lines) <= 4, text
    assert "300/300" in bar_lines[-1]
