"""The report's cross-scan table: every MRI test set side by side, with the gain over bicubic."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from mri_sr.config import scan_section, validate_config
from mri_sr.data.prepare import prepare
from mri_sr.evaluate import evaluate
from mri_sr.io import Volume, save_nifti
from mri_sr.report import build_report


@pytest.fixture(scope="module")
def other_scan(tmp_path_factory, mni_crop):
    """Another 'scan' (the crop with a different contrast) prepared as a test set: every slice in test."""
    stored, affine = mni_crop
    folder = tmp_path_factory.mktemp("other")
    save_nifti(Volume((stored.max() - stored).astype(np.float32), affine, "inverted"), folder / "other.nii.gz")
    config = validate_config({"data": {"hr_patch_size": 16},
                              "evaluation": {"scans": [{"name": "other", "sources": [
                                  {"path": str(folder / "other.nii.gz")}]}]}})
    section = scan_section(config, config["evaluation"]["scans"][0])
    prepare(section, 2, folder / "other")
    return folder / "other"


def test_scan_test_sets_hold_every_slice_in_the_test_split(other_scan):
    with open(other_scan / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["split"] for r in rows} == {"test"}


def test_cross_scan_table_shows_every_mri_set_and_the_gain_over_bicubic(tmp_path, prepared_x2, other_scan,
                                                                        make_checkpoint):
    metrics = []
    for folder in (prepared_x2, other_scan):
        for method in ("bicubic", str(make_checkpoint(2))):
            out = tmp_path / "metrics" / f"{folder.name}_{len(metrics)}.json"
            metrics.append((evaluate(method, str(folder), 2, str(out)), out))
    build_report([str(p) for _, p in metrics], [], str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    table = re.search(r'<table class="cross-scan" data-scale="2">(.*?)</table>', html, re.DOTALL).group(1)
    assert "mri:x2" in table and "mri:other" in table
    row = re.search(r'<tr data-method="srresnet">(.*?)</tr>', table, re.DOTALL).group(1)
    gains = [float(g) for g in re.findall(r'data-gain="([^"]+)"', row)]
    results = {(r["dataset"], r["method"]): r for r, _ in metrics}
    expected = [results[(d, "srresnet")]["psnr"] - results[(d, "bicubic")]["psnr"] for d in ("mri:x2", "mri:other")]
    np.testing.assert_allclose(gains, expected)
    assert html.index('id="cross-scan"') < html.index('<section id="mri:x2-x2"')
    note = re.search(r'<section id="cross-scan">.*?<p class="note">(.*?)</p>', html, re.DOTALL).group(1)
    assert "test split (mri:x2)" in note and "{" not in note


def test_no_cross_scan_table_with_a_single_mri_set(tmp_path, prepared_x2):
    out = tmp_path / "bicubic.json"
    evaluate("bicubic", str(prepared_x2), 2, str(out))
    build_report([str(out)], [], str(tmp_path / "report.html"))
    assert 'class="cross-scan"' not in (tmp_path / "report.html").read_text()
