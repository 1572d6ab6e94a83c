"""The ``throughplane`` workflow target and its report page."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from mri_sr.io import Volume, save_nifti
from mri_sr.report.throughplane import build_throughplane_report
from mri_sr.throughplane.apply import upscale_through_plane
from mri_sr.throughplane.selftrain import ThroughPlaneOptions

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
MICRO = {"type": "srresnet", "in_channels": 1, "num_feat": 4, "num_block": 1, "image_skip": True, "upscale_axes": "h"}


def _thick(path: Path) -> Volume:
    grids = np.meshgrid(*(np.linspace(-1, 1, n) for n in (16, 14, 5)), indexing="ij")
    volume = Volume((50.0 + 500.0 * np.exp(-2.0 * sum(g**2 for g in grids))).astype(np.float32),
                    np.diag([1.0, 1.0, 3.0, 1.0]), "synthetic")
    save_nifti(volume, path)
    return volume


def test_report_page_shows_each_scan(tmp_path):
    thick = _thick(tmp_path / "patient_thick.nii.gz")
    save_nifti(upscale_through_plane(thick, ThroughPlaneOptions(model=MICRO, iterations=1, progress=False)), tmp_path / "case1.nii.gz")
    out = tmp_path / "report" / "index.html"
    build_throughplane_report([str(tmp_path / "patient_thick.nii.gz")], [str(tmp_path / "case1.nii.gz")], out)
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 1
    assert "case1.nii.gz" in html and "B-spline" in html and "patient_thick" not in html


def test_throughplane_target_dry_run_and_lint(tmp_path):
    shutil.copy(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    _thick(tmp_path / "thick.nii.gz")
    config = yaml.safe_load((tmp_path / "configs" / "default.yaml").read_text())
    config["throughplane"] = {"scans": [{"name": "case1", "path": "thick.nii.gz"}], "minutes": 0.1}
    (tmp_path / "configs" / "default.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run([str(SNAKEMAKE), "-n", "--cores", "2", "throughplane"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "throughplane_upscale" in run.stdout and "throughplane_report" in run.stdout
    lint = subprocess.run([str(SNAKEMAKE), "--lint"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout + lint.stderr
