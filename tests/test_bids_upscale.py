"""`snakemake upscale`: many scans (a BIDS dataset, a DICOM folder) into a BIDS derivatives dataset."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import pytest
import yaml

from mri_sr.bids import derivative_path, list_scans
from mri_sr.config import validate_config
from mri_sr.errors import MriSrError

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


@pytest.fixture
def bids_raw(tmp_path, shared_data) -> Path:
    """A BIDS dataset of the shared real scans, subsampled to a few dozen voxels a side:
    sub-chris (no session), sub-philips with session 01 (an MPRAGE and, acq-low, the Siemens scan)."""
    root = tmp_path / "raw"
    write_json(root / "dataset_description.json", {"Name": "mri-sr test scans", "BIDSVersion": "1.9.0"})
    (root / "README").write_text("Real scans of the shared test data, subsampled.\n")
    (root / "participants.tsv").write_text("participant_id\nsub-chris\nsub-philips\n")
    images = {
        "sub-chris/anat/sub-chris_T1w": ("mri/nifti/chris_t1.nii.gz", 4),
        "sub-philips/ses-01/anat/sub-philips_ses-01_T1w": ("mri/dicom/philips_t1_mprage_sag.nii.gz", 4),
        "sub-philips/ses-01/anat/sub-philips_ses-01_acq-low_T1w": ("mri/dicom/siemens_xa30_t1_enhanced.nii.gz", 3),
    }
    for name, (source, step) in images.items():
        image = nib.load(shared_data / source)
        small = image.slicer[::step, ::step, ::step]
        path = root / f"{name}.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(nib.Nifti1Image(small.get_fdata(dtype="float32"), small.affine), path)
        write_json(root / f"{name}.json", {"MagneticFieldStrength": 3})
    return root


def test_derivative_names_keep_the_source_entities_and_end_with_desc():
    assert derivative_path("sub-01_ses-2_acq-mp_run-1_T1w.nii.gz", "srresnet") == "sub-01_ses-2_acq-mp_run-1_desc-srresnet_T1w"
    assert derivative_path("sub-01_desc-old_T2w.nii", "bicubic") == "sub-01_desc-bicubic_T2w"


def test_bids_filters_select_by_entity(bids_raw):
    def sources(**filters):
        section = validate_config({"upscale": {"scans": [{"path": str(bids_raw), "filters": filters}],
                                               "method": "bicubic"}})["upscale"]
        return sorted(Path(scan.source).name for scan in list_scans(section))

    assert len(sources()) == 3
    assert sources(session="01") == ["sub-philips_ses-01_T1w.nii.gz", "sub-philips_ses-01_acq-low_T1w.nii.gz"]
    assert sources(acquisition="low") == ["sub-philips_ses-01_acq-low_T1w.nii.gz"]
    with pytest.raises(MriSrError, match="no image"):
        sources(suffix="T2w")


def test_two_entries_writing_one_output_are_refused(shared_data):
    scan = str(shared_data / "mri/nifti/chris_t1.nii.gz")
    section = validate_config({"upscale": {"scans": [{"path": scan}, {"path": scan}], "method": "bicubic"}})["upscale"]
    with pytest.raises(MriSrError, match="both would be written"):
        list_scans(section)


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                             str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def jobs_run(result: subprocess.CompletedProcess, rule: str) -> int:
    """How many jobs of ``rule`` Snakemake's job stats table lists (0 when nothing was done)."""
    found = re.search(rf"^{rule}\s+(\d+)$", result.stdout + result.stderr, re.MULTILINE)
    return int(found.group(1)) if found else 0


