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
    nifti(tmp_path / "bad.nii.gz", data, np.eye(4))
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


# ------------------------------------------------------------------ issue 25: odd headers, damaged inputs

def nifti(path, data, affine=None, **header):
    """Write ``data`` with nibabel as it is (any dtype), the header fields set as given."""
    import nibabel as nib

    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine)
    for key, value in header.items():
        img.header[key] = value
    nib.save(img, path)
    return path


def test_complex_nifti_is_read_as_its_magnitude(cli, tmp_path):
    rng = np.random.default_rng(0)
    real, imag = rng.normal(size=(2, 12, 12, 4)).astype(np.float32)
    nifti(tmp_path / "c.nii.gz", (real + 1j * imag).astype(np.complex64))
    from mri_sr.io import load_volume

    np.testing.assert_allclose(load_volume(tmp_path / "c.nii.gz").data, np.hypot(real, imag), rtol=1e-6)
    code, _, err = cli("upscale", tmp_path / "c.nii.gz", tmp_path / "out.nii.gz", "--method", "bicubic")
    assert code == 0, err
    import nibabel as nib

    # The magnitude was upscaled: bicubic of |z| stays near it, far from bicubic of Re z (negative values).
    assert nib.load(tmp_path / "out.nii.gz").get_fdata().min() > -0.5


@pytest.mark.parametrize("text", ["", "# only a comment\n\n", "   \n"])
def test_empty_config_is_an_error_naming_the_file(cli, tmp_path, error_line, text):
    (tmp_path / "empty.yaml").write_text(text)
    error_line(cli("prepare", "--config", tmp_path / "empty.yaml", "--scale", 2, "--out", tmp_path / "out"),
               "empty.yaml", "empty")
    assert not (tmp_path / "out").exists()


def test_percentiles_out_of_order_are_refused(cli, tmp_path, error_line):
    path = write_config(tmp_path, "builtin:mni152", normalisation={"low_percentile": 99.5, "high_percentile": 0.5})
    error_line(cli("prepare", "--config", path, "--scale", 2, "--out", tmp_path / "out"),
               "config.yaml", "low_percentile", "below")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage,words", [("zero", "voxel size of 0"), ("nan", "NaN")])
def test_degenerate_nifti_affine_is_refused_at_load(cli, tmp_path, error_line, damage, words):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:, 1] = 0.0 if damage == "zero" else np.nan
    path = tmp_path / "bad.nii"
    import nibabel as nib

    img = nib.Nifti1Image(np.ones((8, 8, 4), np.float32), None)
    img.header.set_sform(affine, code=1)
    nib.save(img, path)
    error_line(cli("upscale", path, tmp_path / "out.nii", "--method", "bicubic"), "bad.nii", words)
    error_line(cli("info", path, "--json"), "bad.nii", words)
    assert not (tmp_path / "out.nii").exists()


def test_fastmri_zero_field_of_view_and_group_key(cli, tmp_path, error_line):
    import h5py

    header = ("<ismrmrdHeader><encoding><reconSpace><matrixSize><x>8</x><y>8</y><z>1</z></matrixSize>"
              "<fieldOfView_mm><x>0</x><y>200</y><z>5</z></fieldOfView_mm></reconSpace></encoding></ismrmrdHeader>")
    with h5py.File(tmp_path / "zero.h5", "w") as f:
        f["reconstruction_rss"] = np.ones((4, 8, 8), np.float32)
        f["ismrmrd_header"] = header
    error_line(cli("info", tmp_path / "zero.h5", "--json"), "zero.h5", "voxel size of 0")
    with h5py.File(tmp_path / "group.h5", "w") as f:
        f.create_group("reconstruction_rss")
    error_line(cli("info", tmp_path / "group.h5"), "group.h5", "group")


def test_header_declaring_more_voxels_than_the_file_holds(cli, tmp_path, error_line):
    for name in ("big.nii", "big.nii.gz"):
        path = nifti(tmp_path / name, np.ones((8, 8, 8), np.float32))
        import nibabel as nib

        img = nib.load(path)
        img.header.set_data_shape((4000, 4000, 4000))
        raw = bytearray(gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes())
        raw[:348] = img.header.binaryblock
        path.write_bytes(gzip.compress(bytes(raw)) if name.endswith(".gz") else bytes(raw))
        error_line(cli("info", path), name, "shorter than its header says")


