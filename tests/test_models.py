"""The shipped-models registry: its index, the sha256 check, ``mri-sr models``, the package data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mri_sr.checkpoint import save_checkpoint
from mri_sr.fsutil import file_sha256
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.models import ENV_FOLDER, INDEX, PACKAGE_FOLDER, add_model, default_model, shipped_models
from mri_sr.nets import build_network

REPO = Path(__file__).resolve().parents[1]


def save_micro_checkpoint(path: Path, scale: int) -> Path:
    """A one-channel micro SRResNet generator checkpoint (random weights) of ``scale``."""
    torch.manual_seed(scale)
    spec = {"type": "srresnet", "num_feat": 4, "num_block": 1, "scale": scale, "in_channels": 1}
    save_checkpoint({"model": "srresnet", "iteration": 0, "scale": scale, "in_channels": 1, "net_g_spec": spec,
                     "nets": {"net_g": build_network(spec).state_dict()},
                     "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5}, "config": {}}, path)
    return path


@pytest.fixture
def small_nifti(tmp_path) -> Path:
    """A 24 x 24 x 16 crop of the MNI template (1 mm isotropic) as a NIfTI file."""
    mni = load_volume("builtin:mni152")
    path = tmp_path / "scan.nii.gz"
    save_nifti(Volume(np.ascontiguousarray(mni.data[80:104, 100:124, 80:96]), mni.affine, "crop"), path)
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A site's models folder holding micro x2 and x4 models, named by ``MRI_SR_MODELS``."""
    models = tmp_path / "site_models"
    sources = tmp_path / "sources"
    sources.mkdir()
    for scale in (2, 4):
        card = sources / f"micro_x{scale}.md"
        card.write_text(f"# micro x{scale}\nA test model: random weights.\n")
        add_model(save_micro_checkpoint(sources / f"micro_x{scale}.pt", scale), card,
                  description=f"micro  test model x{scale}", folder=models)
    monkeypatch.setenv(ENV_FOLDER, str(models))
    return models


def test_add_model_writes_an_index_with_the_file_hash(folder):
    index = yaml.safe_load((folder / INDEX).read_text())["models"]
    assert [entry["name"] for entry in index] == ["micro_x2", "micro_x4"]
    assert index[0] == {"name": "micro_x2", "scale": 2, "file": "micro_x2.pt", "card": "micro_x2.md",
                        "sha256": file_sha256(folder / "micro_x2.pt"), "description": "micro test model x2"}
    models = shipped_models()  # from MRI_SR_MODELS
    assert [(m.name, m.scale, m.file, m.card) for m in models] == [
        ("micro_x2", 2, folder / "micro_x2.pt", folder / "micro_x2.md"),
        ("micro_x4", 4, folder / "micro_x4.pt", folder / "micro_x4.md")]
    assert default_model(4).file == folder / "micro_x4.pt"
    # Adding a model of an existing name replaces its entry and keeps the others.
    again = add_model(folder / "micro_x2.pt", folder / "micro_x2.md", description="again")
    assert again.description == "again" and [m.name for m in shipped_models()] == ["micro_x2", "micro_x4"]


def test_two_runs_final_checkpoints_are_added_under_their_names(tmp_path):
    """Every run's generator is ``final.pt``: added under two names, each keeps its own file."""
    models = tmp_path / "models"
    for scale in (2, 4):
        run = tmp_path / f"x{scale}"
        run.mkdir()
        (run / "card.md").write_text(f"# x{scale}\n")
        add_model(save_micro_checkpoint(run / "final.pt", scale), run / "card.md", name=f"general_x{scale}",
                  folder=models)
    listed = shipped_models(models)
    assert [(m.name, m.scale, m.file.name, m.card.name) for m in listed] == [
        ("general_x2", 2, "general_x2.pt", "general_x2.md"), ("general_x4", 4, "general_x4.pt", "general_x4.md")]
    assert [m.verified() for m in listed] == [models / "general_x2.pt", models / "general_x4.pt"]
    assert (models / "general_x4.md").read_text() == "# x4\n"


