"""The Snakemake workflow parses, validates its config and lints clean."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

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
    result = snakemake(workdir, "-n", "--cores", "8", "train_all",
                       "--configfile", "configs/default.yaml", "configs/shared.yaml")
    assert result.returncode == 0, result.stderr
    for scan in ("chris_t1", "philips_mprage", "siemens_xa30_t1", "synth-unseen"):
        assert f"results/scans/x4/{scan}" in result.stdout
        assert f"results/metrics/x4/scan-{scan}/bicubic.json" in result.stdout
        assert f"results/metrics/x4/scan-{scan}/srresnet.json" in result.stdout


def test_ship_models_trains_cards_and_adds_the_general_models_at_both_scales(workdir):
    result = snakemake(workdir, "-n", "--cores", "2", "ship_models", "--configfile", "configs/general.yaml")
    assert result.returncode == 0, result.stderr
    for scale in (2, 4):
        assert f"results/runs/x{scale}/general/final.pt" in result.stdout
        assert f"results/cards/x{scale}/general.md" in result.stdout
        for scan in ("chris_t1", "philips_mprage", "siemens_xa30_t1"):
            assert f"results/metrics/x{scale}/scan-{scan}/general.json" in result.stdout
    # Neither the demo's models nor its laptop budgets come along.
    assert "srresnet" not in result.stdout and "rule features" not in result.stdout


def test_ablation_trains_the_variants_and_reports_them(workdir):
    result = snakemake(workdir, "-n", "--cores", "2", "ablation")
    assert result.returncode == 0, result.stderr
    for run in ("srrescycgan_no_tv", "srrescycgan_no_identity", "srrescycgan_no_tv_identity", "srgan_no_perceptual"):
        assert f"results/runs/x4/{run}/final.pt" in result.stdout
        assert f"results/metrics/x4/mri/{run}.json" in result.stdout
    assert "results/report/ablation/index.html" in result.stdout


def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_unknown_config_key_stops_the_workflow(workdir):
    result = snakemake(workdir, "-n", "--cores", "1", "train_all", "--config", "scael=[2]")
    assert result.returncode != 0
    assert "unknown config key 'scael'" in result.stderr + result.stdout


def test_default_config_trains_the_feature_network_before_the_gans(workdir):
    result = snakemake(workdir, "-n", "--cores", "2", "train_all")
    assert result.returncode == 0, result.stderr
    assert "rule features:" in result.stdout
    assert "--features results/features/x4/features.pt" in result.stdout or "features.pt" in result.stdout


@pytest.mark.parametrize("vgg19", ["missing", "corrupt"])
def test_gpu_config_without_a_readable_vgg19_stops_before_any_job(workdir, tmp_path, vgg19):
    """configs/gpu.yaml on the CPU, with no (or a damaged) VGG19 file: the workflow stops at once,
    naming the file and where to put it, and writes no checkpoint."""
    config = yaml.safe_load((workdir / "configs" / "gpu.yaml").read_text())
    config["training"]["device"] = config["evaluation"]["device"] = "cpu"
    (workdir / "cpu.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k != "MRI_SR_VGG19_WEIGHTS"}
    env["TORCH_HOME"] = str(tmp_path / "torch_home")
    expected = tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    if vgg19 == "corrupt":
        expected.parent.mkdir(parents=True)
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, expected)
        expected.write_bytes(expected.read_bytes()[: expected.stat().st_size // 2])  # half a download
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([str(SNAKEMAKE), "--cores", "2", "train_all", "--configfile", "cpu.yaml"], cwd=workdir,
                            check=False, capture_output=True, text=True, timeout=300, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds, not wall time: about 5 s here, 25-70 s of wall time on a shared 2-core machine.
    seconds = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert str(expected) in output
    assert ("not found" in output and "download.pytorch.org" in output) if vgg19 == "missing" else \
        "not a readable VGG19 weights file" in output
    assert seconds < 60, seconds
    assert not list(workdir.rglob("*.pt")) and not (workdir / "results" / "runs").exists()