def test_snakemake_upscale_writes_a_bids_derivatives_dataset(tmp_path, bids_raw, shared_data):
    from bids import BIDSLayout

    out = tmp_path / "derivatives" / "mri-sr"
    config = yaml.safe_load((REPO / "configs/default.yaml").read_text())
    config["upscale"] = {"scans": [{"path": str(bids_raw)},
                                   {"path": str(shared_data / "mri/dicom/siemens_xa30_t1_enhanced"),
                                    "subject": "siemens", "session": "02"}],
                         "out": str(out), "method": "bicubic", "scale": 2, "device": "cpu"}
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "configs").symlink_to(REPO / "configs")  # the model configs the workflow resolves
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))

    first = snakemake(workdir, "upscale")
    assert jobs_run(first, "upscale_scan") == 4

    layout = BIDSLayout(out, validate=False, is_derivative=True)
    images = layout.get(extension=".nii.gz", return_type="object")
    assert sorted((i.entities["subject"], i.entities.get("session", ""), i.entities.get("acquisition", ""),
                   i.entities["desc"], i.entities["suffix"]) for i in images) == [
        ("chris", "", "", "bicubic", "T1w"),
        ("philips", "01", "", "bicubic", "T1w"),
        ("philips", "01", "low", "bicubic", "T1w"),
        ("siemens", "02", "", "bicubic", "T1w"),
    ]
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"][0]["Name"] == "mri-sr"

    source = bids_raw / "sub-chris/anat/sub-chris_T1w.nii.gz"
    result = out / "sub-chris/anat/sub-chris_desc-bicubic_T1w.nii.gz"
    sidecar = json.loads(result.with_name("sub-chris_desc-bicubic_T1w.json").read_text())
    assert sidecar["SourceFile"] == source.name  # the name only: no folder path in outputs
    assert (sidecar["Method"], sidecar["Scale"], sidecar["Precision"]) == ("bicubic", 2, "fp32")
    assert sidecar["SoftwareName"] == "mri-sr" and sidecar["SoftwareVersion"]
    assert sidecar["Options"]["device"] == "cpu"
    in_shape, out_shape = nib.load(source).shape, nib.load(result).shape
    assert sorted(o // i for i, o in zip(in_shape, out_shape)) == [1, 2, 2]
    assert len(list(out.rglob("*.json"))) == len(images) + 1

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.nii.gz")}
    again = snakemake(workdir, "upscale")
    assert jobs_run(again, "upscale_scan") == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.nii.gz")} == stamps

    result.unlink()
    third = snakemake(workdir, "upscale")
    assert jobs_run(third, "upscale_scan") == 1 and result.exists()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.nii.gz") if p != result} == \
        {p: t for p, t in stamps.items() if p != result}

    validator = shutil.which("bids-validator-deno", path=str(BIN)) or shutil.which("bids-validator-deno")
    if validator is None:
        pytest.skip("bids-validator-deno is not installed (pip install bids-validator-deno): dataset not validated")
    check = subprocess.run([validator, str(out)], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]


def test_upscale_with_a_trained_model_plans_its_training_first(tmp_path, shared_data):
    config = yaml.safe_load((REPO / "configs/default.yaml").read_text())
    config["upscale"] = {"scans": [{"path": str(shared_data / "mri/nifti/chris_t1.nii.gz"), "subject": "chris"}],
                         "out": str(tmp_path / "out"), "model": "srresnet", "scale": 4}
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "configs").symlink_to(REPO / "configs")
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    plan = snakemake(workdir, "-n", "upscale").stdout
    assert "results/runs/x4/srresnet/final.pt" in plan
    assert f"{tmp_path}/out/sub-chris/anat/sub-chris_desc-srresnet_T1w.nii.gz" in plan
    assert jobs_run(snakemake(workdir, "-n", "upscale"), "upscale_scan") == 1


def test_sidecar_of_a_generator_records_its_checkpoint_hash_and_precision(tmp_path, cli):
    import hashlib

    import numpy as np

    from mri_sr.checkpoint import save_checkpoint
    from mri_sr.io import Volume, load_volume, save_nifti
    from mri_sr.nets import build_network

    spec = {"type": "srresnet", "num_feat": 8, "num_block": 1, "scale": 2, "in_channels": 1}
    checkpoint = tmp_path / "micro.pt"
    save_checkpoint({"model": "srresnet", "scale": 2, "in_channels": 1, "net_g_spec": spec,
                     "nets": {"net_g": build_network(spec).state_dict()},
                     "normalisation": {"low_percentile": 0.5, "high_percentile": 99.5}}, checkpoint)
    mni = load_volume("builtin:mni152")
    scan = tmp_path / "scan.nii.gz"
    save_nifti(Volume(np.ascontiguousarray(mni.data[80:112, 100:132, 90:93]), mni.affine, "crop"), scan)
    out = tmp_path / "deriv" / "sub-01" / "anat" / "sub-01_desc-micro_T1w.nii.gz"
    code, _, err = cli("upscale", scan, out, "--checkpoint", checkpoint, "--device", "cpu", "--precision", "fp32",
                       "--bids-derivatives")
    assert code == 0, err
    sidecar = json.loads(out.with_name("sub-01_desc-micro_T1w.json").read_text())
    assert sidecar["Method"] == "generator" and sidecar["Checkpoint"] == checkpoint.name
    assert sidecar["CheckpointSHA256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert (sidecar["Scale"], sidecar["Precision"], sidecar["SourceFile"]) == (2, "fp32", scan.name)
    assert json.loads((tmp_path / "deriv" / "dataset_description.json").read_text())["DatasetType"] == "derivative"


def test_bids_sidecar_outside_a_subject_folder_is_one_error_line(tmp_path, cli, error_line):
    error_line(cli("upscale", "builtin:mni152", tmp_path / "out.nii.gz", "--method", "bicubic", "--bids-derivatives"),
               "sub-<label>")


def test_through_plane_jobs_self_train_each_scan(tmp_path, shared_data):
    config = yaml.safe_load((REPO / "configs/default.yaml").read_text())
    config["upscale"] = {"scans": [{"path": str(shared_data / "mri/nifti/chris_t1.nii.gz"), "subject": "chris"}],
                         "out": str(tmp_path / "out"), "through_plane": 2}
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "configs").symlink_to(REPO / "configs")
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    plan = snakemake(workdir, "-n", "-p", "upscale").stdout
    assert "sub-chris/anat/sub-chris_desc-throughplane_T1w.nii.gz" in plan
    assert "mri-sr throughplane " in plan and "--minutes 2 " in plan and "--bids-derivatives" in plan