def test_models_command_lists_name_scale_file_card(cli, folder):
    code, out, err = cli("models")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"micro_x2  x2  {folder / 'micro_x2.pt'}  card: {folder / 'micro_x2.md'}"
    assert lines[1].strip() == "micro test model x2"
    assert lines[2].startswith("micro_x4  x4  ")
    code, out, err = cli("models", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [(m["name"], m["scale"], m["file"], m["card"]) for m in listed] == [
        ("micro_x2", 2, str(folder / "micro_x2.pt"), str(folder / "micro_x2.md")),
        ("micro_x4", 4, str(folder / "micro_x4.pt"), str(folder / "micro_x4.md"))]
    assert listed[1]["sha256"] == file_sha256(folder / "micro_x4.pt")


def test_models_command_adds_a_model(cli, tmp_path):
    card = tmp_path / "card.md"
    card.write_text("# card\n")
    checkpoint = save_micro_checkpoint(tmp_path / "mine.pt", 4)
    code, out, err = cli("models", "--folder", tmp_path / "mine", "--add", checkpoint, "--card", card,
                         "--name", "site_x4")
    assert code == 0, err
    assert [(m.name, m.scale) for m in shipped_models(tmp_path / "mine")] == [("site_x4", 4)]


def test_a_damaged_model_file_is_one_line(cli, folder, tmp_path, error_line, small_nifti):
    with open(folder / "micro_x2.pt", "ab") as f:
        f.write(b"\0")
    line = error_line(cli("upscale", small_nifti, tmp_path / "out.nii.gz"), folder / "micro_x2.pt", "sha256",
                      folder / INDEX)
    assert "damaged or replaced" in line
    assert not (tmp_path / "out.nii.gz").exists()
    (folder / "micro_x4.pt").unlink()
    error_line(cli("upscale", small_nifti, tmp_path / "out.nii.gz", "--scale", "4"), folder / "micro_x4.pt",
               "missing")


def test_no_model_of_the_scale_is_one_line_naming_the_shipped_scales(cli, folder, tmp_path, error_line,
                                                                     small_nifti, monkeypatch):
    line = error_line(cli("upscale", small_nifti, tmp_path / "out.nii.gz", "--scale", "3"),
                      "no shipped model upscales x3", "x2, x4", "--checkpoint", "--method")
    assert str(folder / INDEX) in line
    monkeypatch.setenv(ENV_FOLDER, str(tmp_path / "empty"))
    error_line(cli("upscale", small_nifti, tmp_path / "out.nii.gz"), "no shipped model upscales x2", ": none)")
    code, out, _ = cli("models")
    assert code == 0 and out.startswith(f"no shipped models in {tmp_path / 'empty'}")
    assert not (tmp_path / "out.nii.gz").exists()


def test_a_broken_index_is_one_line(cli, tmp_path, error_line, monkeypatch):
    monkeypatch.setenv(ENV_FOLDER, str(tmp_path))
    (tmp_path / INDEX).write_text("models:\n  - name: x\n    scale: 2\n")
    error_line(cli("models"), tmp_path / INDEX, "exactly the fields")
    (tmp_path / INDEX).write_text("models: [\n")
    error_line(cli("models"), tmp_path / INDEX, "unreadable")


def test_package_index_is_valid():
    for model in shipped_models(PACKAGE_FOLDER):
        assert model.file.parent == PACKAGE_FOLDER and model.card.is_file()
        assert model.file.stat().st_size <= 20 * 1024 * 1024


@pytest.mark.slow
def test_a_built_wheel_ships_the_models_weights_and_cards(tmp_path):
    """Build a wheel (no isolation, no dependencies) from a copy of the project holding a model
    file and card; the wheel carries them, and the index."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "mri_sr", project / "mri_sr", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    card = tmp_path / "general_x2.md"
    card.write_text("# general x2\n")
    add_model(save_micro_checkpoint(tmp_path / "general_x2.pt", 2), card, folder=project / "mri_sr" / "models")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(project)], check=True, capture_output=True)
    wheel, = (tmp_path / "wheel").glob("mri_sr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mri_sr/models/__init__.py", "mri_sr/models/index.yaml", "mri_sr/models/general_x2.pt",
            "mri_sr/models/general_x2.md"} <= names
