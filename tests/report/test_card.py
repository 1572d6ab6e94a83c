"""Model cards: a real (short) run on synthetic anatomy, scored on a prepared scan, carded and shipped."""

from __future__ import annotations

import json
import re

import pytest

from mri_sr.checkpoint import load_checkpoint
from mri_sr.evaluate import evaluate
from mri_sr.fsutil import file_sha256
from mri_sr.models import shipped_models
from mri_sr.train.config import validate_model_config
from mri_sr.train.engine import train

from .conftest import SUBJECT


@pytest.fixture(scope="module")
def run(tmp_path_factory, prepared_x2):
    """A micro generator trained 4 iterations on synthetic anatomy, and its metrics on the test split."""
    root = tmp_path_factory.mktemp("card")
    config = validate_model_config({
        "model": "general", "method": "psnr", "networks": {"net_g": {"type": "srresnet", "num_feat": 4, "num_block": 1}},
        "train": {"iterations": 4, "batch_size": 2, "lr_patch_size": 8, "num_workers": 0,
                  "synthetic_anatomy": {"share": 1.0}},
        "losses": {"weights": {"pixel": 1.0}}, "validation": {"every": 2, "max_slices": 2}, "snapshot_every": 2},
        name="general.yaml")
    train(config, prepared_x2, root / "runs" / "general", device="cpu", precision="fp32")
    metrics = root / "metrics"
    for method, name in ((str(root / "runs" / "general" / "final.pt"), "general"), ("bicubic", "bicubic")):
        evaluate(method, str(prepared_x2), 2, str(metrics / "scan-crop" / f"{name}.json"), name=name)
    return root


def test_the_run_keeps_a_generator_snapshot_every_snapshot_every_iterations(run):
    snapshots = sorted((run / "runs" / "general" / "snapshots").iterdir())
    assert [p.name for p in snapshots] == ["0000002.pt", "0000004.pt"]
    assert [load_checkpoint(p)["iteration"] for p in snapshots] == [2, 4]


def test_the_card_states_the_training_the_gains_and_the_limits(cli, run):
    card = run / "card.md"
    code, _, err = cli("model-card", "--run", run / "runs" / "general", "--metrics", run / "metrics",
                       "--scans", "crop", "--name", "general_x2", "--out", card)
    assert code == 0, err
    text = card.read_text()
    model = json.loads((run / "metrics" / "scan-crop" / "general.json").read_text())
    bicubic = json.loads((run / "metrics" / "scan-crop" / "bicubic.json").read_text())
    gain = model["psnr"] - bicubic["psnr"]
    row = re.search(r"^\| crop \((\d+)\) \| ([\d.]+) \| ([\d.]+) \| ([+-][\d.]+) \|", text, re.M)
    assert row, text
    assert int(row[1]) == len(model["images"])
    assert float(row[2]) == pytest.approx(bicubic["psnr"], abs=0.005)
    assert float(row[3]) == pytest.approx(model["psnr"], abs=0.005)
    assert float(row[4]) == pytest.approx(gain, abs=0.006)
    assert f"**{gain:+.2f}**" in text  # the mean over one test set
    assert file_sha256(run / "runs" / "general" / "final.pt") in text
    assert "synthetic anatomy" in text and "4 iterations of 2 patches of 8x8" in text
    assert "## What it is not for" in text
    # No scan path or subject id on the card.
    assert SUBJECT not in text and "scan.nii.gz" not in text


def test_a_missing_metrics_file_is_one_line_and_no_card(cli, run, error_line):
    card = run / "missing.md"
    error_line(cli("model-card", "--run", run / "runs" / "general", "--metrics", run / "metrics",
                   "--scans", "crop", "other", "--name", "general_x2", "--out", card),
               "scan-other", "general.json", "not found")
    assert not card.exists()


def test_the_carded_run_is_added_to_a_models_folder(cli, run):
    card = run / "shipped.md"
    assert cli("model-card", "--run", run / "runs" / "general", "--metrics", run / "metrics", "--scans", "crop",
               "--name", "general_x2", "--out", card)[0] == 0
    folder = run / "models"
    code, _, err = cli("models", "--folder", folder, "--add", run / "runs" / "general" / "final.pt", "--card", card,
                       "--name", "general_x2")
    assert code == 0, err
    model, = shipped_models(folder)
    assert (model.name, model.scale, model.file.name, model.card.name) == ("general_x2", 2, "general_x2.pt",
                                                                         "general_x2.md")
    assert model.verified() and model.card.read_text() == card.read_text()
