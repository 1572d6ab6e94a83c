"""Each bad input: a one-line error naming the file and the problem, exit 1, nothing written."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
import yaml

from mri_sr.io import Volume, save_nifti


def write_config(tmp_path, source_path, **data):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": {"sources": [{"path": str(source_path)}], **data}}))
    return path


def prepare_fails(cli, tmp_path, source, expected, **data):
    """Run `mri-sr prepare` on one source; assert the error and that nothing was written."""
    before = set(tmp_path.rglob("*"))
    code, out, err = cli("prepare", "--config", write_config(tmp_path, source, **data),
                         "--scale", 2, "--out", tmp_path / "out")
    assert code == 1
    assert err.startswith("mri-sr: error: ") and err.count("\n") == 1, err
    assert expected in err, err
    assert str(source).split("/")[-1] in err or str(tmp_path / "config.yaml") in err
    assert set(tmp_path.rglob("*")) - before == {tmp_path / "config.yaml"} - before
    return err


def test_missing_path(cli, tmp_path):
    prepare_fails(cli, tmp_path, tmp_path / "missing.nii.gz", "no such file or folder")
    code, _, err = cli("info", tmp_path / "missing.nii.gz")
    assert code == 1 and "missing.nii.gz: no such file or folder" in err


def test_truncated_nifti(cli, tmp_path):
    save_nifti(Volume(np.random.default_rng(0).random((30, 30, 30)).astype(np.float32), np.eye(4), "t"),
               tmp_path / "full.nii.gz")
    raw = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) * 2 // 3])
    prepare_fails(cli, tmp_path, tmp_path / "cut.nii.gz", "truncated or corrupt")


def test_non_image_file(cli, tmp_path):
    (tmp_path / "report.nii.gz").write_bytes(gzip.compress(b"%PDF-1.4 not an image" * 50))
    prepare_fails(cli, tmp_path, tmp_path / "report.nii.gz", "report.nii.gz: ")


def test_empty_folder(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    prepare_fails(cli, tmp_path, tmp_path / "empty", "folder is empty")


def test_4d_input_without_volume_index(cli, tmp_path):
    data = np.random.default_rng(0).random((40, 40, 40, 2)).astype(np.float32)
    save_nifti(Volume(data, np.eye(4), "t"), tmp_path / "bold.nii.gz")
    prepare_fails(cli, tmp_path, tmp_path / "bold.nii.gz", "scan is 4D with 2 volumes", hr_patch_size=16)


@pytest.mark.parametrize("fill,problem", [(0.0, "constant intensity"), (np.nan, "NaN")])
def test_all_zero_or_nan_volume(cli, tmp_path, fill, problem):
    data = np.random.default_rng(0).random((40, 40, 40)).astype(np.float32)
    data = np.zeros_like(data) if fill == 0 else np.where(data > 0.5, np.nan, data)
    save_nifti(Volume(data, np.eye(4), "t"), tmp_path / "bad.nii.gz")
    prepare_fails(cli, tmp_path, tmp_path / "bad.nii.gz", problem, hr_patch_size=16)


def test_volume_smaller_than_a_patch(cli, tmp_path):
    save_nifti(Volume(np.random.default_rng(0).random((20, 20, 20)).astype(np.float32), np.eye(4), "t"),
               tmp_path / "tiny.nii.gz")
    prepare_fails(cli, tmp_path, tmp_path / "tiny.nii.gz", "smaller than one 96x96 HR training patch")


def test_unknown_config_key(cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"sources": [{"path": "builtin:mni152"}], "hr_pach_size": 64}}))
    code, _, err = cli("prepare", "--config", config, "--scale", 4, "--out", tmp_path / "out")
    assert code == 1 and "config.yaml: unknown config key 'data.hr_pach_size'" in err
    assert not (tmp_path / "out").exists()


def test_dicom_folder_with_two_series(cli, tmp_path, dicom_writer, mni_crop):
    stored, affine = mni_crop
    dicom_writer.write_series(tmp_path / "study", stored, affine, series_number=3)
    dicom_writer.write_series(tmp_path / "study", stored[:, :, :10], affine, series_number=4, seed=1)
    err = prepare_fails(cli, tmp_path, tmp_path / "study", "holds 2 series", hr_patch_size=16)
    assert "--series" in err


def test_dicom_slices_of_different_sizes(cli, tmp_path, dicom_writer, mni_crop):
    stored, affine = mni_crop
    files = dicom_writer.write_series(tmp_path / "series", stored, affine)
    small = dicom_writer.write_series(tmp_path / "other", stored[:20, :24, :], affine,
                                      series_uid=__import__("pydicom").dcmread(files[0]).SeriesInstanceUID)
    small[0].rename(tmp_path / "series" / "odd.dcm")
    prepare_fails(cli, tmp_path, tmp_path / "series", "different sizes", hr_patch_size=16)


# ------------------------------------------------------------------ never replace a user's file

def snapshot(folder):
    """{relative path: bytes} of every file under ``folder`` (symbolic links as their target text)."""
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


def one_line_error(result, *needles):
    code, _, err = result
    assert code == 1 and err.startswith("mri-sr: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert str(needle) in err, err
    return err


def test_upscale_refuses_to_write_onto_its_input(cli, tmp_path):
    scan = tmp_path / "scan.nii.gz"
    save_nifti(Volume(np.random.default_rng(0).random((12, 12, 3)).astype(np.float32), np.eye(4), "t"), scan)
    (tmp_path / "link.nii.gz").symlink_to(scan)
    os.link(scan, tmp_path / "hard.nii")
    before = snapshot(tmp_path)
    for output in (scan, tmp_path / "link.nii.gz", tmp_path / "hard.nii", tmp_path / "sub" / ".." / "scan.nii.gz"):
        one_line_error(cli("upscale", scan, output, "--method", "bicubic"), output, "is the input")
    one_line_error(cli("upscale", tmp_path / "link.nii.gz", scan, "--method", "bicubic"), "is the input")
    assert snapshot(tmp_path) == before


def test_upscale_refuses_to_write_into_its_dicom_folder(cli, tmp_path, dicom_writer, mni_crop):
    stored, affine = mni_crop
    dicom_writer.write_series(tmp_path / "series", stored[:, :, :4], affine)
    before = snapshot(tmp_path)
    one_line_error(cli("upscale", tmp_path / "series", tmp_path / "series" / "sr.nii.gz", "--method", "bicubic"),
                   "sr.nii.gz", "inside the input folder")
    assert snapshot(tmp_path) == before


def test_prepare_never_replaces_a_folder_it_did_not_make(cli, tmp_path, dicom_writer, mni_crop):
    stored, affine = mni_crop
    dicom_writer.write_series(tmp_path / "series", stored, affine)
    config = write_config(tmp_path, tmp_path / "series", hr_patch_size=16)
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.docx").write_bytes(b"PK\x03\x04 years of work")
    (tmp_path / "notes.txt").write_text("not a folder")
    before = snapshot(tmp_path)
    for out in (tmp_path / "series", tmp_path / "thesis"):
        one_line_error(cli("prepare", "--config", config, "--scale", 2, "--out", out), out, "not made by")
    one_line_error(cli("prepare", "--config", config, "--scale", 2, "--out", tmp_path / "notes.txt"),
                   "notes.txt", "not a folder")
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "notes.txt", "series", "thesis"]


def test_prepare_replaces_its_own_folder(cli, tmp_path, dicom_writer, mni_crop):
    stored, affine = mni_crop
    dicom_writer.write_series(tmp_path / "series", stored, affine)
    config = write_config(tmp_path, tmp_path / "series", hr_patch_size=16)
    (tmp_path / "out").mkdir()  # empty: e.g. made by a workflow manager
    assert cli("prepare", "--config", config, "--scale", 2, "--out", tmp_path / "out")[0] == 0
    first = snapshot(tmp_path / "out")
    (tmp_path / "out" / "shards" / "stale.npy").write_bytes(b"from an older run")
    assert cli("prepare", "--config", config, "--scale", 2, "--out", tmp_path / "out")[0] == 0
    assert snapshot(tmp_path / "out") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "out", "series"]


# ------------------------------------------------------------------ one line for every bad input

MODEL = {"model": "micro", "method": "psnr", "networks": {"net_g": {"type": "srresnet", "num_feat": 4, "num_block": 1}},
         "train": {"iterations": 1}, "losses": {"weights": {"pixel": 1.0}}}


@pytest.mark.parametrize("change,key", [
    ({"losses": {"weights": {"pixel": 1.0}, "options": {"pixel": {"criterium": "l1"}}}}, "losses.options.pixel.criterium"),
    ({"losses": {"weights": {"gan": 0.1}, "options": {"gan": {"type": "ragan"}}}}, "losses.options.gan.type"),
    ({"losses": {"weights": {"pixel": 1.0}, "options": {"pixl": {}}}}, "losses.options.pixl"),
    ({"networks": {"net_g": {"type": "srresnett"}}}, "networks.net_g.type"),
    ({"networks": {"net_g": {"type": "srresnet", "num_feat": "eight"}}}, "networks.net_g.num_feat"),
])
def test_model_config_errors_name_the_file_and_key(cli, tmp_path, change, key):
    config = tmp_path / "model.yaml"
    config.write_text(yaml.safe_dump({**MODEL, **change}))
    one_line_error(cli("train", "--config", config, "--data", tmp_path / "data", "--out", tmp_path / "run"),
                   "model.yaml", key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.yaml"]


def test_prepare_into_an_unwritable_folder(cli_unprivileged, tmp_path, error_line):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        for out in (locked / "x2", locked / "sub" / "x2"):
            error_line(cli_unprivileged("prepare", "--config", write_config(tmp_path, "builtin:mni152"),
                                        "--scale", 2, "--out", out), out, "not writable")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_unreadable_scan_is_reported_as_unreadable(cli_unprivileged, tmp_path, error_line):
    volume = Volume(np.random.default_rng(0).random((12, 12, 3)).astype(np.float32), np.eye(4), "t")
    save_nifti(volume, tmp_path / "scan.nii.gz")
    (tmp_path / "scan").write_bytes((tmp_path / "scan.nii.gz").read_bytes())  # no extension
    (tmp_path / "series").mkdir()
    for path in (tmp_path / "scan.nii.gz", tmp_path / "scan", tmp_path / "series"):
        path.chmod(0)
        try:
            error_line(cli_unprivileged("info", path), path, "cannot read", "permission denied")
        finally:
            path.chmod(0o700)


def test_corrupt_jpeg2000_frame_is_one_line_without_library_tracebacks(cli_unprivileged, tmp_path, error_line):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, generate_fragmented_frames

    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    frame = b"".join(next(generate_fragmented_frames(ds.PixelData)))
    ds.PixelData = encapsulate([frame[:300]])
    ds.save_as(tmp_path / "cut.dcm")
    error_line(cli_unprivileged("info", tmp_path / "cut.dcm"), "cut.dcm", "cannot read pixel data")


def test_prepare_fails_when_no_training_slice_is_left(cli, tmp_path):
    data = np.zeros((40, 40, 20), dtype=np.float32)
    data[:, :, 9:12] = np.random.default_rng(0).uniform(0.5, 1.0, (40, 40, 3))  # 3 slices of foreground
    save_nifti(Volume(data, np.eye(4), "t"), tmp_path / "thin.nii.gz")
    err = prepare_fails(cli, tmp_path, tmp_path / "thin.nii.gz", "no train slice left", hr_patch_size=16)
    assert "data.min_foreground 0.15 kept 3 slices" in err


def test_interpolate_refuses_to_write_onto_an_input(cli, tmp_path):
    import torch

    from mri_sr.nets import build_network

    for name in ("psnr.pt", "gan.pt"):
        torch.save(build_network({"type": "srresnet", "num_feat": 4, "num_block": 1}).state_dict(), tmp_path / name)
    before = snapshot(tmp_path)
    for out in ("psnr.pt", "gan.pt"):
        one_line_error(cli("interpolate", "--alpha", 0.5, tmp_path / "psnr.pt", tmp_path / "gan.pt", tmp_path / out),
                       out, "is the input")
    assert snapshot(tmp_path) == before
