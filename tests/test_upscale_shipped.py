"""``mri-sr upscale IN OUT`` with no checkpoint: the shipped model, isotropic output, the sidecar,
``--uncertainty``. A micro model stands in for the shipped weights (``MRI_SR_MODELS``); the last
test runs the real shipped models once ``mri_sr/models/index.yaml`` lists them."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy.ndimage import maximum_filter, minimum_filter

import mri_sr
from mri_sr.checkpoint import save_checkpoint
from mri_sr.device import resolve_precision
from mri_sr.fsutil import file_sha256
from mri_sr.geometry import upscaled_affine
from mri_sr.io import Volume, load_volume, save_nifti
from mri_sr.models import ENV_FOLDER, PACKAGE_FOLDER, add_model, shipped_models
from mri_sr.nets import build_network

BLOCK = (slice(4, 36), slice(4, 36), slice(2, 34))  # the constant block of the test scan, input voxels
MARGIN = 12  # input voxels: beyond the micro network's receptive field and the bicubic completion


def constant_preserving_micro_net(scale: int) -> torch.nn.Module:
    """A micro SRResNet (random weights) whose sub-pixel convolution gives every sub-pixel of a
    feature the same weights: a constant input stays constant (away from the borders), so the
    views of the self-ensemble agree exactly there, and disagree wherever the image varies."""
    torch.manual_seed(scale)
    net = build_network({"type": "srresnet", "num_feat": 4, "num_block": 1, "scale": scale, "in_channels": 1})
    with torch.no_grad():
        for layer in net.upsample:
            if isinstance(layer, torch.nn.Conv2d):
                groups = layer.out_channels // layer.in_channels  # factor ** 2 sub-pixels per feature
                layer.weight.copy_(layer.weight[::groups].repeat_interleave(groups, 0))
                layer.bias.copy_(layer.bias[::groups].repeat_interleave(groups, 0))
    return net


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    """A models folder with micro x2 and x4 models, named by MRI_SR_MODELS."""
    folder = tmp_path / "models"
    for scale in (2, 4):
        net = constant_preserving_micro_net(scale)
        spec = {"type": "srresnet", "num_feat": 4, "num_block": 1, "scale": scale, "in_channels": 1}
        checkpoint = tmp_path / f"micro_x{scale}.pt"
        save_checkpoint({"model": "srresnet", "iteration": 0, "scale": scale, "in_channels": 1, "net_g_spec": spec,
                         "nets": {"net_g": net.state_dict()},
                         "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5}, "config": {}}, checkpoint)
        card = tmp_path / f"micro_x{scale}.md"
        card.write_text(f"# micro x{scale}\n")
        add_model(checkpoint, card, description="test model", folder=folder)
    monkeypatch.setenv(ENV_FOLDER, str(folder))
    return folder


@pytest.fixture(scope="module")
def iso_scan(tmp_path_factory) -> tuple[Path, Volume]:
    """A 1 mm isotropic scan: a 40 x 40 x 36 crop of the MNI template on an oblique grid (rotated
    about two axes), with a block of constant intensity inside."""
    mni = load_volume("builtin:mni152")
    data = np.ascontiguousarray(mni.data[70:110, 90:130, 70:106])
    data[BLOCK] = float(np.median(data))
    angle = np.deg2rad(12.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    rotation = rotation @ np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    affine = np.eye(4)
    affine[:3, :3] = rotation
    affine[:3, 3] = [-20.0, -30.0, 10.0]
    path = tmp_path_factory.mktemp("iso") / "scan_1mm.nii.gz"
    save_nifti(Volume(data, affine, "mni crop"), path)
    return path, load_volume(path)


def test_isotropic_scan_with_no_options_becomes_half_millimetre_isotropic(cli, models, iso_scan, tmp_path, caplog):
    path, scan = iso_scan
    out = tmp_path / "out.nii.gz"
    with caplog.at_level("INFO"):
        code, _, err = cli("upscale", path, out)
    assert code == 0, err
    assert "shipped micro_x2" in caplog.text and "every axis upscaled" in caplog.text
    img = nib.load(out)
    assert img.shape == tuple(2 * n for n in scan.data.shape)
    np.testing.assert_allclose(img.affine, upscaled_affine(scan.affine, (2, 2, 2)), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(img.affine[:3, :3], axis=0), [0.5, 0.5, 0.5], rtol=1e-6)
    assert img.header.get_xyzt_units()[0] == "mm"
    # The sidecar: what made the output, nothing of the input but its name.
    sidecar = json.loads((tmp_path / "out.json").read_text())
    assert sidecar["Model"] == "micro_x2" and sidecar["Method"] == "generator" and sidecar["Scale"] == 2
    assert sidecar["Checkpoint"] == "micro_x2.pt"
    assert sidecar["CheckpointSHA256"] == file_sha256(models / "micro_x2.pt")
    assert sidecar["Precision"] == resolve_precision("auto", torch.device("cpu"))
    assert sidecar["SoftwareVersion"] == mri_sr.__version__ and sidecar["SoftwareName"] == "mri-sr"
    assert sidecar["SourceFile"] == "scan_1mm.nii.gz"
    assert sidecar["Options"]["fuse_orthogonal"] is True and sidecar["Options"]["self_ensemble"] is False
    assert sidecar["VoxelSizeMm"] == [0.5, 0.5, 0.5] and sidecar["Uncertainty"] is None
    assert str(path.parent) not in (tmp_path / "out.json").read_text()


def test_uncertainty_map_on_the_output_grid(cli, models, iso_scan, tmp_path):
    path, scan = iso_scan
    out, std = tmp_path / "out.nii.gz", tmp_path / "std.nii.gz"
    code, _, err = cli("upscale", path, out, "--uncertainty", std)
    assert code == 0, err
    image, spread_img = nib.load(out), nib.load(std)
    assert spread_img.shape == image.shape
    np.testing.assert_array_equal(spread_img.affine, image.affine)
    np.testing.assert_array_equal(spread_img.header.get_sform(), image.header.get_sform())
    np.testing.assert_array_equal(spread_img.header.get_qform(), image.header.get_qform())
    assert spread_img.header.get_xyzt_units() == image.header.get_xyzt_units()
    spread = np.asarray(spread_img.dataobj, dtype=np.float32)
    assert spread.min() >= 0
    # The mean is the self-ensemble's (turned on by --uncertainty): the same numbers as --self-ensemble.
    code, _, err = cli("upscale", path, tmp_path / "ensemble.nii.gz", "--self-ensemble")
    assert code == 0, err
    np.testing.assert_array_equal(np.asarray(image.dataobj), np.asarray(nib.load(tmp_path / "ensemble.nii.gz").dataobj))
    # Zero where the views agree: inside the constant block; positive wherever the scan varies.
    inner = tuple(slice(2 * (b.start + MARGIN), 2 * (b.stop - MARGIN)) for b in BLOCK)
    value_range = float(scan.data.max() - scan.data.min())
    assert float(spread[inner].max()) <= 1e-6 * value_range
    varies = maximum_filter(scan.data, 3) > minimum_filter(scan.data, 3)
    varies[BLOCK] = False
    varies_out = varies.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    assert np.mean(spread[varies_out] > 1e-4 * value_range) > 0.95
    sidecar = json.loads((tmp_path / "out.json").read_text())
    assert sidecar["Uncertainty"] == "std.nii.gz" and sidecar["Options"]["self_ensemble"] is True


def test_in_plane_spread_is_exactly_zero_where_the_views_agree(cli, models, iso_scan, tmp_path):
    path, scan = iso_scan
    std = tmp_path / "std.nii.gz"
    code, _, err = cli("upscale", path, tmp_path / "out.nii", "--no-fuse-orthogonal", "--uncertainty", std)
    assert code == 0, err
    spread = np.asarray(nib.load(std).dataobj)
    assert spread.shape == (80, 80, 36)  # slices along the last axis, upscaled in-plane
    inner = (slice(2 * (BLOCK[0].start + MARGIN), 2 * (BLOCK[0].stop - MARGIN)),
             slice(2 * (BLOCK[1].start + MARGIN), 2 * (BLOCK[1].stop - MARGIN)), BLOCK[2])
    assert np.count_nonzero(spread[inner]) == 0
    assert float(spread.max()) > 0


def test_anisotropic_scan_is_upscaled_in_plane_and_the_log_points_to_throughplane(cli, models, tmp_path, caplog):
    mni = load_volume("builtin:mni152")
    affine = mni.affine @ np.diag([1.0, 1.0, 3.0, 1.0])
    path = tmp_path / "thick.nii.gz"
    save_nifti(Volume(np.ascontiguousarray(mni.data[80:112, 100:132, 80:140:3]), affine, "thick"), path)
    with caplog.at_level("INFO"):
        code, _, err = cli("upscale", path, tmp_path / "out.nii.gz", "--scale", "4")
    assert code == 0, err
    img = nib.load(tmp_path / "out.nii.gz")
    assert img.shape == (128, 128, 20)
    np.testing.assert_allclose(img.affine, upscaled_affine(affine, (4, 4, 1)), atol=1e-5)
    assert "mri-sr throughplane" in caplog.text and "slice axis 2" in caplog.text
    assert json.loads((tmp_path / "out.json").read_text())["Model"] == "micro_x4"


def test_sidecar_of_a_dicom_input_holds_no_patient_field(cli, shared_data, tmp_path):
    import pydicom

    folder = shared_data / "mri" / "dicom" / "philips_epi_4d_oblique"
    out = tmp_path / "epi.nii.gz"
    code, _, err = cli("upscale", folder, out, "--method", "bicubic", "--volume", "0")
    assert code == 0, err
    text = (tmp_path / "epi.json").read_text()
    sidecar = json.loads(text)
    assert sidecar["SourceFile"] == "philips_epi_4d_oblique" and sidecar["Method"] == "bicubic"
    assert sidecar["Model"] is None and sidecar["CheckpointSHA256"] is None and sidecar["Precision"] == "fp32"
    first = pydicom.dcmread(next(p for p in sorted(folder.rglob("*")) if p.is_file()), stop_before_pixels=True)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "InstitutionName",
                    "StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber", "StudyDate"):
        assert keyword not in text
        value = str(first.get(keyword, "") or "")
        assert len(value) < 3 or value not in text, keyword


def test_the_sidecar_never_replaces_the_inputs_own(cli, models, tmp_path, error_line):
    mni = load_volume("builtin:mni152")
    path = tmp_path / "sub-01_T1w.nii.gz"
    save_nifti(Volume(np.ascontiguousarray(mni.data[80:100, 100:120, 80:90]), mni.affine, "crop"), path)
    (tmp_path / "sub-01_T1w.json").write_text("{}")
    error_line(cli("upscale", path, tmp_path / "sub-01_T1w.nii", "--method", "bicubic"), "sub-01_T1w.json")
    assert (tmp_path / "sub-01_T1w.json").read_text() == "{}"


@pytest.mark.skipif(not shipped_models(PACKAGE_FOLDER),
                    reason="mri_sr/models/index.yaml lists no shipped model yet (the weights arrive later)")
def test_real_shipped_models_upscale_a_real_scan(cli, shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_FOLDER, raising=False)
    scan = load_volume(shared_data / "mri" / "nifti" / "chris_t1.nii.gz")
    crop = Volume(np.ascontiguousarray(scan.data[60:124, 80:144, 60:124]), scan.affine, "chris_t1 crop")
    path = tmp_path / "crop.nii.gz"
    save_nifti(crop, path)
    for model in shipped_models(PACKAGE_FOLDER):
        out = tmp_path / f"{model.name}.nii.gz"
        code, _, err = cli("upscale", path, out, "--scale", str(model.scale), "--no-fuse-orthogonal")
        assert code == 0, err
        img = nib.load(out)
        assert img.shape == (64 * model.scale, 64 * model.scale, 64)
        np.testing.assert_allclose(img.affine, upscaled_affine(crop.affine, (model.scale, model.scale, 1)),
                                   atol=1e-5)
        result = np.asarray(img.dataobj, dtype=np.float32)
        assert np.isfinite(result).all()
        # Same units: the output's mean over the field of view stays the input's, within 2 %.
        assert abs(float(result.mean()) - float(crop.data.mean())) < 0.02 * float(crop.data.mean())
        sidecar = json.loads((tmp_path / f"{model.name}.json").read_text())
        assert sidecar["Model"] == model.name and sidecar["CheckpointSHA256"] == model.sha256


def test_uncertainty_must_not_be_the_output(cli, models, iso_scan, tmp_path, error_line):
    path, _ = iso_scan
    error_line(cli("upscale", path, tmp_path / "out.nii.gz", "--uncertainty", tmp_path / "out.nii.gz"),
               "--uncertainty", "is the output file")
    error_line(cli("upscale", path, tmp_path / "out.nii.gz", "--uncertainty", tmp_path / "std.txt"),
               "std.txt", ".nii")
    assert not (tmp_path / "out.nii.gz").exists()


def test_a_dotted_name_keeps_its_dots_in_the_sidecar(cli, tmp_path):
    mni = load_volume("builtin:mni152")
    path = tmp_path / "scan.v1.nii.gz"
    save_nifti(Volume(np.ascontiguousarray(mni.data[80:100, 100:120, 80:90]), mni.affine, "crop"), path)
    (tmp_path / "scan.v1.json").write_text("{}")  # the input's own sidecar
    code, _, err = cli("upscale", path, tmp_path / "scan.v2.NII.GZ", "--method", "bicubic")
    assert code == 0, err
    assert json.loads((tmp_path / "scan.v2.json").read_text())["SourceFile"] == "scan.v1.nii.gz"
    assert (tmp_path / "scan.v1.json").read_text() == "{}" and not (tmp_path / "scan.json").exists()