def test_rgb_nifti_and_symbolic_link_loop(cli, tmp_path, error_line):
    rgb = np.zeros((8, 8, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nifti(tmp_path / "rgb.nii", rgb)
    error_line(cli("upscale", tmp_path / "rgb.nii", tmp_path / "out.nii", "--method", "bicubic"), "rgb.nii", "RGB")
    os.symlink(tmp_path / "b.nii", tmp_path / "a.nii")
    os.symlink(tmp_path / "a.nii", tmp_path / "b.nii")
    error_line(cli("upscale", tmp_path / "a.nii", tmp_path / "out.nii", "--method", "bicubic"), "a.nii", "loop")
    assert not (tmp_path / "out.nii").exists()


def test_truncated_dicom_file_in_a_series_is_named(cli, tmp_path, error_line, dicom_writer, mni_crop):
    stored, affine = mni_crop
    files = dicom_writer.write_series(tmp_path / "series", stored, affine)
    raw = files[7].read_bytes()
    files[7].write_bytes(raw[:300])  # the preamble and a few header elements
    error_line(cli("info", tmp_path / "series"), files[7].name, "unreadable DICOM file")


def test_upper_case_extensions_for_input_and_output(cli, tmp_path):
    nifti(tmp_path / "IN.NII.GZ", np.random.default_rng(0).random((8, 8, 4)).astype(np.float32))
    code, _, err = cli("upscale", tmp_path / "IN.NII.GZ", tmp_path / "OUT.NII.GZ", "--method", "bicubic")
    assert code == 0, err
    assert gzip.decompress((tmp_path / "OUT.NII.GZ").read_bytes())[344:348] == b"n+1\0"


# ------------------------------------------------------------------ full disk (a small tmpfs, real subprocesses)

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib)`` -> a folder on a fresh tmpfs of that size (root only; skipped otherwise)."""
    import subprocess

    mounts = []

    def mount(kib: int):
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        point = tmp_path / f"disk{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(folder):
    """Fill ``folder``'s file system to the last byte."""
    with open(folder / "filler", "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                continue


def run_cli(*args):
    """``mri-sr ARGS`` in a subprocess; (exit code, stdout, stderr without progress-bar lines)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mri_sr.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    err = "\n".join(line for line in done.stderr.splitlines() if line.strip() and "|" not in line)
    return done.returncode, done.stdout, err + "\n"


def test_full_disk_during_upscale_and_prepare(tmp_path, small_disk, error_line):
    nifti(tmp_path / "scan.nii", np.random.default_rng(0).random((64, 64, 12)).astype(np.float32))
    disk = small_disk(256)  # the x4 output needs about 790 KB
    error_line(run_cli("upscale", tmp_path / "scan.nii", disk / "out.nii", "--method", "bicubic", "--scale", 4),
               str(disk), "no space left on device")
    assert list(disk.iterdir()) == []
    path = write_config(tmp_path, "builtin:mni152", hr_patch_size=32)
    error_line(run_cli("prepare", "--config", path, "--scale", 2, "--out", disk / "x2"),
               str(disk), "no space left on device")
    assert list(disk.iterdir()) == []


def test_full_disk_while_training_keeps_last_pt_resumable(tmp_path, small_disk, error_line):
    template = __import__("mri_sr.io", fromlist=["load_volume"]).load_volume("builtin:mni152")
    save_nifti(Volume(template.data[66:130, 70:150, 60:100], template.affine, "crop"), tmp_path / "crop.nii.gz")
    config = write_config(tmp_path, tmp_path / "crop.nii.gz", hr_patch_size=32, min_foreground=0.05,
                          split={"slab_gap": 1})
    assert run_cli("prepare", "--config", config, "--scale", 2, "--out", tmp_path / "x2")[0] == 0
    model = {"model": "micro", "method": "psnr", "networks": {"net_g": {"type": "srresnet", "num_feat": 8,
                                                                        "num_block": 1}},
             "train": {"iterations": 2, "batch_size": 2, "lr_patch_size": 16, "learning_rate": 1e-3,
                       "num_workers": 0},
             "losses": {"weights": {"pixel": 1.0}}, "validation": {"every": 2, "max_slices": 2},
             "log_every": 1, "checkpoint_every": 2}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    disk = small_disk(4096)
    run = disk / "run"
    code, _, err = run_cli("train", "--config", tmp_path / "model.yaml", "--data", tmp_path / "x2", "--out", run,
                           "--device", "cpu")
    assert code == 0, err
    before = (run / "last.pt").read_bytes()
    model["train"]["iterations"] = 4
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    fill(disk)
    error_line(run_cli("train", "--config", tmp_path / "model.yaml", "--data", tmp_path / "x2", "--out", run,
                       "--device", "cpu"), "no space left on device")
    assert (run / "last.pt").read_bytes() == before
    assert not [p for p in run.iterdir() if ".mri-sr-tmp-" in p.name]
    (disk / "filler").unlink()
    code, _, err = run_cli("train", "--config", tmp_path / "model.yaml", "--data", tmp_path / "x2", "--out", run,
                           "--device", "cpu")
    assert code == 0 and "resuming" in err, err


# ------------------------------------------------------------------ damaged prepared folders and runs

MICRO_MODEL = {"model": "micro", "method": "psnr",
               "networks": {"net_g": {"type": "srresnet", "num_feat": 8, "num_block": 1}},
               "train": {"iterations": 2, "batch_size": 2, "lr_patch_size": 16, "learning_rate": 1e-3,
                         "num_workers": 0},
               "losses": {"weights": {"pixel": 1.0}}, "validation": {"every": 2, "max_slices": 2},
               "log_every": 1, "checkpoint_every": 2}


@pytest.fixture(scope="module")
def prepared_x2(tmp_path_factory):
    """x2 slices (HR 64x80, LR 32x40) of a crop of the MNI template, prepared by the CLI."""
    from mri_sr.cli import main
    from mri_sr.io import load_volume

    root = tmp_path_factory.mktemp("prepared")
    template = load_volume("builtin:mni152")
    save_nifti(Volume(template.data[66:130, 70:150, 60:100], template.affine, "crop"), root / "crop.nii.gz")
    config = write_config(root, root / "crop.nii.gz", hr_patch_size=32, min_foreground=0.05, split={"slab_gap": 1})
    assert main(["prepare", "--config", str(config), "--scale", "2", "--out", str(root / "x2")]) == 0
    return root / "x2"


def damaged_copy(prepared, tmp_path, damage):
    import shutil

    folder = tmp_path / "x2"
    shutil.copytree(prepared, folder)
    manifest = folder / "manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)
    if damage == "cut shard":
        for shard in (folder / "shards").glob("*-lr.npy"):
            shard.write_bytes(shard.read_bytes()[:-1000])
    elif damage == "row out of range":
        column = lines[0].rstrip("\n").split(",").index("row")
        rows = [line.rstrip("\n").split(",") for line in lines[1:]]
        manifest.write_text(lines[0] + "".join(",".join(r[:column] + ["9999"] + r[column + 1:]) + "\n" for r in rows))
    elif damage == "missing column":
        header = lines[0].rstrip("\n").split(",")
        keep = [i for i, name in enumerate(header) if name != "shard"]
        manifest.write_text("".join(",".join(line.rstrip("\n").split(",")[i] for i in keep) + "\n" for line in lines))
    elif damage == "binary manifest":
        manifest.write_bytes(bytes(range(256)) * 8)
    elif damage == "cut manifest":
        text = manifest.read_text()
        manifest.write_text(text[: len(text) // 2])
    elif damage == "manifest of another scale":
        column = lines[0].rstrip("\n").split(",").index("scale")
        rows = [line.rstrip("\n").split(",") for line in lines[1:]]
        manifest.write_text(lines[0] + "".join(",".join(r[:column] + ["4"] + r[column + 1:]) + "\n" for r in rows))
    elif damage == "shards of another scale":  # LR slices of x4 beside the x2 HR slices
        for shard in (folder / "shards").glob("*-lr.npy"):
            np.save(shard, np.ascontiguousarray(np.load(shard)[:, ::2, ::2]))
    return folder


@pytest.mark.parametrize("damage", ["cut shard", "row out of range", "missing column", "binary manifest",
                                    "cut manifest", "manifest of another scale", "shards of another scale"])
def test_damaged_prepared_folder_is_one_line(cli, tmp_path, prepared_x2, error_line, damage):
    folder = damaged_copy(prepared_x2, tmp_path, damage)
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(MICRO_MODEL))
    error_line(cli("train", "--config", tmp_path / "model.yaml", "--data", folder, "--out", tmp_path / "run",
                   "--device", "cpu"), str(folder), "damaged", "prepare it again")
    assert not (tmp_path / "run").exists()
    error_line(cli("evaluate", "--dataset", folder, "--method", "bicubic", "--scale", 2, "--out",
                   tmp_path / "m.json"), str(folder), "damaged", "prepare it again")


def test_patch_larger_than_the_slices_is_refused_before_any_run_folder(cli, tmp_path, prepared_x2, error_line):
    model = {**MICRO_MODEL, "train": {**MICRO_MODEL["train"], "lr_patch_size": 48}}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    error_line(cli("train", "--config", tmp_path / "model.yaml", "--data", prepared_x2, "--out", tmp_path / "run",
                   "--device", "cpu"), str(prepared_x2), "lr_patch_size 48")
    assert not (tmp_path / "run").exists()


def test_resuming_with_other_synthetic_anatomy_is_refused(cli, tmp_path, prepared_x2, error_line):
    """A run resumed with other training data (here synthetic anatomy turned on) would be another model."""
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(MICRO_MODEL))
    args = ("train", "--config", tmp_path / "model.yaml", "--data", prepared_x2, "--out", tmp_path / "run",
            "--device", "cpu")
    assert cli(*args)[0] == 0
    before = (tmp_path / "run" / "last.pt").read_bytes()
    model = {**MICRO_MODEL, "train": {**MICRO_MODEL["train"], "iterations": MICRO_MODEL["train"]["iterations"] + 2,
                                      "synthetic_anatomy": {"share": 0.5}}}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    error_line(cli(*args), "last.pt", "cannot resume", "train.synthetic_anatomy None -> {'share': 0.5}", "start afresh")
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_truncated_last_pt_says_how_to_go_on(cli, tmp_path, prepared_x2, error_line):
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(MICRO_MODEL))
    args = ("train", "--config", tmp_path / "model.yaml", "--data", prepared_x2, "--out", tmp_path / "run",
            "--device", "cpu")
    assert cli(*args)[0] == 0
    last = tmp_path / "run" / "last.pt"
    last.write_bytes(last.read_bytes()[:2000])
    error_line(cli(*args), "last.pt", "cannot resume", "start afresh", "--out")


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 1, 1, 3, 2)])
def test_2d_or_6d_nifti_is_one_line(cli, tmp_path, error_line, shape):
    nifti(tmp_path / "odd.nii", np.ones(shape, np.float32))
    error_line(cli("upscale", tmp_path / "odd.nii", tmp_path / "out.nii", "--method", "bicubic"), "odd.nii", "3D or 4D")


def test_zero_voxel_size_without_sform_is_refused(cli, tmp_path, error_line):
    import nibabel as nib

    img = nib.Nifti1Image(np.ones((8, 8, 4), np.float32), None)
    img.header["qform_code"], img.header["sform_code"] = 0, 0
    img.header["pixdim"][1:4] = [0.0, 1.0, 1.0]
    nib.save(img, tmp_path / "zero.nii")
    error_line(cli("info", tmp_path / "zero.nii", "--json"), "zero.nii", "voxel size (pixdim)")


def test_negative_dimension_in_the_header_is_one_line(cli, tmp_path, error_line):
    path = nifti(tmp_path / "neg.nii", np.ones((10, 8, 4), np.float32))
    raw = bytearray(path.read_bytes())
    raw[42:44] = (-5).to_bytes(2, "little", signed=True)  # dim[1]
    path.write_bytes(bytes(raw))
    error_line(cli("info", path), "neg.nii", "shape (-5, 8, 4)")


@pytest.mark.parametrize("damage", ["binary", "another scale"])
def test_damaged_prepare_json_is_one_line(cli, tmp_path, prepared_x2, error_line, damage):
    import json
    import shutil

    folder = tmp_path / "x2"
    shutil.copytree(prepared_x2, folder)
    if damage == "binary":
        (folder / "prepare.json").write_bytes(bytes(range(256)))
    else:
        prepared = json.loads((folder / "prepare.json").read_text())
        (folder / "prepare.json").write_text(json.dumps({**prepared, "scale": 4}))
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(MICRO_MODEL))
    error_line(cli("train", "--config", tmp_path / "model.yaml", "--data", folder, "--out", tmp_path / "run",
                   "--device", "cpu"), str(folder), "damaged", "prepare it again")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ issue 25 again: outputs onto inputs, outputs under a file

def test_no_command_writes_onto_or_into_its_inputs(cli, tmp_path, prepared_x2, error_line):
    """evaluate, report, features, train and throughplane refuse outputs that are an input or lie
    inside an input folder, before any work; every file stays byte-identical."""
    import shutil

    data = tmp_path / "x2"
    shutil.copytree(prepared_x2, data)
    scan = nifti(tmp_path / "scan.nii", np.random.default_rng(0).random((12, 10, 4)).astype(np.float32))
    (tmp_path / "g.pt").write_bytes(b"weights")
    (tmp_path / "m.json").write_text('{"method": "bicubic"}')
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(MICRO_MODEL))
    before = snapshot(tmp_path)
    evaluate = ("evaluate", "--dataset", data, "--scale", 2)
    error_line(cli(*evaluate, "--method", "bicubic", "--out", data / "manifest.csv"), "manifest.csv", "inside the input")
    error_line(cli(*evaluate, "--method", tmp_path / "g.pt", "--out", tmp_path / "g.pt"), "g.pt", "is the input")
    error_line(cli(*evaluate, "--method", "bicubic", "--out", tmp_path / "e.json", "--images", data / "shards"),
               "shards", "inside the input")
    error_line(cli("report", "--metrics", tmp_path / "m.json", "--out", tmp_path / "m.json"), "m.json", "is the input")
    error_line(cli("features", "--data", data, "--out", data / "manifest.csv", "--iterations", 1),
               "manifest.csv", "inside the input")
    for run in (data, data / "run"):
        error_line(cli("train", "--config", tmp_path / "model.yaml", "--data", data, "--out", run, "--device", "cpu"),
                   run, "input")
    error_line(cli("throughplane", scan, tmp_path / "tp.nii", "--save-model", scan, "--iterations", 1, "--scale", 2),
               "scan.nii", "is the input")
    error_line(cli("throughplane", scan, tmp_path / "tp.nii", "--save-model", tmp_path / "tp.nii", "--iterations", 1,
                   "--scale", 2), "--save-model", "is an output")
    assert snapshot(tmp_path) == before


def test_an_output_under_a_file_names_that_file(cli, tmp_path, prepared_x2, error_line):
    scan = nifti(tmp_path / "scan.nii", np.random.default_rng(0).random((12, 10, 4)).astype(np.float32))
    (tmp_path / "m.json").write_text('{"method": "bicubic"}')
    before = snapshot(tmp_path)
    under = tmp_path / "scan.nii" / "sub"
    for result in (cli("upscale", scan, under / "o.nii", "--method", "bicubic"),
                   cli("evaluate", "--dataset", prepared_x2, "--scale", 2, "--method", "bicubic", "--out",
                       under / "m.json"),
                   cli("report", "--metrics", tmp_path / "m.json", "--out", under / "r.html"),
                   cli("interpolate", "--alpha", 0.5, scan, scan, under / "i.pt"),
                   cli("throughplane", scan, tmp_path / "tp.nii", "--save-model", under / "s.pt", "--iterations", 1,
                       "--scale", 2)):
        error_line(result, under, f"({scan} is not a folder)")
    error_line(cli("evaluate", "--dataset", prepared_x2, "--scale", 2, "--method", "bicubic", "--out",
                   tmp_path / "e.json", "--images", scan), scan, "--images")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ issue 25 again: values, offsets, library messages

def test_values_beyond_float32_are_one_line(cli, tmp_path, error_line):
    """Finite float64 values beyond float32's range would be read as infinities ("NaN or infinite")."""
    import h5py

    values = np.random.default_rng(0).uniform(1, 2, (8, 8, 4)) * 1e300
    nifti(tmp_path / "big.nii", values)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        f["reconstruction_rss"] = values.transpose(2, 1, 0)
    for name in ("big.nii", "big.h5"):
        error_line(cli("info", tmp_path / name), name, "256 voxel values", "beyond the float32 range")


def test_an_output_beyond_float32_is_not_written(tmp_path, error_line):
    """Bicubic overshoot of values near float32's largest would be written as infinities."""
    data = np.random.default_rng(0).random((16, 16, 5)).astype(np.float32) * np.float32(3.3e38)
    nifti(tmp_path / "near.nii", data)
    error_line(run_cli("upscale", tmp_path / "near.nii", tmp_path / "out.nii", "--method", "bicubic"),
               "out.nii", "NaN or infinite voxels", "nothing written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["near.nii"]


def test_a_data_offset_beyond_the_file_is_named(cli, tmp_path, error_line):
    path = nifti(tmp_path / "offset.nii", np.ones((12, 10, 5), np.float32))
    raw = bytearray(path.read_bytes())
    raw[108:112] = np.float32(1e6).tobytes()  # vox_offset
    path.write_bytes(bytes(raw))
    error_line(cli("info", path), "offset.nii", "shorter than its header says", "needs 1002400 bytes")


def test_nibabel_messages_are_not_extra_lines(tmp_path, error_line):
    """nibabel prints its messages with a handler of its own and again through logging; an error is
    one line and a warning one log line naming the file (real subprocesses: nibabel's handler
    writes to the process's stderr)."""
    path = nifti(tmp_path / "offset.nii", np.ones((12, 10, 5), np.float32))
    raw = bytearray(path.read_bytes())
    raw[108:112] = np.float32(200).tobytes()  # vox_offset inside the header
    path.write_bytes(bytes(raw))
    code, _, err = run_cli("info", path)
    assert err.strip().splitlines() == [err.strip()] and "offset.nii" in err and "vox offset 200" in err, err
    import nibabel as nib

    img = nib.Nifti1Image(np.ones((12, 10, 5), np.float32), None)
    img.header.set_sform(np.diag([1.2, 1.2, 3.0, 1.0]), code=1)
    img.header.set_qform(np.diag([1.2, 1.2, 3.0, 1.0]), code=1)
    img.header["pixdim"][1] = 0.0
    nib.save(img, tmp_path / "zoom.nii")
    code, out, err = run_cli("info", tmp_path / "zoom.nii")
    assert code == 0 and "1.2 x 1.2 x 3 mm" in out, err
    lines = err.strip().splitlines()
    assert lines and all(line.startswith("WARNING mri_sr.io.nifti: ") and "zoom.nii" in line for line in lines), err
    assert len(lines) == len(set(lines))


@pytest.mark.parametrize("header,words", [
    ("<ismrmrdHeader><encoding>", "unreadable ismrmrd_header"),
    ("<ismrmrdHeader><encoding><reconSpace><matrixSize><x>8</x><y>8</y><z>1</z></matrixSize><fieldOfView_mm>"
     "<x>-200</x><y>200</y><z>5</z></fieldOfView_mm></reconSpace></encoding></ismrmrdHeader>", "positive number"),
    ("<ismrmrdHeader><encoding><reconSpace><matrixSize><x>0</x><y>8</y><z>1</z></matrixSize><fieldOfView_mm>"
     "<x>200</x><y>200</y><z>5</z></fieldOfView_mm></reconSpace></encoding></ismrmrdHeader>", "positive number"),
])
def test_fastmri_header_without_a_voxel_size_is_one_line(cli, tmp_path, error_line, header, words):
    """A damaged header was read as 1 mm voxels, a negative field of view as a flipped axis."""
    import h5py

    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["reconstruction_rss"] = np.ones((4, 8, 8), np.float32)
        f["ismrmrd_header"] = header
    error_line(cli("info", tmp_path / "scan.h5"), "scan.h5", words)


def test_fastmri_without_an_image(cli, tmp_path, error_line):
    import h5py

    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["reconstruction_rss"] = np.zeros((0, 8, 8), np.float32)
    error_line(cli("upscale", tmp_path / "empty.h5", tmp_path / "out.nii", "--method", "bicubic"),
               "empty.h5", "holds no voxels")
    assert not (tmp_path / "out.nii").exists()
    with h5py.File(tmp_path / "raw.h5", "w") as f:
        f["kspace"] = np.zeros((0, 640, 368), np.complex64)
    error_line(cli("info", tmp_path / "raw.h5"), "raw.h5", "it holds: kspace", "reconstruct")
    with h5py.File(tmp_path / "text.h5", "w") as f:
        f["reconstruction_rss"] = np.array([b"abc"] * 4)
    error_line(cli("info", tmp_path / "text.h5"), "text.h5", "not image intensities")


def test_complex_fastmri_reconstruction_is_read_as_its_magnitude(cli, tmp_path):
    import h5py

    rng = np.random.default_rng(0)
    values = (rng.normal(size=(4, 8, 8)) + 1j * rng.normal(size=(4, 8, 8))).astype(np.complex64)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["reconstruction_rss"] = values
    from mri_sr.io import load_volume

    np.testing.assert_allclose(load_volume(tmp_path / "c.h5").data, np.abs(values).transpose(2, 1, 0), rtol=1e-6)


def test_a_through_plane_generator_is_refused_by_upscale_and_evaluate(cli, tmp_path, prepared_x2, error_line):
    """It upscales image rows only: upscale stopped with a tensor-size traceback, evaluate with an
    unclear size mismatch."""
    scan = nifti(tmp_path / "thick.nii", np.random.default_rng(0).random((12, 10, 5)).astype(np.float32) + 1,
                 np.diag([1.2, 1.2, 2.4, 1.0]))
    code, _, err = cli("throughplane", scan, tmp_path / "tp.nii", "--iterations", 1, "--save-model",
                       tmp_path / "tp.pt", "--device", "cpu")
    assert code == 0, err
    error_line(cli("upscale", scan, tmp_path / "out.nii", "--checkpoint", tmp_path / "tp.pt", "--device", "cpu"),
               "tp.pt", "through-plane generator", "throughplane --init")
    error_line(cli("evaluate", "--method", tmp_path / "tp.pt", "--dataset", prepared_x2, "--scale", 2, "--out",
                   tmp_path / "m.json", "--device", "cpu"), "tp.pt", "through-plane generator")
    assert not (tmp_path / "out.nii").exists() and not (tmp_path / "m.json").exists()


def test_a_source_volume_out_of_range_names_the_config_key(cli, tmp_path):
    nifti(tmp_path / "bold.nii.gz", np.random.default_rng(0).random((40, 40, 40, 2)).astype(np.float32))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data": {"sources": [{"path": str(tmp_path / "bold.nii.gz"), "volume": 7}],
                                             "hr_patch_size": 16}}))
    code, _, err = cli("prepare", "--config", path, "--scale", 2, "--out", tmp_path / "out")
    assert code == 1 and "bold.nii.gz: data.sources volume: 7 is out of range (scan has 2 volumes)" in err, err
    assert "--volume" not in err and not (tmp_path / "out").exists()


