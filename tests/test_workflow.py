"""The Snakemake workflow parses, validates its config and lints clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


@pytest.fixture
def workdir(tmp_path):
    """A copy of the workflow files, so runs write nothing into the repository."""
    shutil.copy(REPO / "Snakefile", tmp_path)
    shutil.copytree(REPO / "workflow", tmp_path / "workflow")
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    return tmp_path


def snakemake(workdir, *args):
    return subprocess.run([str(SNAKEMAKE), *args], cwd=workdir, capture_output=True, text=True, timeout=300)


def test_dry_run_of_train_all(workdir):
    result = snakemake(workdir, "-n", "--cores", "8", "train_all")
    assert result.returncode == 0, result.stderr
    assert "prepare" in result.stdout


def test_cross_scan_sets_are_prepared_and_evaluated_with_every_method(workdir):
    result = snakemake(workdir, "-n", "--cores", "8", "train_all", "--configfile", "configs/shared.yaml")
    assert result.returncode == 0, result.stderr
    for scan in ("chris_t1", "philips_mprage", "siemens_xa30_t1", "synth-unseen"):
        assert f"results/scans/x4/{scan}" in result.stdout
        assert f"results/metrics/x4/scan-{scan}/bicubic.json" in result.stdout
        assert f"results/metrics/x4/scan-{scan}/srresnet.json" in result.stdout


def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_unknown_config_key_stops_the_workflow(workdir):
    result = snakemake(workdir, "-n", "--cores", "1", "train_all", "--config", "scael=[2]")
    assert result.returncode != 0
    assert "unknown config key 'scael'" in result.stderr + result.stdout
