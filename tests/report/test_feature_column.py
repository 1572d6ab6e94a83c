"""The report's training-runs table says which features each GAN's perceptual term used."""

from __future__ import annotations

from pathlib import Path

from mri_sr.report.collect import Run
from mri_sr.report.html import runs_section


def test_runs_table_names_the_feature_network() -> None:
    runs = [
        Run("srgan", Path("srgan"), {"model": "srgan", "perceptual_network": {
            "network": "mri", "checkpoint_sha256": "ab" * 32, "layers": ["relu3_2"]}}, []),
        Run("esrgan", Path("esrgan"), {"model": "esrgan", "perceptual_network": {
            "network": "vgg19", "file": "/models/vgg19-dcbb9e9d.pth", "layers": ["conv5_4"]}}, []),
        Run("srresnet", Path("srresnet"), {"model": "srresnet", "perceptual_network": None}, []),
    ]
    html = runs_section(runs, {})
    assert "<th>perceptual_network</th>" in html
    assert "mri relu3_2 (sha256 abababababab)" in html
    assert "vgg19 conv5_4 (vgg19-dcbb9e9d.pth)" in html
    assert html.count("<td>–</td>") >= 1