def test_a_sidecar_path_that_is_a_folder_is_refused_before_the_work(cli, tmp_path, error_line):
    """The NIfTI was written and then the sidecar failed, naming a temporary file."""
    scan = nifti(tmp_path / "scan.nii", np.random.default_rng(0).random((12, 10, 4)).astype(np.float32) + 1,
                 np.diag([1.2, 1.2, 2.4, 1.0]))
    (tmp_path / "out" / "sr.json").mkdir(parents=True)
    error_line(cli("upscale", scan, tmp_path / "out" / "sr.nii", "--method", "bicubic"), "sr.json", "is a folder")
    error_line(cli("throughplane", scan, tmp_path / "out" / "sr.nii", "--iterations", 1, "--device", "cpu"),
               "sr.json", "is a folder")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["sr.json"]


def test_a_compression_that_does_not_match_the_name_says_which(cli, tmp_path, error_line):
    path = nifti(tmp_path / "scan.nii.gz", np.ones((8, 8, 4), np.float32))
    (tmp_path / "packed.nii").write_bytes(path.read_bytes())
    (tmp_path / "plain.nii.gz").write_bytes(gzip.decompress(path.read_bytes()))
    error_line(cli("info", tmp_path / "packed.nii"), "packed.nii", "gzip-compressed; name it .nii.gz")
    error_line(cli("info", tmp_path / "plain.nii.gz"), "plain.nii.gz", "not gzip-compressed; name it .nii")


@pytest.mark.parametrize("key,value", [("scale", 4), ("in_channels", 3)])
def test_a_network_key_that_disagrees_with_the_data_is_one_line(cli, tmp_path, prepared_x2, error_line, key, value):
    """scale and in_channels come from the prepared folder; a config setting another value stopped
    with a tensor-shape traceback in the first step."""
    model = {**MICRO_MODEL, "networks": {"net_g": {**MICRO_MODEL["networks"]["net_g"], key: value}}}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    error_line(cli("train", "--config", tmp_path / "model.yaml", "--data", prepared_x2, "--out", tmp_path / "run",
                   "--device", "cpu"), f"networks.net_g.{key} is {value}", "leave the key out")
    assert not (tmp_path / "run").exists()


def test_init_from_another_network_names_what_differs(cli, tmp_path, prepared_x2, error_line):
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(MICRO_MODEL))
    assert cli("train", "--config", tmp_path / "model.yaml", "--data", prepared_x2, "--out", tmp_path / "pre",
               "--device", "cpu")[0] == 0
    narrow = {**MICRO_MODEL, "networks": {"net_g": {**MICRO_MODEL["networks"]["net_g"], "num_feat": 4}}}
    (tmp_path / "narrow.yaml").write_text(yaml.safe_dump(narrow))
    line = error_line(cli("train", "--config", tmp_path / "narrow.yaml", "--data", prepared_x2, "--out",
                          tmp_path / "run", "--init", tmp_path / "pre" / "final.pt", "--device", "cpu"),
                      "--init", "final.pt", "num_feat 8 (this run: 4)")
    assert "{" not in line and not (tmp_path / "run").exists()


def test_one_scan_under_two_subjects_is_refused(cli, tmp_path, error_line):
    """Three 'subjects' that are one scan (listed twice, and a copy) were split by subject: the same
    slices in train, val and test."""
    import shutil

    template = __import__("mri_sr.io", fromlist=["load_volume"]).load_volume("builtin:mni152")
    save_nifti(Volume(template.data[66:130, 70:150, 60:100], template.affine, "crop"), tmp_path / "scan.nii.gz")
    shutil.copy(tmp_path / "scan.nii.gz", tmp_path / "copy.nii.gz")
    other = np.ascontiguousarray(template.data[66:130, 70:150, 100:140])
    save_nifti(Volume(other, template.affine, "another crop"), tmp_path / "other.nii.gz")
    twice = [{"path": str(tmp_path / "scan.nii.gz"), "subject": "a"},
             {"path": str(tmp_path / "scan.nii.gz"), "subject": "b"}, {"path": str(tmp_path / "other.nii.gz")}]
    copied = [{"path": str(tmp_path / name)} for name in ("scan.nii.gz", "other.nii.gz", "copy.nii.gz")]
    for sources, named in ((twice, "subject b"), (copied, "copy.nii.gz: the same scan as")):
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"data": {
            "sources": sources, "hr_patch_size": 32, "min_foreground": 0.05}}))
        error_line(cli("prepare", "--config", tmp_path / "config.yaml", "--scale", 2, "--out", tmp_path / "out"),
                   named, "scan.nii.gz", "give it once")
        assert not (tmp_path / "out").exists()
